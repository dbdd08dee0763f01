"""IceProd 3's task record and its status routes (SEMANTICS-ICEPROD3 §3, §4 Tasks, §6)."""

import re

import pytest

from chalicelib.protocol import ICEPROD3
from tests.conftest import new_task, token
from tests.protocol3.helpers import make, stored
from tests.protocol3.stored import raw

STATUSES = ICEPROD3.statuses


def test_a_new_task_starts_idle_with_iceprod3_server_fields(api):
    response = api.post("/tasks", new_task())
    assert response.status_code == 201
    task = stored(api, response.data["result"])
    assert task["status"] == "idle" and task["instance_id"] == "" and task["priority"] == 1.0
    assert {k: task[k] for k in ("failures", "evictions", "walltime", "walltime_err", "walltime_err_n", "site")} == {
        "failures": 0, "evictions": 0, "walltime": 0.0, "walltime_err": 0.0, "walltime_err_n": 0, "site": ""}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", task["status_changed"])
    assert re.fullmatch(r"[0-9a-f]{32}", task["task_id"])


def test_optional_keys_are_kept(api):
    task = stored(api, api.post("/tasks", new_task(status="queued", priority=0.5, instance_id="12345")).data["result"])
    assert (task["status"], task["priority"], task["instance_id"]) == ("queued", 0.5, "12345")


def test_a_user_token_cannot_create(api):
    assert api.post("/tasks", new_task(), token=token(["user"], {"d1": "write"})).status_code == 403


@pytest.mark.parametrize(("body", "message"), [
    ({k: v for k, v in new_task().items() if k != "dataset_id"}, "missing key: dataset_id"),
    ({k: v for k, v in new_task().items() if k != "requirements"}, "missing key: requirements"),
    (new_task(dataset_id=1), "key dataset_id should be of type <class 'str'>"),
    (new_task(task_index=1.0), "key task_index should be of type <class 'int'>"),
    (new_task(job_index=True), "key job_index should be of type <class 'int'>"),
    (new_task(depends="x"), "key depends should be of type <class 'list'>"),
    (new_task(requirements=[]), "key requirements should be of type <class 'dict'>"),
    (new_task(priority=1), 'key "priority" should be of type float'),
    (new_task(status=1), 'key "status" should be of type str'),
    (new_task(instance_id=5), 'key "instance_id" should be of type str'),
    (new_task(extra=1), "invalid keys found"),
    (new_task(task_id="x"), "invalid keys found"),
    (new_task(failures=0), "invalid keys found"),
    (new_task(status="reset"), "invalid status"),
    # the order of checks: required keys, optional types, unknown keys, the status value
    ({**{k: v for k, v in new_task().items() if k != "job_id"}, "extra": 1}, "missing key: job_id"),
    (new_task(priority=1, extra=1), 'key "priority" should be of type float'),
    (new_task(extra=1, status="bogus"), "invalid keys found"),
])
def test_new_task_errors_come_in_iceprod3_order_with_its_messages(api, body, message):
    response = api.post("/tasks", body)
    assert response.status_code == 400 and response.data["error"] == message
    assert api.get("/tasks").data == {"tasks": []}


def test_listing_projects_and_filters_by_status(api):
    a = make(api)
    assert api.get("/tasks").data["tasks"][0]["task_id"] == a
    assert api.get("/tasks?keys=dataset_id|name").data == {"tasks": [{"dataset_id": "d1", "name": "generate"}]}
    assert api.put(f"/tasks/{a}/status", {"status": "waiting"}).status_code == 200
    assert api.get("/tasks?status=idle").data == {"tasks": []}
    assert [t["task_id"] for t in api.get("/tasks?status=waiting").data["tasks"]] == [a]
    assert api.get("/tasks?status=reset").data == {"tasks": []}  # unchecked: matches nothing


