"""IceProd 3's dataset routes and files (SEMANTICS-ICEPROD3 §4 Dataset routes, Files; §6)."""

import pytest

from tests.protocol3.helpers import make, stored


def test_dataset_listing_with_its_filters_and_keys(api):
    a = make(api, name="bar", job_id="j1")
    b = make(api, job_index=1, name="baz", job_id="j2", status="waiting")
    make(api, dataset_id="other")
    assert list(api.get("/datasets/d1/tasks").data) == [a, b]  # creation order
    assert list(api.get("/datasets/d1/tasks?status=waiting").data) == [b]
    assert list(api.get("/datasets/d1/tasks?name=bar|baz").data) == [a, b]
    assert list(api.get("/datasets/d1/tasks?name=baz").data) == [b]
    assert list(api.get("/datasets/d1/tasks?job_id=j1").data) == [a]
    assert list(api.get("/datasets/d1/tasks?job_index=0").data) == [a]
    assert api.get("/datasets/d1/tasks?keys=requirements.gpu&job_index=1").data == {b: {"task_id": b,
                                                                                      "requirements": {}}}
    assert api.get("/datasets/nothing/tasks").data == {}


@pytest.mark.parametrize(("query", "message"), [
    ("status=reset", "Unknown task status"), ("status=idle|blah", "Unknown task status"),
    ("job_index=x", 'Bad argument "job_index": must be integer'),
])
def test_dataset_listing_refusals(api, query, message):
    assert api.get(f"/datasets/d1/tasks?{query}").data == {"code": 400, "error": message}


def test_one_task_of_the_dataset(api):
    a = make(api)
    assert api.get(f"/datasets/d1/tasks/{a}").data["status"] == "idle"
    assert api.get(f"/datasets/d1/tasks/{a}?keys=job_id").data == {"task_id": a, "job_id": "j1"}
    assert api.get(f"/datasets/other/tasks/{a}").data == {"code": 404, "error": "Task not found"}


def test_summaries_counts_by_name_and_stats(api):
    a = make(api, name="bar")
    assert api.get("/datasets/d1/task_summaries/status").data == {"idle": [a]}
    assert api.get("/datasets/d1/task_stats").data == {}
    api.patch(f"/tasks/{a}", {"status": "processing"})
    assert api.put(f"/tasks/{a}/status", {"status": "complete"}).status_code == 200
    stats = api.get("/datasets/d1/task_stats").data["bar"]
    assert {"count", "total_hrs", "total_err_hrs", "avg_hrs", "stddev_hrs", "min_hrs", "max_hrs",
            "efficiency"} <= set(stats)


def test_dataset_bulk_status_clears_the_claim_without_checks(api):
    a = make(api, status="queued", instance_id="i")
    assert api.post("/datasets/d1/task_actions/bulk_status/failed", {"tasks": [a]}).data == {}
    assert (stored(api, a)["status"], stored(api, a)["instance_id"]) == ("failed", "")
    idle = make(api, job_index=1)
    assert api.post("/datasets/d1/task_actions/bulk_status/waiting", {"tasks": [a, idle]}).data == {}
    assert {stored(api, t)["status"] for t in (a, idle)} == {"waiting"}
    assert api.post("/datasets/d1/task_actions/bulk_status/blah", {"tasks": [a]}).data["error"] == "Bad status"
    assert api.post("/datasets/d1/task_actions/bulk_status/processing", {}).data["error"] == "Missing tasks in body"
    assert api.post("/datasets/d2/task_actions/bulk_status/idle", {"tasks": [a]}).data == {
        "code": 404, "error": "Tasks not found"}


@pytest.mark.parametrize("select", ["all", "jobs", "tasks"])
@pytest.mark.parametrize(("route", "start", "end"), [
    ("bulk_suspend", "idle", "suspended"),
    ("bulk_reset", "waiting", "idle"),
    ("bulk_hard_reset", "complete", "idle"),
])
def test_bulk_actions_select_the_dataset_a_job_list_or_a_task_list(api, select, route, start, end):
    t1 = make(api, job_id="foo1", status=start, instance_id="i")
    t2 = make(api, job_id="foo2", job_index=1, status=start)
    body = {"all": {}, "jobs": {"jobs": ["foo1"]}, "tasks": {"tasks": [t1]}}[select]
    assert api.post(f"/datasets/d1/task_actions/{route}", body).data == {}
    assert stored(api, t1)["status"] == end and stored(api, t1)["instance_id"] == ""
    assert stored(api, t2)["status"] == (end if select == "all" else start)


def test_bulk_reset_leaves_complete_and_hard_reset_zeroes_failures_and_site(api):
    done = make(api, status="complete")
    api.patch(f"/tasks/{done}", {"failures": 3, "site": "S", "requirements": {"memory": 9.0}})
    assert api.post("/datasets/d1/task_actions/bulk_reset", {}).data == {}
    assert stored(api, done)["status"] == "complete"
    assert api.post("/datasets/d1/task_actions/bulk_hard_reset", {}).data == {}
    task = stored(api, done)
    assert (task["status"], task["failures"], task["site"], task["requirements"]) == ("idle", 0, "", {"memory": 9.0})


