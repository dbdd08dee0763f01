"""IceProd 3's scheduling actions and the grid's reports (SEMANTICS-ICEPROD3 §4, §6)."""

import json
from collections import Counter

import pytest

from tests.protocol3.helpers import make, stored


def test_waiting_moves_only_the_listed_idle_tasks_and_only_their_status(api):
    t1, t2 = make(api), make(api, job_index=1)
    before = stored(api, t2)
    assert api.post("/task_actions/waiting", {"task_ids": [t2, "c" * 32, "junk"]}).data == {"waiting": 1}
    assert stored(api, t1)["status"] == "idle"
    after = stored(api, t2)
    assert after["status"] == "waiting" and after["status_changed"] == before["status_changed"]
    assert api.post("/task_actions/waiting", {"task_ids": [t2]}).data == {"waiting": 0}  # never a 404
    assert api.post("/task_actions/waiting", {}).data == {"waiting": 0}


def test_waiting_refuses_more_than_100_ids(api):
    response = api.post("/task_actions/waiting", {"task_ids": ["c" * 32] * 101})
    assert response.data == {"code": 400, "error": "too many tasks. must be <= 100"}


def test_queue_claims_one_waiting_task(api):
    a = make(api, status="waiting")
    before = stored(api, a)["status_changed"]
    task = api.post("/task_actions/queue", {}).data
    assert task["task_id"] == a and task["status"] == "queued" and task["site"] == "unknown"
    assert len(task["instance_id"]) == 32
    assert stored(api, a)["status"] == "queued" and stored(api, a)["status_changed"] == before
    assert api.post("/task_actions/queue", {}).data == {"code": 404, "error": "Task not found"}


def test_queue_matches_the_offer(api):
    a = make(api, status="waiting", requirements={"memory": 4.5, "disk": 100})
    assert api.post("/task_actions/queue", {"requirements": {"memory": 2.0, "disk": 120}}).status_code == 404
    assert stored(api, a)["status"] == "waiting"
    task = api.post("/task_actions/queue", {"requirements": {"memory": 6.0, "disk": 120, "site": "WIPAC"}}).data
    assert task["task_id"] == a and task["site"] == "WIPAC"


def test_a_null_requirement_counts_as_present_and_never_matches(api):
    make(api, status="waiting", requirements={"memory": None})
    assert api.post("/task_actions/queue", {"requirements": {"memory": 8}}).status_code == 404
    assert api.post("/task_actions/queue", {"requirements": {"cpu": 1}}).status_code == 200


def test_a_gpu_offer_needs_a_gpu_task_and_a_cpu_offer_takes_any(api):
    cpu = make(api, status="waiting")
    gpu = make(api, job_index=1, status="waiting", requirements={"gpu": 1})
    assert api.post("/task_actions/queue", {"requirements": {"gpu": 1}}).data["task_id"] == gpu
    assert api.post("/task_actions/queue", {"requirements": {"cpu": 4}}).data["task_id"] == cpu


def test_query_params_filter_by_equality_or_list(api):
    make(api, status="waiting")
    site = make(api, job_index=1, status="waiting", requirements={"site": ["A", "B"]})
    assert api.post("/task_actions/queue", {"query_params": {"requirements.site": "B"}}).data["task_id"] == site
    assert api.post("/task_actions/queue", {"query_params": {"dataset_id": "nope"}}).status_code == 404


@pytest.mark.parametrize(("body", "message"), [
    ({"query_params": {"status": "waiting"}}, "param status is not allowed"),
    ({"query_params": {"$where": 1}}, "param $where is not allowed"),
    ({"query_params": {"dataset_id": None}}, "param dataset_id must be a scalar value"),
    ({"query_params": {"dataset_id": {"$gt": ""}}}, "param dataset_id must be a scalar value"),
    ({"query_params": {"site": [1], "bad": 1}}, "param site must be a scalar value"),  # the first in body order
    ({"query_params": {"bad": 1, "site": [1]}}, "param bad is not allowed"),
    ({"requirements": {"memory": {"$gt": 0}}}, "requirement memory must be a number"),
    ({"requirements": {"gpu": "maybe"}}, "requirement gpu must be a number"),
    ({"requirements": {"os": ["RHEL_9"]}}, "requirement os must be a string"),
])
def test_bad_offers_and_filters_are_400(api, body, message):
    make(api, status="waiting")
    assert api.post("/task_actions/queue", body).data == {"code": 400, "error": message}
    assert api.post("/task_actions/queue_many", body).data == {"code": 400, "error": message}


