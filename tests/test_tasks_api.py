"""Global task routes: POST/GET /tasks, GET/PATCH /tasks/{id}, PUT /tasks/{id}/status."""

import re
from datetime import datetime

import pytest

from tests.conftest import new_task

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


def test_create_returns_201_and_a_hex_id(api):
    response = api.post("/tasks", new_task())
    assert response.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", response.data["result"])


def test_created_task_has_server_fields_and_keeps_client_keys(api):
    body = new_task(priority=2.0, requirements={"memory": 3.5, "cpu": 2, "os": ["RHEL_7"], "gpu": None},
                    extra={"nested": [1, 2.0, {"x": None}]}, note="kept", task_id="ignored", failures=9)
    task_id = api.post("/tasks", body).data["result"]
    task = api.get(f"/tasks/{task_id}").data
    assert task["task_id"] == task_id
    assert task["status"] == "waiting"
    assert task["failures"] == 0 and task["evictions"] == 0 and task["walltime_err_n"] == 0
    assert repr(task["walltime"]) == "0.0" and repr(task["walltime_err"]) == "0.0"
    assert task["site"] == ""
    assert ISO.match(task["status_changed"]) and datetime.fromisoformat(task["status_changed"])
    assert task["requirements"] == {"memory": 3.5, "cpu": 2, "os": ["RHEL_7"], "gpu": None}
    assert task["extra"] == {"nested": [1, 2.0, {"x": None}]}
    assert repr(task["extra"]["nested"][1]) == "2.0"
    assert task["note"] == "kept"
    assert repr(task["priority"]) == "2.0" and repr(task["task_index"]) == "0"


def test_create_defaults_priority_and_accepts_a_status(api):
    task_id = api.post("/tasks", new_task(status="idle")).data["result"]
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "idle" and task["priority"] == 1.0


@pytest.mark.parametrize("missing", ["dataset_id", "job_id", "task_index", "job_index", "name", "depends",
                                     "requirements"])
def test_create_without_a_required_key_is_400(api, missing):
    body = new_task()
    del body[missing]
    response = api.post("/tasks", body)
    assert response.status_code == 400
    assert missing in response.data["error"]


@pytest.mark.parametrize(
    "key,bad",
    [
        ("dataset_id", 1), ("dataset_id", ""), ("job_id", 5), ("task_index", "0"), ("task_index", True),
        ("task_index", 1.5), ("job_index", None), ("name", ["x"]), ("depends", {}), ("requirements", []),
        ("status", "running"), ("status", 3), ("priority", "high"), ("priority", True),
    ],
)
def test_create_with_a_wrong_type_or_value_is_400(api, key, bad):
    response = api.post("/tasks", new_task(**{key: bad}))
    assert response.status_code == 400, response.data
    assert response.data["code"] == 400


@pytest.mark.parametrize("raw", [b'{"priority": NaN}', b'{"priority": Infinity}', b"[1, 2]", b'"x"', b"{bad",
                                 b"\xff\xfe", b""])
def test_create_with_malformed_json_is_400(api, raw):
    response = api.post("/tasks", raw=raw)
    assert response.status_code == 400
    assert set(response.data) == {"code", "error"}
    assert api.get("/tasks").data == {"tasks": []}


def test_create_with_a_reserved_or_odd_key_is_400(api):
    assert api.post("/tasks", new_task(_status_key="x")).status_code == 400
    assert api.post("/tasks", new_task(**{"a[0]": 1})).status_code == 400


def test_create_over_400kb_is_400_and_stores_nothing(api):
    response = api.post("/tasks", new_task(blob="x" * 410_000))
    assert response.status_code == 400
    assert api.get("/tasks").data == {"tasks": []}


