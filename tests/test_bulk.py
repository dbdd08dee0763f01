"""Bulk routes: status of many tasks (global and per dataset), raise-only requirements."""

import pytest


def test_bulk_status_sets_status_on_listed_tasks(api, create):
    a, b, c = (create(job_index=i) for i in range(3))
    response = api.post("/task_actions/bulk_status/suspended", {"tasks": [a, b, "f" * 32, "odd"]})
    assert response.status_code == 200 and response.data == {}
    assert api.get(f"/tasks/{a}").data["status"] == "suspended"
    assert api.get(f"/tasks/{b}").data["status"] == "suspended"
    assert api.get(f"/tasks/{c}").data["status"] == "waiting"


def test_bulk_reset_clears_failures(api, create):
    a = create()
    api.patch(f"/tasks/{a}", {"failures": 2})
    api.post("/task_actions/bulk_status/reset", {"tasks": [a]})
    task = api.get(f"/tasks/{a}").data
    assert task["status"] == "reset" and task["failures"] == 0


@pytest.mark.parametrize("body", [{}, {"tasks": []}, {"tasks": "abc"}, {"tasks": [1]}, {"tasks": None}])
def test_bulk_status_bad_body_is_400(api, body):
    assert api.post("/task_actions/bulk_status/idle", body).status_code == 400


def test_bulk_status_unknown_status_is_400(api, create):
    a = create()
    assert api.post("/task_actions/bulk_status/running", {"tasks": [a]}).status_code == 400
    assert api.get(f"/tasks/{a}").data["status"] == "waiting"


def test_bulk_status_too_many_ids_is_400(api):
    ids = [f"{i:032x}" for i in range(100_001)]
    assert api.post("/task_actions/bulk_status/idle", {"tasks": ids}).status_code == 400


def test_bulk_status_none_matched_is_404(api):
    assert api.post("/task_actions/bulk_status/idle", {"tasks": ["a" * 32]}).status_code == 404


def test_dataset_bulk_status_only_touches_that_dataset(api, create):
    a = create()
    b = create(dataset_id="d2")
    response = api.post("/datasets/d1/task_actions/bulk_status/idle", {"tasks": [a, b]})
    assert response.status_code == 200
    assert api.get(f"/tasks/{a}").data["status"] == "idle"
    assert api.get(f"/tasks/{b}").data["status"] == "waiting"
    assert api.post("/datasets/d1/task_actions/bulk_status/idle", {"tasks": [b]}).status_code == 404


def test_bulk_status_many_tasks_in_parallel(api, create):
    ids = [create(job_index=i) for i in range(150)]
    assert api.post("/task_actions/bulk_status/idle", {"tasks": ids}).status_code == 200
    assert len(api.get("/tasks?status=idle&keys=task_id").data["tasks"]) == 150


def test_bulk_requirements_raise_only_and_replace_os_site(api, create):
    low = create(name="sim", job_index=0, requirements={"memory": 1.0, "cpu": 1, "os": ["A"]})
    high = create(name="sim", job_index=1, requirements={"memory": 8.0, "cpu": 4})
    other = create(name="simulate", job_index=0, requirements={"memory": 1.0})
    body = {"memory": 4.0, "cpu": 2, "gpu": 1, "os": ["RHEL_9"], "site": "WIPAC"}
    response = api.patch("/datasets/d1/task_actions/bulk_requirements/sim", body)
    assert response.status_code == 200 and response.data == {}
    assert api.get(f"/tasks/{low}").data["requirements"] == {"memory": 4.0, "cpu": 2, "gpu": 1, "os": ["RHEL_9"],
                                                             "site": "WIPAC"}
    assert api.get(f"/tasks/{high}").data["requirements"] == {"memory": 8.0, "cpu": 4, "gpu": 1, "os": ["RHEL_9"],
                                                              "site": "WIPAC"}
    assert api.get(f"/tasks/{other}").data["requirements"] == {"memory": 1.0}


def test_bulk_requirements_name_with_spaces_and_slash_prefix(api, create):
    a = create(name="step 1")
    create(name="step 1/extra")
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/step%201", {"cpu": 3}).status_code == 200
    assert api.get(f"/tasks/{a}").data["requirements"] == {"cpu": 3}


@pytest.mark.parametrize("body", [{}, {"ram": 1}, {"cpu": 1.5}, {"cpu": True}, {"gpu": "1"}, {"memory": "2"},
                                  {"os": "RHEL"}, {"os": [1]}, {"site": 3}])
def test_bulk_requirements_bad_body_is_400(api, create, body):
    a = create(name="sim")
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/sim", body).status_code == 400
    assert api.get(f"/tasks/{a}").data["requirements"] == {}


def test_bulk_requirements_unknown_name_is_404(api, create):
    create(name="sim")
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/nope", {"cpu": 2}).status_code == 404
