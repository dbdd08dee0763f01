"""Pilot reports: reset, failed, complete; requirement raises; reason classes."""

import pytest

from chalicelib.services import lifecycle, requirements, store


@pytest.fixture
def processing(api, create):
    def make(**overrides):
        return create(status="processing", **overrides)

    return make


@pytest.mark.parametrize("action", ["reset", "failed"])
def test_failure_sets_status_and_counts(api, processing, action):
    task_id = processing()
    before = api.get(f"/tasks/{task_id}").data
    response = api.post(f"/tasks/{task_id}/task_actions/{action}", {"time_used": 1800, "site": "NERSC",
                                                                    "reason": "killed"})
    assert response.status_code == 200 and response.data == {}
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == action and task["status_changed"] >= before["status_changed"]
    assert task["failures"] == 1 and task["walltime_err_n"] == 1 and task["walltime_err"] == 0.5
    assert task["site"] == "NERSC"
    api.post(f"/tasks/{task_id}/task_actions/{action}", {"time_used": 0})
    task = api.get(f"/tasks/{task_id}").data
    assert task["failures"] == 2 and task["walltime_err_n"] == 2 and task["walltime_err"] == 0.5


def test_failure_uses_resources_time_when_no_time_used(api, processing):
    task_id = processing()
    api.post(f"/tasks/{task_id}/task_actions/reset", {"resources": {"time": 0.25}})
    task = api.get(f"/tasks/{task_id}").data
    assert task["walltime_err_n"] == 1 and task["walltime_err"] == 0.25
    assert task["requirements"] == {}  # 0.25 h is below 0.5: no raise


def test_failure_without_body_only_counts(api, processing):
    task_id = processing()
    assert api.post(f"/tasks/{task_id}/task_actions/reset", raw=b"").status_code == 200
    task = api.get(f"/tasks/{task_id}").data
    assert task["failures"] == 1 and task["walltime_err_n"] == 0 and task["site"] == ""


RAISES = [
    # (requirements, resources used, requirements after)
    ({}, {"cpu": 2}, {"cpu": 2}),  # 1.1 < 2 <= 20 and 2 >= 1.1 * default 1: 1 + 1
    ({"cpu": 2}, {"cpu": 3}, {"cpu": 3}),
    ({"cpu": 2}, {"cpu": 2.1}, {"cpu": 2}),  # 2.1 < 1.1 * 2
    ({}, {"cpu": 1.05}, {}),  # not above 1.1
    ({}, {"cpu": 25}, {}),  # above 20
    ({}, {"memory": 2.0}, {"memory": 3.0}),
    ({"memory": 8.0}, {"memory": 2.0}, {"memory": 8.0}),  # never lowered
    ({}, {"memory": 0.4}, {}),  # ignored below 0.5
    ({}, {"disk": 20.0}, {"disk": 30.0}),
    ({}, {"disk": 5.0}, {}),  # 7.5 < default 10
    ({}, {"time": 2.0}, {"time": 3.0}),
    ({"gpu": 1}, {"gpu": 4}, {"gpu": 1}),  # gpu never changes
    ({"memory": None}, {"memory": 1.0}, {"memory": 1.5}),
]


@pytest.mark.parametrize("reqs,used,after", RAISES)
def test_failure_raises_requirements_per_iceprod_rules(api, processing, reqs, used, after):
    task_id = processing(requirements=reqs)
    api.post(f"/tasks/{task_id}/task_actions/failed", {"resources": used})
    assert api.get(f"/tasks/{task_id}").data["requirements"] == after


def test_raised_floats_stay_floats(api, processing):
    task_id = processing()
    api.post(f"/tasks/{task_id}/task_actions/reset", {"resources": {"memory": 2}})
    assert repr(api.get(f"/tasks/{task_id}").data["requirements"]["memory"]) == "3.0"