def test_body_is_parsed_whatever_the_content_type(api):
    import json

    response = api.post("/tasks", raw=json.dumps(new_task()).encode(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 201


def test_get_unknown_or_odd_task_is_404(api):
    assert api.get("/tasks/" + "0" * 32).status_code == 404
    response = api.get("/tasks/not-an-id")
    assert response.status_code == 404 and response.data["code"] == 404


def test_patch_merges_top_level_keys_and_returns_the_task(api, create):
    task_id = create(requirements={"cpu": 1, "memory": 2.0}, extra={"a": 1})
    response = api.patch(f"/tasks/{task_id}", {"requirements": {"cpu": 4}, "new": 1.0, "job_id": "j9"})
    assert response.status_code == 200
    task = response.data
    assert task["requirements"] == {"cpu": 4}  # top-level keys are replaced
    assert task["extra"] == {"a": 1}  # others kept
    assert repr(task["new"]) == "1.0" and task["job_id"] == "j9"
    assert api.get(f"/tasks/{task_id}").data == task


def test_patch_status_sets_status_changed(api, create):
    task_id = create()
    before = api.get(f"/tasks/{task_id}").data["status_changed"]
    task = api.patch(f"/tasks/{task_id}", {"status": "queued"}).data
    assert task["status"] == "queued" and task["status_changed"] >= before
    assert [t["task_id"] for t in api.get("/tasks?status=queued").data["tasks"]] == [task_id]


def test_patch_name_moves_the_task_in_the_dataset_index(api, create):
    task_id = create(name="old", job_index=3)
    api.patch(f"/tasks/{task_id}", {"name": "new"})
    response = api.post("/datasets/d1/files", {"filename": "gsiftp://x", "movement": "input", "job_index": 3,
                                               "task_name": "new"})
    assert response.status_code == 201 and response.data["result"] == task_id


def test_patch_a_float_then_an_int_keeps_each_type(api, create):
    task_id = create(x=1.0)
    assert repr(api.patch(f"/tasks/{task_id}", {"x": 2}).data["x"]) == "2"
    assert repr(api.patch(f"/tasks/{task_id}", {"x": 3.0}).data["x"]) == "3.0"


@pytest.mark.parametrize("body", [{}, {"task_id": "x"}, {"status": "nope"}, {"task_index": "1"},
                                  {"dataset_id": ""}, {"priority": None}])
def test_patch_invalid_is_400_and_changes_nothing(api, create, body):
    task_id = create()
    before = api.get(f"/tasks/{task_id}").data
    response = api.patch(f"/tasks/{task_id}", body)
    assert response.status_code == 400
    assert api.get(f"/tasks/{task_id}").data == before


def test_patch_unknown_task_is_404(api):
    assert api.patch("/tasks/" + "a" * 32, {"x": 1}).status_code == 404
    assert api.patch("/tasks/zzz", {"x": 1}).status_code == 404


def test_put_status_sets_status_and_status_changed(api, create):
    task_id = create()
    before = api.get(f"/tasks/{task_id}").data["status_changed"]
    response = api.put(f"/tasks/{task_id}/status", {"status": "suspended"})
    assert response.status_code == 200 and response.data == {}
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "suspended" and task["status_changed"] >= before


@pytest.mark.parametrize("body", [{}, {"status": "bogus"}, {"status": None}, {"state": "idle"}])
def test_put_status_invalid_is_400(api, create, body):
    task_id = create()
    assert api.put(f"/tasks/{task_id}/status", body).status_code == 400
    assert api.get(f"/tasks/{task_id}").data["status"] == "waiting"


def test_put_status_unknown_task_is_404(api):
    assert api.put("/tasks/" + "b" * 32 + "/status", {"status": "idle"}).status_code == 404


def test_list_all_tasks(api, create):
    ids = {create(job_index=i) for i in range(3)}
    tasks = api.get("/tasks").data["tasks"]
    assert {t["task_id"] for t in tasks} == ids


def test_list_by_status_reads_each_status(api, create):
    a, b, c = create(status="idle"), create(status="queued"), create()
    found = api.get("/tasks?status=idle|queued").data["tasks"]
    assert {t["task_id"] for t in found} == {a, b}
    assert [t["task_id"] for t in api.get("/tasks?status=waiting").data["tasks"]] == [c]


def test_list_with_unknown_status_is_400(api):
    assert api.get("/tasks?status=running").status_code == 400


def test_list_keys_projects_and_omits_task_id_unless_asked(api, create):
    create(priority=3.0)
    assert api.get("/tasks?keys=name|priority").data["tasks"] == [{"name": "generate", "priority": 3.0}]
    assert set(api.get("/tasks?keys=task_id|status").data["tasks"][0]) == {"task_id", "status"}


def test_list_sort_and_limit(api, create):
    for p in (1.0, 5.0, 3.0):
        create(priority=p, job_index=int(p))
    desc = api.get("/tasks?sort=priority=-1&keys=priority").data["tasks"]
    assert [t["priority"] for t in desc] == [5.0, 3.0, 1.0]
    asc = api.get("/tasks?sort=priority&limit=2&keys=priority").data["tasks"]
    assert [t["priority"] for t in asc] == [1.0, 3.0]
    assert len(api.get("/tasks?limit=abc").data["tasks"]) == 3
    assert len(api.get("/tasks?limit=0").data["tasks"]) == 3
    assert len(api.get("/tasks?status=waiting&limit=1").data["tasks"]) == 1


def test_list_by_status_is_highest_priority_first(api, create):
    for p in (1.0, 5.0, 3.0):
        create(priority=p, status="queued", job_index=int(p))
    found = api.get("/tasks?status=queued&keys=priority").data["tasks"]
    assert [t["priority"] for t in found] == [5.0, 3.0, 1.0]


def test_list_bad_sort_direction_is_400(api):
    assert api.get("/tasks?sort=priority=2").status_code == 400


def test_too_many_projection_or_sort_keys_is_400(api, create):
    create()
    many = "|".join(f"k{i}" for i in range(101))
    assert api.get(f"/tasks?keys={many}").status_code == 400
    assert api.get(f"/tasks?sort={many}").status_code == 400
    assert api.get(f"/datasets/d1/tasks?keys={many}").status_code == 400
    assert api.get("/tasks?keys=" + "|".join(f"k{i}" for i in range(100))).status_code == 200