def test_the_site_filter_is_a_prefix_in_creation_order(api):
    t1, t2, t3 = (make(api, job_index=i) for i in range(3))
    for task_id, site in ((t1, "foo"), (t2, "bar"), (t3, "foo.bar")):
        assert api.patch(f"/tasks/{task_id}", {"site": site}).status_code == 200
    ids = lambda q: [t["task_id"] for t in api.get(f"/tasks?{q}").data["tasks"]]  # noqa: E731
    assert ids("site=foo") == [t1, t3]
    assert ids("site=bar") == [t2]
    assert ids("site=foo.bar") == [t3]
    assert ids("site=") == [t1, t2, t3]


def test_dotted_keys_project_inside_objects(api):
    a = make(api, requirements={"gpu": 1, "memory": 2.0})
    b = make(api, job_index=1, requirements={"cpu": 2})
    tasks = api.get("/tasks?keys=task_id|requirements.gpu|depends&sort=task_id").data["tasks"]
    assert tasks == [{"task_id": a, "requirements": {"gpu": 1}, "depends": []},
                     {"task_id": b, "requirements": {}, "depends": []}]


def test_sort_with_limit_as_the_scheduler_asks(api):
    ids = [make(api, job_index=i, priority=float(i)) for i in range(5)]
    got = api.get("/tasks?status=idle&keys=task_id|depends|requirements.gpu&sort=priority=-1&limit=2").data["tasks"]
    assert [t["task_id"] for t in got] == [ids[4], ids[3]]
    assert len(api.get("/tasks?limit=-3").data["tasks"]) == 3


def test_get_one_task_and_the_unknown_ones(api):
    a = make(api)
    task = stored(api, a)
    assert task["status"] == "idle" and task["task_id"] == a
    for missing in ("c" * 32, "bad-id"):
        response = api.get(f"/tasks/{missing}")
        assert response.status_code == 404 and response.data["error"] == "Task not found"


def test_patch_sets_any_status_and_fields_and_answers_the_task_after(api):
    a = make(api)
    before = stored(api, a)["status_changed"]
    response = api.patch(f"/tasks/{a}", {"status": "processing", "failures": 1})
    assert response.status_code == 200
    assert (response.data["status"], response.data["failures"]) == ("processing", 1)
    assert stored(api, a)["status_changed"] == before  # IceProd 3's PATCH does not stamp it
    assert api.patch(f"/tasks/{a}", {"priority": 0}).data["priority"] == 0  # the scheduler's int


def test_patch_dotted_keys_set_fields_inside_objects(api):
    a = make(api, requirements={"memory": 2.0, "os": ["RHEL_9"]})
    answer = api.patch(f"/tasks/{a}", {"requirements.memory": 4.5, "requirements.disk": 10.0}).data
    assert answer["requirements"] == {"memory": 4.5, "os": ["RHEL_9"], "disk": 10.0}
    assert api.patch(f"/tasks/{a}", {"meta.owner": "me"}).data["meta"] == {"owner": "me"}


@pytest.mark.parametrize(("body", "status", "message"), [
    ({}, 400, "Missing update data"), ([], 400, "Missing update data"), (None, 400, "Missing update data"),
    ({"task_id": "x"}, 400, None), ({"_id": "x"}, 400, None), ({"status": "reset"}, 400, "Bad status"),
    # Our internal attributes, whole or by a dotted path into them (the lease the janitor reads).
    ({"_lease": 1}, 400, None), ({"_lease.x": 1}, 400, None), ({"_p3.x": 1}, 400, None),
    ({"task_id.x": 1}, 400, None), ({"_id.x": 1}, 400, None),
])
def test_patch_refusals(api, body, status, message):
    a = make(api)
    before = raw(a)
    response = api.request("PATCH", f"/tasks/{a}", raw=__import__("json").dumps(body).encode())
    assert response.status_code == status and (message is None or response.data["error"] == message)
    assert raw(a) == before  # nothing written, internal attributes included
    assert api.patch("/tasks/" + "c" * 32, {"x": 1}).data == {"code": 404, "error": "Task not found"}


def _in_status(api, status):
    return make(api, status=status)


