"""Garbage at every route: never a 5xx, always the JSON error shape, nothing written."""

import json

import pytest

import app  # noqa: F401  (registers every route's operation)
from chalicelib import schema

GARBAGE = {
    "bad utf-8": b'{"name": "\xff\xfe\xfa"}',
    "huge number": b'{"num_tasks": 1' + b"0" * 400 + b', "priority": 1e999999, "task_index": 99999999999999999999999}',
    "deep nesting": b"[" * 5000 + b"]" * 5000,
    "deep object": b'{"a":' * 3000 + b"1" + b"}" * 3000,
    "1 MB string": json.dumps({"name": "x" * 1_000_000, "tasks": ["y" * 1_000_000]}).encode(),
    "array for object": b'[{"status": "idle"}]',
    "object for array": b'{"tasks": {"a": 1}, "depends": {}, "requirements": [], "resources": [1]}',
    "nulls": b'{"status": null, "tasks": null, "requirements": null, "num_tasks": null, "time_used": null}',
    "wrong scalars": b'{"status": 5, "tasks": [true], "num_tasks": "9", "time_used": "1", "cpu": 1.5}',
    "not json": b"<html>",
}
PATHS = {
    "{task_id}": "0123456789abcdef0123456789abcdef",
    "{dataset_id}": "d1",
    "{status}": "idle",
    "{name}": "sim",
}
ODD_QUERIES = "?status=%ff&keys=%00|[0]&sort=a=7&limit=-1&job_index=1e9&cursor=%%%"


def concrete(path):
    for placeholder, value in PATHS.items():
        path = path.replace(placeholder, value)
    return path


OPERATIONS = [(op.method, op.path) for op in schema.OPERATIONS]


@pytest.mark.parametrize("method,path", OPERATIONS)
@pytest.mark.parametrize("kind", list(GARBAGE))
def test_garbage_bodies_never_crash(api, create, method, path, kind):
    create()
    before = api.get("/tasks").data
    response = api.request(method, concrete(path), raw=GARBAGE[kind])
    assert response.status_code < 500, (response.status_code, response.body[:300])
    if response.status_code >= 400:
        assert set(response.data) == {"code", "error"} and response.data["code"] == response.status_code
    if method != "GET" and response.status_code >= 400:
        assert api.get("/tasks").data == before  # a rejected request changes nothing


@pytest.mark.parametrize("method,path", [op for op in OPERATIONS if op[0] == "GET"])
def test_odd_query_strings_never_crash(api, create, method, path):
    create()
    response = api.request(method, concrete(path) + ODD_QUERIES)
    assert response.status_code < 500, (response.status_code, response.body[:300])
    if response.status_code >= 400:
        assert set(response.data) == {"code", "error"}


@pytest.mark.parametrize("odd", ["%00", "..", "a%2Fb", "%E2%82%AC" * 100, "x" * 3000, "%ff%fe", "${jndi:x}"])
def test_odd_path_ids_never_crash(api, odd):
    for path in ("/tasks/{}", "/datasets/{}/tasks", "/datasets/d1/tasks/{}", "/datasets/{}/files/{}",
                 "/datasets/{}/task_counts/status", "/tasks/{}/task_actions/reset"):
        method = "POST" if path.endswith("reset") else "GET"
        response = api.request(method, path.format(odd, odd), raw=b"{}")
        assert response.status_code < 500, (path, odd, response.status_code, response.body[:300])