def _waiting(api, per_dataset):
    for dataset, n in per_dataset.items():
        for i in range(n):
            make(api, dataset_id=dataset, job_index=i, status="waiting", priority=0.5)


@pytest.mark.parametrize(("deprio", "waiting", "claimed"), [
    ([], {}, None),
    ([], {"d1": 50}, {"d1": 10}),
    (["d1"], {"d1": 5}, {"d1": 5}),
    ([], {"d1": 2, "d2": 3}, {"d1": 2, "d2": 3}),
    (["d1", "d2"], {"d1": 10, "d2": 10, "d3": 2}, {"d2": 8, "d3": 2}),
    (["d1", "d2"], {"d1": 10, "d2": 10, "d3": 20}, {"d3": 10}),
    (["d2", "d1"], {"d1": 20, "d2": 20}, {"d1": 10}),
    (["d1", "d2"], {"d1": 20, "d2": 20}, {"d2": 10}),
])
def test_queue_many_deprioritises_datasets_as_iceprod3(api, deprio, waiting, claimed):
    """The table of ``test_rest_tasks_actions_queue_many``: num 10, every task at priority 0.5."""
    _waiting(api, waiting)
    response = api.post("/task_actions/queue_many", {"num": 10, "dataset_deprio": deprio})
    if claimed is None:
        assert response.data == {"code": 404, "error": "Task not found"}
        return
    assert dict(Counter(t["dataset_id"] for t in response.data)) == claimed
    assert {t["status"] for t in response.data} == {"queued"}
    assert len({t["instance_id"] for t in response.data}) == 1  # one instance_id per call


def test_queue_many_answers_the_tasks_before_and_writes_the_claim(api):
    a = make(api, status="waiting", priority=0.9)
    b = make(api, job_index=1, status="waiting", priority=0.1)
    tasks = api.post("/task_actions/queue_many", {"num": 5, "requirements": {"site": "X"}}).data
    assert [t["task_id"] for t in tasks] == [a, b]  # priority order
    assert tasks[0]["site"] == ""  # the old value (IceProd 3's quirk)
    assert stored(api, a)["site"] == "X" and stored(api, a)["instance_id"] == tasks[0]["instance_id"]
    assert api.post("/task_actions/queue_many", {"num": 0}).status_code == 404
    assert api.post("/task_actions/queue_many", {"num": "x"}).status_code == 400


def test_queue_many_with_a_dataset_filter_and_deprio_applies_both(api):
    """IceProd 3 replaces the dataset filter in the deprioritised passes (a listed bug)."""
    _waiting(api, {"d1": 3, "d2": 3})
    tasks = api.post("/task_actions/queue_many", {"num": 10, "dataset_deprio": ["d1"],
                                                  "query_params": {"dataset_id": "d1"}}).data
    assert {t["dataset_id"] for t in tasks} == {"d1"} and len(tasks) == 3


def _queued(api, **kw):
    a = make(api, status="waiting", **kw)
    return a, api.post("/task_actions/queue", {}).data["instance_id"]


def test_processing_with_the_claim(api):
    a, iid = _queued(api)
    answer = api.post(f"/tasks/{a}/task_actions/processing", {"instance_id": iid, "site": "S"})
    assert answer.status_code == 200 and answer.data["task_id"] == a and answer.data["status"] == "queued"
    task = stored(api, a)
    assert (task["status"], task["instance_id"], task["site"]) == ("processing", iid, "S")
    assert api.post(f"/tasks/{a}/task_actions/processing", {"instance_id": iid}).status_code == 200  # repeats
    assert api.post(f"/tasks/{a}/task_actions/processing", {"instance_id": "other"}).data == {
        "code": 404, "error": "Task not found"}


def test_processing_refusals(api):
    a = make(api, instance_id="12345")
    assert api.post(f"/tasks/{a}/task_actions/processing", {}).data == {
        "code": 400, "error": "Missing instance_id in body"}
    assert api.post(f"/tasks/{a}/task_actions/processing", {"instance_id": "12345"}).data == {
        "code": 400, "error": "Bad state transition for status"}  # idle
    assert api.post("/tasks/" + "c" * 32 + "/task_actions/processing", {"instance_id": ""}).status_code == 404