@pytest.mark.parametrize("source", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_the_state_machine_of_the_put_routes(api, source, target):
    """Every move of the transition table: allowed → 200, refused → 400, the same status → 200."""
    a = _in_status(api, source)
    response = api.put(f"/tasks/{a}/status", {"status": target})
    allowed = source in ICEPROD3.prev[target]
    if allowed or source == target:
        assert response.status_code == 200, response.data
        assert stored(api, a)["status"] == target
    else:
        assert response.data == {"code": 400, "error": "Bad state transition for status"}
        assert stored(api, a)["status"] == source
    b = make(api, job_index=9, status=source, instance_id="abc")
    response = api.put(f"/datasets/d1/tasks/{b}/status", {"status": target})
    assert response.status_code == (200 if allowed or source == target else 400)
    if allowed:
        assert stored(api, b)["instance_id"] == ""  # the dataset route clears the claim


def test_put_status_with_an_instance_id_is_fenced(api):
    a = make(api, status="processing", instance_id="iid")
    assert api.put(f"/tasks/{a}/status", {"status": "queued", "instance_id": "other"}).data["error"] \
        == "Bad state transition for status"
    assert api.put(f"/tasks/{a}/status", {"status": "queued", "instance_id": "iid"}).status_code == 200
    assert (stored(api, a)["status"], stored(api, a)["instance_id"]) == ("queued", "iid")  # kept
    assert api.put(f"/tasks/{a}/status", {"status": "queued", "instance_id": "other"}).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Missing status in body"), ({"other": 1}, "Missing status in body"), (None, "Missing status in body"),
    ({"status": "reset"}, "Bad status"), ({"status": "blah"}, "Bad status"),
])
def test_put_status_refusals(api, body, message):
    a = make(api)
    response = api.request("PUT", f"/tasks/{a}/status", raw=__import__("json").dumps(body).encode())
    assert response.data == {"code": 400, "error": message}
    assert api.put("/tasks/" + "c" * 32 + "/status", {"status": "waiting"}).data == {"code": 404,
                                                                                    "error": "Task not found"}


def test_created_queued_then_failed_by_put(api):
    a = make(api, status="queued")
    assert api.put(f"/tasks/{a}/status", {"status": "failed"}).status_code == 200
    assert stored(api, a)["status"] == "failed"


def test_bulk_status_sets_any_status_and_clears_the_claim(api):
    a = make(api, status="queued", instance_id="i")
    b = make(api, job_index=1, status="failed")
    assert api.post("/task_actions/bulk_status/waiting", {"tasks": [a, b]}).data == {}
    assert [(stored(api, t)["status"], stored(api, t)["instance_id"]) for t in (a, b)] == [("waiting", "")] * 2


@pytest.mark.parametrize(("status", "body", "message"), [
    ("waiting", {}, "Missing tasks in body"), ("waiting", {"tasks": []}, "Missing tasks in body"),
    ("waiting", {"tasks": None}, "Missing tasks in body"),
    ("waiting", {"tasks": ["x"] * 100_001}, "Too many tasks specified (limit: 100k)"),
    ("blah", {"tasks": ["x"]}, "Bad status"), ("blah", {}, "Missing tasks in body"),
    ("processing", {}, "Missing tasks in body"),
])
def test_bulk_status_refusals_in_order(api, status, body, message):
    response = api.post(f"/task_actions/bulk_status/{status}", body)
    assert response.data == {"code": 400, "error": message}


def test_bulk_status_of_unknown_tasks_is_404(api):
    assert api.post("/task_actions/bulk_status/waiting", {"tasks": ["c" * 32]}).data == {
        "code": 404, "error": "Tasks not found"}


@pytest.mark.parametrize("key", ["_lease.x", "_p3.x", "task_id.x", "_id.x"])
def test_the_service_itself_never_writes_inside_our_attributes(api, key):
    """Behind the route schema: a dotted path into an internal attribute, ``task_id`` or ``_id``
    is refused by the service too, and nothing is written."""
    from chalicelib.errors import Invalid
    from chalicelib.services import tasks

    a = make(api)
    before = raw(a)
    with pytest.raises(Invalid, match="cannot be changed"):
        tasks.patch_task(a, {key: 1}, dotted=True, stamp_status=False)
    assert raw(a) == before
