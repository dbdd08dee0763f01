"""Listings page under the Lambda limits: limit + cursor, RFC 8288 Link headers, whole or refused."""

import base64
import json
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.routes import encoding


def follow(api, path):
    """Every page of a listing: (bodies, number of requests)."""
    bodies = []
    while True:
        response = api.get(path)
        assert response.status_code == 200, response.data
        bodies.append(response.data)
        link = response.headers.get("Link")
        if not link:
            return bodies
        target, rel = link.split(";")
        assert rel.strip() == 'rel="next"' and target.startswith("<?") and target.endswith(">")
        path = urlparse(path).path + target[1:-1]


@pytest.fixture
def many(api, create):
    """A dataset big enough to need several pages, in several statuses."""
    return [create(job_index=i, status=["waiting", "queued", "idle"][i % 3], priority=float(i % 4))
            for i in range(45)]


def test_global_listing_pages_through_every_task_once(api, many):
    bodies = follow(api, "/tasks?limit=10&keys=task_id")
    assert len(bodies) >= 5 and all(len(b["tasks"]) <= 10 for b in bodies)
    ids = [t["task_id"] for b in bodies for t in b["tasks"]]
    assert sorted(ids) == sorted(many)


def test_status_listing_pages_across_statuses_in_priority_order(api, many):
    bodies = follow(api, "/tasks?status=waiting|queued&limit=4&keys=task_id|status|priority")
    tasks = [t for b in bodies for t in b["tasks"]]
    assert len(tasks) == 30 and len({t["task_id"] for t in tasks}) == 30
    waiting = [t["priority"] for t in tasks if t["status"] == "waiting"]
    assert waiting == sorted(waiting, reverse=True)
    assert [t["status"] for t in tasks] == ["waiting"] * 15 + ["queued"] * 15


def test_dataset_listing_pages_with_a_filter_keep_their_shape(api, many):
    bodies = follow(api, "/datasets/d1/tasks?status=idle&limit=4")
    merged = {k: v for b in bodies for k, v in b.items()}
    assert len(merged) == 15 and all(v["status"] == "idle" and v["task_id"] == k for k, v in merged.items())


def test_summary_pages_merge_to_the_whole(api, many):
    bodies = follow(api, "/datasets/d1/task_summaries/status?limit=7")
    merged: dict = {}
    for body in bodies:
        for status, ids in body.items():
            merged.setdefault(status, []).extend(ids)
    assert {s: len(i) for s, i in merged.items()} == {"waiting": 15, "queued": 15, "idle": 15}


def test_file_listings_page(api):
    task_id = "c" * 32
    for i in range(12):
        api.post(f"/datasets/d1/files/{task_id}", {"filename": f"f{i}", "movement": "input"})
    bodies = follow(api, f"/datasets/d1/files/{task_id}?limit=5")
    assert [f["remote"] for b in bodies for f in b["files"]] == [f"f{i}" for i in range(12)]
    assert len(follow(api, "/datasets/d1/files?limit=5")) == 3


def test_without_limit_the_answer_is_complete_and_unlinked(api, many):
    response = api.get("/tasks?keys=task_id")
    assert len(response.data["tasks"]) == 45 and "Link" not in response.headers


def test_a_listing_too_large_for_lambda_is_refused_not_truncated(api, many, monkeypatch):
    monkeypatch.setattr(encoding, "MAX_ANSWER_BYTES", 2000)
    response = api.get("/tasks")
    assert response.status_code == 400
    assert "limit" in response.data["error"] and "Link" in response.data["error"]
    assert api.get("/tasks?limit=3").status_code == 200  # a page that fits still answers


def forged(payload):
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("cursor", [
    "not-base64!", forged([1, 2]), forged({"s": 9, "k": None}), forged({"s": 0, "k": {"evil": {"S": "x"}}}),
    forged({"s": 0, "k": {"task_id": {"N": "1; drop"}}}), forged({"s": 0, "k": {"task_id": {"S": ""}}}),
    forged({"s": True, "k": None}), forged({"s": 0, "k": {"task_id": {"M": {}}}}),
])
def test_malformed_or_forged_cursors_are_400(api, many, cursor):
    response = api.get(f"/tasks?limit=5&cursor={cursor}")
    assert response.status_code == 400 and response.data["code"] == 400


def test_cursor_with_sort_is_400(api, many):
    link = api.get("/tasks?limit=5").headers["Link"]
    cursor = parse_qs(urlparse(link[1:].split(">")[0]).query)["cursor"][0]
    assert api.get(f"/tasks?sort=priority&cursor={cursor}").status_code == 400