def test_bulk_actions_never_404_and_empty_lists_select_nothing(api):
    a = make(api)
    assert api.post("/datasets/nothing/task_actions/bulk_suspend", {}).data == {}
    assert api.post("/datasets/d1/task_actions/bulk_suspend", {"jobs": []}).data == {}
    assert api.post("/datasets/d1/task_actions/bulk_suspend", {"tasks": []}).data == {}
    assert stored(api, a)["status"] == "idle"
    too_many = api.post("/datasets/d1/task_actions/bulk_suspend", {"jobs": ["x"] * 100_001})
    assert too_many.data == {"code": 400, "error": "Too many jobs specified (limit: 100k)"}


@pytest.mark.parametrize("body", [{}, {"jobs": ["foo"]}])
def test_a_bulk_selection_over_the_whole_dataset_is_bounded(api, monkeypatch, body):
    from chalicelib import config

    ids = [make(api, job_id="foo", job_index=i) for i in range(3)]
    monkeypatch.setattr(config, "DATASET_READ_MAX", 2)
    response = api.post("/datasets/d1/task_actions/bulk_suspend", body)
    assert response.status_code == 400 and "DATASET_READ_MAX" in response.data["error"]
    assert {stored(api, t)["status"] for t in ids} == {"idle"}  # refused before any write
    assert api.post("/datasets/d1/task_actions/bulk_suspend", {"tasks": ids[:1]}).data == {}  # a list is no read


def test_bulk_requirements_patch_overwrites_and_post_replaces(api):
    bar = make(api, name="bar")
    baz = make(api, job_index=1, name="baz", requirements={"gpu": 4, "os": ["foo", "bar"]})
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/bar", {"cpu": 2}).data == {}
    assert stored(api, bar)["requirements"] == {"cpu": 2} and "cpu" not in stored(api, baz)["requirements"]
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/bar", {"cpu": 1}).data == {}
    assert stored(api, bar)["requirements"] == {"cpu": 1}  # a PATCH may lower
    api.patch("/datasets/d1/task_actions/bulk_requirements/baz", {"os": ["foo", "bar"]})
    assert api.post("/datasets/d1/task_actions/bulk_requirements/baz",
                    {"cpu": 1, "memory": 2.5, "os": []}).data == {}
    assert stored(api, baz)["requirements"] == {"cpu": 1, "memory": 2.5}
    assert api.post("/datasets/d1/task_actions/bulk_requirements/baz", {"memory": 1.0}).data == {}
    assert stored(api, baz)["requirements"] == {"memory": 2.5}  # a POST raises, and removes the rest


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Missing body"), ({"blah": 4}, "Invalid resource types"),
    ({"memory": "ten"}, "Bad type for memory, should be float"),
    ({"gpu": 3.5}, "Bad type for gpu, should be int"), ({"os": "RHEL"}, "Bad type for os, should be list"),
])
def test_bulk_requirements_refusals(api, body, message):
    make(api, name="bar")
    for method in ("PATCH", "POST"):
        response = api.request(method, "/datasets/d1/task_actions/bulk_requirements/bar",
                               raw=__import__("json").dumps(body).encode())
        assert response.data == {"code": 400, "error": message}
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/blah", {"cpu": 2}).data == {
        "code": 404, "error": "Tasks not found"}


FILE = {"filename": "blah", "movement": "input"}


def test_files_as_iceprod3(api):
    a = make(api, name="bar", job_index=3)
    assert api.get("/datasets/d1/files").data == {"files": []}
    added = api.post("/datasets/d1/files", {**FILE, "job_index": 3, "task_name": "bar"})
    assert added.status_code == 201 and added.data == {"result": a}
    assert [f["remote"] for f in api.get(f"/datasets/d1/files/{a}").data["files"]] == ["blah"]
    assert api.post(f"/datasets/d1/files/{a}", FILE).status_code == 201
    assert len(api.get("/datasets/d1/files").data["files"]) == 2
    assert api.delete(f"/datasets/d1/files/{a}").data == {}
    assert api.get(f"/datasets/d1/files/{a}").data == {"files": []}


@pytest.mark.parametrize(("body", "message"), [
    ({"movement": "input", "job_index": 3, "task_name": "bar"}, "missing key: filename"),
    ({**FILE, "task_name": "bar"}, "missing key: job_index"),
    ({**FILE, "job_index": "3", "task_name": "bar"}, "key job_index should be of type <class 'int'>"),
    ({**FILE, "job_index": 3, "task_name": "bar", "local": 5}, "key local should be of type <class 'str'>"),
    ({**FILE, "job_index": 3, "task_name": "bar", "compression": 1}, "key compression should be of type <class 'str'>"),
    ({**FILE, "movement": "sideways", "job_index": 3, "task_name": "bar"}, "invalid file data"),
    ({**FILE, "job_index": 4, "task_name": "bar"}, "task referred to not found"),
])
def test_file_refusals(api, body, message):
    make(api, name="bar", job_index=3)
    assert api.post("/datasets/d1/files", body).data == {"code": 400, "error": message}