@pytest.mark.parametrize(("action", "target"), [("reset", "waiting"), ("failed", "failed")])
def test_reset_and_failed_as_iceprod3_tests_them(api, action, target):
    a = make(api, status="queued", instance_id="12345", requirements={"memory": 5.6, "gpu": 1})
    path = f"/tasks/{a}/task_actions/{action}"
    missing = api.post(path, {})
    assert missing.status_code == 400 and "Missing instance_id" in missing.data["error"]
    answer = api.post(path, {"instance_id": "12345"})
    assert answer.status_code == 200 and answer.data["status"] == "queued"  # the task before
    task = stored(api, a)
    assert task["status"] == target and task["instance_id"] == "" and task["failures"] == 1
    api.patch(f"/tasks/{a}", {"status": "queued", "instance_id": "12345"})
    assert api.post(path, {"instance_id": "666"}).data == {"code": 404, "error": "Task not found"}
    assert api.post(path, {"instance_id": "12345", "time_used": 7200}).status_code == 200
    task = stored(api, a)
    assert task["walltime_err_n"] == 1 and task["walltime_err"] == 2.0
    api.patch(f"/tasks/{a}", {"status": "queued", "instance_id": "12345"})
    body = {"instance_id": "12345", "resources": {"time": 2.5, "memory": 3.5, "disk": 20.3, "gpu": 23}, "site": "S"}
    assert api.post(path, body).status_code == 200
    task = stored(api, a)
    assert task["walltime_err_n"] == 2 and task["walltime_err"] == 4.5
    reqs = task["requirements"]
    assert reqs["memory"] == 5.6 and reqs["time"] >= 2.5 and reqs["disk"] >= 20.3 and reqs["gpu"] != 23
    assert task["site"] == "S"


@pytest.mark.parametrize("action", ["reset", "failed", "complete"])
def test_a_complete_task_refuses_failure_reports_and_an_idle_one_completion(api, action):
    done = make(api, status="complete", instance_id="12345")
    idle = make(api, job_index=1, instance_id="12345")
    target = done if action != "complete" else idle
    assert api.post(f"/tasks/{target}/task_actions/{action}", {"instance_id": "12345"}).data == {
        "code": 400, "error": "Bad state transition for status"}


def test_cpu_is_raised_by_one_core_and_memory_by_half(api):
    a = make(api, status="processing", instance_id="i", requirements={"cpu": 4})
    api.post(f"/tasks/{a}/task_actions/reset", {"instance_id": "i", "resources": {"cpu": 4.3}})
    assert stored(api, a)["requirements"] == {"cpu": 4}
    api.patch(f"/tasks/{a}", {"status": "processing", "instance_id": "i"})
    api.post(f"/tasks/{a}/task_actions/reset", {"instance_id": "i", "resources": {"cpu": 4.5, "time": 2.5}})
    assert stored(api, a)["requirements"] == {"cpu": 5, "time": 3.75}


def test_complete_with_the_claim(api):
    a, iid = _queued(api)
    assert api.post(f"/tasks/{a}/task_actions/complete", {}).data["error"].startswith("Missing instance_id")
    answer = api.post(f"/tasks/{a}/task_actions/complete", {"instance_id": iid, "time_used": 7200, "site": "S"})
    assert answer.status_code == 200 and answer.data["status"] == "queued"
    task = stored(api, a)
    assert (task["status"], task["instance_id"], task["walltime"], task["site"]) == ("complete", "", 2.0, "S")
    api.patch(f"/tasks/{a}", {"status": "processing", "instance_id": "x"})
    assert api.post(f"/tasks/{a}/task_actions/complete", {"instance_id": "wrong"}).status_code == 404


def test_a_late_report_with_an_old_instance_id_changes_nothing(api):
    a, first = _queued(api)
    assert api.post(f"/tasks/{a}/task_actions/reset", {"instance_id": first}).status_code == 200
    second = api.post("/task_actions/queue", {}).data["instance_id"]
    before = stored(api, a)
    for action in ("processing", "reset", "failed", "complete"):
        assert api.post(f"/tasks/{a}/task_actions/{action}", {"instance_id": first}).status_code == 404
    assert stored(api, a) == before and before["instance_id"] == second


def test_report_bodies_are_checked(api):
    a, iid = _queued(api)
    for body in ({"instance_id": 5}, {"instance_id": iid, "time_used": -1}, {"instance_id": iid, "resources": []}):
        assert api.request("POST", f"/tasks/{a}/task_actions/reset", raw=json.dumps(body).encode()).status_code == 400
    assert api.post(f"/tasks/{a}/task_actions/reset", {"instance_id": iid, "gridspec": "x"}).status_code == 200