@pytest.mark.parametrize(("path", "cursor"), [
    # the key set a listing pages by, exactly (finding 3: these reached DynamoDB and answered 500)
    ("/tasks?status=waiting", {"s": 0, "k": {"task_id": {"S": "a" * 32}}}),
    ("/tasks?status=waiting", {"s": 0, "k": {"task_id": {"S": "a" * 32}, "_status_key": {"S": "waiting#0"},
                                             "priority": {"S": "1"}}}),
    # another status's (or shard's) key: DynamoDB refuses a start key of another hash key
    ("/tasks?status=waiting", {"s": 0, "k": {"task_id": {"S": "a" * 32}, "_status_key": {"S": "queued#0"},
                                             "priority": {"N": "1"}}}),
    # numbers DynamoDB cannot hold
    ("/tasks?status=waiting", {"s": 0, "k": {"task_id": {"S": "a" * 32}, "_status_key": {"S": "waiting#0"},
                                             "priority": {"N": "1e999"}}}),
    ("/datasets/d1/tasks", {"s": 0, "k": {"task_id": {"S": "a" * 32}}}),
    ("/datasets/d1/tasks", {"s": 0, "k": {"task_id": {"S": "a" * 32}, "dataset_id": {"S": "d2"},
                                          "_name_key": {"S": "x/1"}}}),
    ("/datasets/d1/files/" + "c" * 32, {"s": 0, "k": {"dataset_id": {"S": "d1"}, "file_key": {"S": "d" * 32 + "#1"}}}),
    ("/tasks", {"s": 0, "k": {"task_id": {"S": "\ud800"}}}),
])
def test_forged_cursors_with_the_wrong_keys_are_400_not_500(api, many, path, cursor):
    joiner = "&" if "?" in path else "?"
    response = api.get(f"{path}{joiner}limit=5&cursor={forged(cursor)}")
    assert response.status_code == 400, response.data


def test_a_cursor_the_service_issued_still_resumes(api, many):
    bodies = follow(api, "/datasets/d1/tasks?limit=8")
    assert sum(len(b) for b in bodies) == 45


def test_a_limited_listing_asks_dynamodb_for_the_service_s_page_size_not_the_limit(api, many, monkeypatch):
    """Finding 1: ``limit=1`` over a dataset with no match made one Query per stored task."""
    from chalicelib import db

    calls = []
    real = db.query
    monkeypatch.setattr(db, "query", lambda *a, **kw: calls.append(kw.get("limit")) or real(*a, **kw))
    response = api.get("/datasets/d1/tasks?status=complete&limit=1")
    assert response.status_code == 200 and response.data == {}
    assert len(calls) == 1 and calls[0] != 1


def test_a_paged_answer_stops_short_with_a_cursor_when_its_read_budget_runs_out(api, many, monkeypatch):
    from chalicelib import config

    monkeypatch.setattr(config, "LIST_PAGE_SIZE", 5)
    monkeypatch.setattr(config, "LIST_MAX_READ", 10)
    first = api.get("/datasets/d1/tasks?status=complete&limit=1")
    assert first.status_code == 200 and first.data == {} and "Link" in first.headers
    bodies = follow(api, "/datasets/d1/tasks?status=idle&limit=100")
    assert len(bodies) > 1 and sum(len(b) for b in bodies) == 15


def test_a_huge_limit_is_cut_to_the_answer_budget_not_read_whole(api, many, monkeypatch):
    monkeypatch.setattr(encoding, "MAX_ANSWER_BYTES", 4000)
    response = api.get("/tasks?limit=1000000")
    assert response.status_code == 200 and 0 < len(response.data["tasks"]) < 45 and "Link" in response.headers
    assert sorted(t["task_id"] for b in follow(api, "/tasks?limit=1000000&keys=task_id") for t in b["tasks"]) \
        == sorted(many)


def test_without_limit_the_answer_stays_whole_across_many_reads(api, many, monkeypatch):
    from chalicelib import config

    monkeypatch.setattr(config, "LIST_PAGE_SIZE", 4)
    response = api.get("/datasets/d1/tasks")
    assert response.status_code == 200 and len(response.data) == 45 and "Link" not in response.headers


def test_a_whole_listing_that_outlasts_the_request_is_refused(api, many, monkeypatch):
    from chalicelib import config

    monkeypatch.setattr(config, "LIST_PAGE_SIZE", 4)
    monkeypatch.setattr(config, "REQUEST_WORK_SECONDS", -1.0)
    response = api.get("/datasets/d1/tasks")
    assert response.status_code == 400 and "limit" in response.data["error"]
