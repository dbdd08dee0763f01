"""Issue 12's findings, one test (or a few) each: each failed on the main before the fix."""

import pytest

from tests.conftest import new_task

SURROGATE = '"\\ud800"'


def _raw(api, method, path, text):
    return api.request(method, path, raw=text.encode())


def test_lone_surrogates_in_a_new_task_are_400_and_nothing_is_stored(api):
    """Finding 2: a lone UTF-16 surrogate is valid JSON, not text."""
    body = '{"dataset_id": "d1", "job_id": "j", "task_index": 0, "job_index": 0, "name": "n", "depends": [], '
    for extra in (f'"x": {SURROGATE}', f'{SURROGATE}: 1', f'"x": {{"y": [{SURROGATE}]}}'):
        response = _raw(api, "POST", "/tasks", body + '"requirements": {}, ' + extra + "}")
        assert response.status_code == 400 and "surrogate" in response.data["error"], response.data
    assert api.get("/tasks").data == {"tasks": []}


def test_a_surrogate_pair_is_text_and_round_trips(api):
    body = new_task()
    response = _raw(api, "POST", "/tasks", __import__("json").dumps(body)[:-1] + ', "emoji": "\\ud83d\\ude00"}')
    assert response.status_code == 201
    assert api.get(f"/tasks/{response.data['result']}").data["emoji"] == "\U0001F600"


def test_lone_surrogates_in_bulk_requirements_and_patch_change_nothing(api, create):
    a = create(requirements={"site": "good"})
    response = _raw(api, "PATCH", "/datasets/d1/task_actions/bulk_requirements/generate", f'{{"site": {SURROGATE}}}')
    assert response.status_code == 400
    assert _raw(api, "PATCH", f"/tasks/{a}", f'{{"note": {SURROGATE}}}').status_code == 400
    assert api.get(f"/tasks/{a}").data["requirements"] == {"site": "good"}
    assert api.get("/tasks").status_code == 200 and api.get("/datasets/d1/tasks").status_code == 200


def test_an_offer_with_more_requirement_keys_than_an_expression_holds_is_a_clear_400(api, create):
    """Finding 9: DynamoDB's expression limits, answered as such (was "item too large" / 500)."""
    from chalicelib.schema import MAX_OFFER_KEYS

    create(status="queued")
    many = {f"r{i}": "x" for i in range(MAX_OFFER_KEYS + 1)}
    response = api.post("/task_actions/process", {"requirements": many})
    assert response.status_code == 400 and f"at most {MAX_OFFER_KEYS}" in response.data["error"]


def test_the_largest_allowed_offer_still_reaches_dynamodb(api, create):
    from chalicelib.schema import MAX_OFFER_KEYS

    task = create(status="queued")
    offer = {f"r{i}": "a-string-offer" for i in range(MAX_OFFER_KEYS)}
    filters = {"dataset_id": "d1", "job_id": "j1", "name": "generate", "site": "", "requirements.site": "x" * 64}
    assert api.post("/task_actions/process", {"requirements": offer, "query_params": filters}).status_code == 404
    del filters["requirements.site"]
    assert api.post("/task_actions/process", {"requirements": offer, "query_params": filters}).data["task_id"] == task


def test_a_patch_with_more_keys_than_an_expression_holds_is_a_clear_400(api, create):
    from chalicelib.schema import MAX_PATCH_KEYS

    a = create()
    response = api.patch(f"/tasks/{a}", {f"key_{i}": i for i in range(MAX_PATCH_KEYS + 1)})
    assert response.status_code == 400 and f"at most {MAX_PATCH_KEYS}" in response.data["error"]
    assert "key_0" not in api.get(f"/tasks/{a}").data


def test_the_largest_allowed_patch_is_applied(api, create):
    from chalicelib.schema import MAX_PATCH_KEYS

    a = create()
    body = {f"a_rather_long_key_name_{i:03d}_of_the_patch_body_xxxxxxxxxxxxxx": float(i)
            for i in range(MAX_PATCH_KEYS - 1)}
    body["name"] = "renamed"  # also rewrites the dataset index key
    response = api.patch(f"/tasks/{a}", body)
    assert response.status_code == 200, response.data
    assert response.data["name"] == "renamed" and len(response.data) > MAX_PATCH_KEYS


@pytest.mark.parametrize("where", ["patch", "requirements"])
def test_too_many_concurrent_changes_is_one_503_with_retry_after(api, create, monkeypatch, where):
    """One error everywhere for a read-modify-write that keeps losing."""
    from pynamodb.exceptions import UpdateError

    from chalicelib.services import store

    a = create(requirements={"memory": 1.0})

    def always_conflicts(*_args, **_kwargs):
        from botocore.exceptions import ClientError

        raise UpdateError("conflict", ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "UpdateItem"))

    monkeypatch.setattr(store, "update", always_conflicts)
    if where == "patch":
        response = api.patch(f"/tasks/{a}", {"job_index": 5})
    else:
        response = api.post(f"/tasks/{a}/task_actions/reset", {"resources": {"memory": 4}})
    assert response.status_code == 503, response.data
    assert response.headers["Retry-After"] and "concurrent" in response.data["error"]


def test_check_text_finds_a_stored_lone_surrogate_wherever_it_is(api, create):
    """Data written before the parse-time check (or by another writer) is found, not served blind."""
    from chalicelib import db
    from chalicelib.models import Task
    from chalicelib.services import integrity, store
    from chalicelib.services.store import attr

    good, bad = create(), create(job_index=1)
    assert list(integrity.invalid_text()) == []
    try:
        db.update_item(Task, bad, actions=[attr("note").set({"M": {"x": {"L": [{"S": "ok"}, {"S": "\ud800"}]}}})])
    except Exception as error:  # an engine that refuses to store one has nothing to find
        pytest.skip(f"this engine does not store lone surrogates: {error}")
    found = list(integrity.invalid_text())
    assert found == [(Task.Meta.table_name, bad, "/note/x/1")]
    assert store.find_item(good) is not None


def test_whole_dataset_requests_read_a_bounded_number_of_tasks(api, create, monkeypatch):
    """A request that needs a whole dataset at once (it cannot be paged) reads at most
    DATASET_READ_MAX index items, filtered ones included, and is refused before any write."""
    from chalicelib import config

    monkeypatch.setattr(config, "DATASET_READ_MAX", 3)
    ids = [create(status="complete" if i else "failed", job_index=i, requirements={"memory": 1.0})
           for i in range(4)]
    assert api.get("/datasets/d1/task_stats").status_code == 400  # 3 complete, 4 read
    response = api.patch("/datasets/d1/task_actions/bulk_requirements/generate", {"memory": 8.0})
    assert response.status_code == 400 and "DATASET_READ_MAX" in response.data["error"]
    assert {api.get(f"/tasks/{t}").data["requirements"]["memory"] for t in ids} == {1.0}
    monkeypatch.setattr(config, "DATASET_READ_MAX", 4)
    assert set(api.get("/datasets/d1/task_stats").data) == {"generate"}
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/generate", {"memory": 8.0}).status_code == 200
