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