@pytest.mark.parametrize("action", ["reset", "failed"])
def test_failure_of_a_complete_task_is_400(api, create, action):
    task_id = create(status="complete")
    assert api.post(f"/tasks/{task_id}/task_actions/{action}", {}).status_code == 400
    assert api.get(f"/tasks/{task_id}").data["failures"] == 0


@pytest.mark.parametrize("action", ["reset", "failed", "complete"])
def test_actions_on_unknown_tasks_are_400(api, action):
    assert api.post("/tasks/" + "a" * 32 + f"/task_actions/{action}", {}).status_code == 400
    assert api.post(f"/tasks/odd-id/task_actions/{action}", {}).status_code == 400


@pytest.mark.parametrize("body", [{"time_used": -1}, {"time_used": "10"}, {"time_used": True},
                                  {"resources": []}, {"resources": {"memory": "2"}}, {"site": 5},
                                  {"reason": 3}])
def test_bad_failure_body_is_400_and_changes_nothing(api, processing, body):
    task_id = processing()
    assert api.post(f"/tasks/{task_id}/task_actions/reset", body).status_code == 400
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "processing" and task["failures"] == 0


def test_unknown_keys_in_action_bodies_are_ignored(api, processing):
    task_id = processing()
    body = {"time_used": 3600.5, "gridspec": "g", "hostname": "h", "data": {"x": 1}}
    assert api.post(f"/tasks/{task_id}/task_actions/complete", body).status_code == 200


def test_complete_from_processing_sets_walltime_and_site(api, processing):
    task_id = processing()
    response = api.post(f"/tasks/{task_id}/task_actions/complete", {"time_used": 7200, "site": "WIPAC"})
    assert response.status_code == 200 and response.data == {}
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "complete" and task["walltime"] == 2.0 and task["site"] == "WIPAC"
    assert repr(task["walltime"]) == "2.0"


@pytest.mark.parametrize("status", ["waiting", "queued", "complete", "reset"])
def test_complete_from_another_status_is_400(api, create, status):
    task_id = create(status=status)
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {}).status_code == 400
    assert api.get(f"/tasks/{task_id}").data["status"] == status


def test_complete_bad_body_is_400(api, processing):
    task_id = processing()
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {"time_used": -5}).status_code == 400
    assert api.post(f"/tasks/{task_id}/task_actions/complete", raw=b"[]").status_code == 400
    assert api.get(f"/tasks/{task_id}").data["status"] == "processing"


def test_raise_does_not_lose_a_concurrent_change(api, processing):
    """A raise computed from a stale read fails its condition and is recomputed."""
    task_id = processing(requirements={"memory": 1.0})
    api.patch(f"/tasks/{task_id}", {"requirements": {"memory": 10.0}})  # the concurrent change
    reads = [{"memory": 1.0}]  # what the raise read before that change

    def read():
        return reads.pop() if reads else store.document(store.get_item(task_id))["requirements"]

    extra = store.set_status("reset", task_id)
    requirements.apply_raise(task_id, read, requirements.raise_from_usage({"memory": 2.0}), extra)
    task = api.get(f"/tasks/{task_id}").data
    assert task["requirements"] == {"memory": 10.0} and task["status"] == "reset"


@pytest.mark.parametrize("reason,kind", [
    ("Failed to download gsiftp://x/y", "download_failure"),
    ("failed to upload output", "upload_failure"),
    ("Resource overuse for memory: 5.2GB", "memory_overuse"),
    ("Resource overuse for cpu", "cpu_overuse"),
    ("Resource overuse for gpu", "gpu_overuse"),
    ("Resource overuse for disk", "disk_overuse"),
    ("Resource overuse for time", "time_overuse"),
    ("pilot received SIGTERM", "sigterm"),
    ("job was killed", "killed"),
    ("Error running module IceTray", "module_failure"),
    ("something odd", "other"),
    (None, "other"),
])
def test_reasons_are_classified(reason, kind):
    assert lifecycle.classify_reason(reason) == kind
