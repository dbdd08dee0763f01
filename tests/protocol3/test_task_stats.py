"""IceProd 3's task stats routes (``tests/rest/task_stats_test.py`` and the answers of
SEMANTICS-ICEPROD3 §4 "Task stats"), on both engines."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.ids import new_id
from tests.conftest import token

STAT = {"dataset_id": "d1", "hostname": "node1", "resources": {"cpu": 1, "memory": 2.0}, "time": "now"}


@pytest.fixture
def post(api):
    """POST a stat of ``task_id`` (dataset d1 unless the body says otherwise); its id."""

    def make(task_id: str, **body: Any) -> str:
        response = api.post(f"/tasks/{task_id}/task_stats", {**STAT, **body})
        assert response.status_code == 201, response.data
        return response.data["result"]

    return make


def bulk(api, query: str = "", **headers: str) -> tuple[Any, list[dict[str, Any]]]:
    """The bulk answer and its NDJSON records (the test client's JSON parsing reads one value)."""
    hdrs = {"Authorization": f"Bearer {api.token}", **headers}
    response = api.client.http.request("GET", f"/datasets/d1/bulk/task_stats{query}", headers=hdrs)
    text = response.body.decode()
    assert text == "" or text.endswith("\n")
    return response, [json.loads(line) for line in text.splitlines()]


def test_post_answers_201_and_the_new_id(api):
    response = api.post(f"/tasks/{new_id()}/task_stats", STAT)
    assert response.status_code == 201
    assert re.fullmatch(r"[0-9a-f]{32}", response.data["result"])


def test_post_without_dataset_id_is_400_with_icepro_reason(api):
    response = api.post(f"/tasks/{new_id()}/task_stats", {"hostname": "x"})
    assert (response.status_code, response.data) == (400, {"code": 400, "error": "Missing dataset_id in body"})


def test_post_of_a_body_that_is_not_an_object_is_400(api):
    assert api.post(f"/tasks/{new_id()}/task_stats", ["d1"]).status_code == 400


@pytest.mark.parametrize("dataset_id", [5, "", None])
def test_post_needs_a_dataset_id_a_dataset_route_can_name(api, dataset_id):
    """IceProd stores any type, which no dataset route can read back; here it is a 400."""
    assert api.post(f"/tasks/{new_id()}/task_stats", {"dataset_id": dataset_id}).status_code == 400


def test_post_needs_admin_or_system(api):
    task_id = new_id()
    assert api.post(f"/tasks/{task_id}/task_stats", STAT, token=token(["user"], {"d1": "write"})).status_code == 403
    assert api.post(f"/tasks/{task_id}/task_stats", STAT, token=None).status_code == 401
    assert api.post(f"/tasks/{task_id}/task_stats", STAT, token=token(["system"])).status_code == 201


def test_post_with_a_malformed_task_id_is_404(api):
    assert api.post("/tasks/not-an-id/task_stats", STAT).status_code == 404


def test_a_task_lists_its_stats_with_the_body_minus_dataset_id(api, post):
    task_id = new_id()
    first, second = post(task_id), post(task_id, hostname="node2", memory=1.0)
    post(new_id())  # another task of the dataset
    answer = api.get(f"/datasets/d1/tasks/{task_id}/task_stats").data
    assert list(answer) == [first, second]
    assert answer[second]["stats"] == {"hostname": "node2", "resources": {"cpu": 1, "memory": 2.0}, "time": "now",
                                       "memory": 1.0}
    assert isinstance(answer[second]["stats"]["memory"], float)
    assert isinstance(answer[second]["stats"]["resources"]["memory"], float)
    assert isinstance(answer[second]["stats"]["resources"]["cpu"], int)
    record = answer[first]
    assert set(record) == {"task_stat_id", "task_id", "dataset_id", "create_date", "stats"}
    assert (record["task_stat_id"], record["task_id"], record["dataset_id"]) == (first, task_id, "d1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", record["create_date"])


def test_last_lists_only_the_latest_stat(api, post):
    task_id = new_id()
    post(task_id)
    second = post(task_id, hostname="node2")
    answer = api.get(f"/datasets/d1/tasks/{task_id}/task_stats?last=TRUE").data
    assert list(answer) == [second]
    assert answer[second]["stats"]["hostname"] == "node2"
    assert len(api.get(f"/datasets/d1/tasks/{task_id}/task_stats?last=no").data) == 2


def test_last_with_keys_keeps_task_stat_id_and_create_date(api, post):
    task_id = new_id()
    post(task_id)
    second = post(task_id)
    answer = api.get(f"/datasets/d1/tasks/{task_id}/task_stats?last=true&keys=task_id").data
    assert list(answer) == [second]
    assert set(answer[second]) == {"task_stat_id", "task_id", "create_date"}


def test_keys_keep_task_stat_id_and_dotted_keys_select_inside_stats(api, post):
    task_id = new_id()
    sid = post(task_id)
    answer = api.get(f"/datasets/d1/tasks/{task_id}/task_stats?keys=stats.resources.cpu|task_id").data
    assert answer == {sid: {"task_stat_id": sid, "task_id": task_id, "stats": {"resources": {"cpu": 1}}}}


def test_a_task_without_stats_lists_nothing(api):
    assert api.get(f"/datasets/d1/tasks/{new_id()}/task_stats").data == {}
    assert api.get(f"/datasets/d1/tasks/{new_id()}/task_stats?last=true").data == {}


def test_a_task_lists_only_the_stats_of_the_path_dataset(api, post):
    task_id = new_id()
    post(task_id, dataset_id="d2")
    assert api.get(f"/datasets/d1/tasks/{task_id}/task_stats").data == {}
    assert len(api.get(f"/datasets/d2/tasks/{task_id}/task_stats").data) == 1


def test_get_one_stat(api, post):
    task_id = new_id()
    sid = post(task_id)
    record = api.get(f"/datasets/d1/tasks/{task_id}/task_stats/{sid}").data
    assert (record["task_stat_id"], record["task_id"]) == (sid, task_id)
    assert record["stats"] == {k: v for k, v in STAT.items() if k != "dataset_id"}


@pytest.mark.parametrize("where", ["stat", "task", "dataset", "malformed stat", "malformed task"])
def test_a_stat_not_matching_all_three_ids_is_404(api, post, where):
    task_id = new_id()
    sid = post(task_id)
    dataset, task, stat = {"stat": ("d1", task_id, new_id()), "task": ("d1", new_id(), sid),
                           "dataset": ("d2", task_id, sid), "malformed stat": ("d1", task_id, "x1"),
                           "malformed task": ("d1", "x1", sid)}[where]
    response = api.get(f"/datasets/{dataset}/tasks/{task}/task_stats/{stat}")
    assert (response.status_code, response.data) == (404, {"code": 404, "error": "Task stat not found"})


def test_a_malformed_task_id_lists_404(api):
    assert api.get("/datasets/d1/tasks/x1/task_stats").status_code == 404


@pytest.mark.parametrize("path", ["/datasets/d1/tasks/{t}/task_stats", "/datasets/d1/tasks/{t}/task_stats/{s}",
                                  "/datasets/d1/bulk/task_stats"])
def test_reads_need_a_read_grant_on_the_dataset(api, post, path):
    task_id = new_id()
    url = path.format(t=task_id, s=post(task_id))
    assert api.get(url, token=token(["user"], {"d1": "read"})).status_code == 200
    assert api.get(url, token=token(["user"], {"d2": "read"})).status_code == 403
    assert api.get(url, token=None).status_code == 401


def test_bulk_lines_are_in_creation_order(api, post):
    """IceProd's test: three stats of one task, ``buffer_size=2``."""
    task_id = new_id()
    sids = [post(task_id) for _ in range(3)]
    response, records = bulk(api, "?buffer_size=2")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert "Link" not in response.headers
    assert [r["task_stat_id"] for r in records] == sids
    assert records[0] == api.get(f"/datasets/d1/tasks/{task_id}/task_stats/{sids[0]}").data


def test_bulk_groups_by_task_id_ascending(api, post):
    later, earlier = "f" * 32, "0" * 32
    a1, b1, a2 = post(later), post(earlier), post(later)
    post(new_id(), dataset_id="d2")
    _, records = bulk(api)
    assert [r["task_stat_id"] for r in records] == [b1, a1, a2]


def test_bulk_of_an_empty_dataset_is_an_empty_200(api):
    response, records = bulk(api)
    assert (response.status_code, response.body, records) == (200, b"", [])


def test_bulk_lines_are_compact_and_escape_the_end_of_a_script(api, post):
    post(new_id(), note="</script>")
    response, _ = bulk(api)
    assert b'"note":"<\\/script>"' in response.body
    assert b'", "' not in response.body


def test_bulk_last_writes_each_tasks_latest(api, post):
    t1, t2 = "1" * 32, "2" * 32
    post(t1), post(t2)
    latest1, latest2 = post(t1), post(t2)
    _, records = bulk(api, "?last=y")
    assert [r["task_stat_id"] for r in records] == [latest1, latest2]


def test_bulk_keys_keep_the_forced_keys(api, post):
    task_id = new_id()
    sid = post(task_id)
    _, records = bulk(api, "?keys=stats.hostname")
    assert records == [{"task_stat_id": sid, "task_id": task_id, "create_date": records[0]["create_date"],
                        "stats": {"hostname": "node1"}}]


def test_bulk_last_cuts_records_to_exactly_the_keys(api, post):
    """IceProd's quirk: the forced keys vanish, and a dotted key removes its parent."""
    task_id = new_id()
    post(task_id)
    latest = post(task_id)
    _, records = bulk(api, "?last=true&keys=task_stat_id|stats.hostname")
    assert records == [{"task_stat_id": latest}]


def test_bulk_after_keeps_records_created_since(api, post):
    task_id = new_id()
    post(task_id)
    second = post(task_id)
    created = api.get(f"/datasets/d1/tasks/{task_id}/task_stats/{second}").data["create_date"]
    _, records = bulk(api, f"?after={created}")
    assert [r["task_stat_id"] for r in records] == [second]
    _, records = bulk(api, "?after=9999")
    assert records == []


def test_a_non_integer_buffer_size_is_400(api):
    assert api.get("/datasets/d1/bulk/task_stats?buffer_size=many").status_code == 400


def _follow(api, query: str) -> tuple[list[list[dict[str, Any]]], list[Any]]:
    """Every page, following the Link headers."""
    pages, responses = [], []
    while True:
        response, records = bulk(api, query)
        pages.append(records)
        responses.append(response)
        link = response.headers.get("Link")
        if link is None:
            return pages, responses
        query = re.fullmatch(r'<(\?[^>]*)>; rel="next"', link).group(1)


@pytest.mark.parametrize("last", [False, True])
def test_bulk_pages_hold_whole_lines_and_link_the_next(api, post, monkeypatch, last):
    from chalicelib.routes import encoding

    tasks = sorted(new_id() for _ in range(3))
    sids = {t: [post(t) for _ in range(3)] for t in tasks}
    expected = [sids[t][-1] for t in tasks] if last else [s for t in tasks for s in sids[t]]
    _, whole = bulk(api, f"?last={last}")
    line = len(json.dumps(whole[0], separators=(",", ":"))) + 1
    monkeypatch.setattr(encoding, "MAX_ANSWER_BYTES", 2 * line + 10)  # two lines a page
    pages, responses = _follow(api, f"?last={last}&keys=task_stat_id|task_id|create_date|stats")
    assert [r["task_stat_id"] for page in pages for r in page] == expected
    assert [len(page) for page in pages] == ([2, 1] if last else [2, 2, 2, 2, 1])
    assert all(len(r.body) <= 2 * line + 10 for r in responses)
    assert "keys=task_stat_id" in responses[0].headers["Link"]  # the query is kept


def _cursor(start: Any, source: int = 0) -> str:
    from chalicelib.services import pages

    return pages.encode_cursor(source, start)


@pytest.mark.parametrize("cursor", [
    "garbage!", _cursor({"stat_key": {"S": "0"}}), _cursor({"dataset_id": {"S": "d1"}, "stat_key": {"N": "1"}}),
    _cursor({"dataset_id": {"S": "d2"}, "stat_key": {"S": "0"}}), _cursor(None, source=1),
    _cursor({"dataset_id": {"S": "d1"}, "stat_key": {"S": "0"}, "x": {"S": "1"}})])
def test_a_forged_cursor_is_400(api, cursor):
    response = api.get(f"/datasets/d1/bulk/task_stats?cursor={cursor}")
    assert (response.status_code, response.data) == (400, {"code": 400, "error": "malformed cursor"})


def test_the_published_document_lists_the_task_stats_routes(api):
    paths = api.get("/openapi.json").data["paths"]
    bulk_params = {p["name"] for p in paths["/datasets/{dataset_id}/bulk/task_stats"]["get"]["parameters"]}
    assert bulk_params == {"dataset_id", "last", "keys", "after", "buffer_size", "cursor"}
    assert "post" in paths["/tasks/{task_id}/task_stats"]
    assert "get" in paths["/datasets/{dataset_id}/tasks/{task_id}/task_stats/{task_stat_id}"]


@pytest.mark.parametrize(("position", "expected"), [("0", 2), ("g", 0)])
def test_a_well_formed_cursor_starts_after_its_position(api, post, position, expected):
    """A cursor names a position in the dataset's key order, whether or not a stat is there."""
    post(new_id()), post(new_id())
    _, records = bulk(api, f"?cursor={_cursor({'dataset_id': {'S': 'd1'}, 'stat_key': {'S': position}})}")
    assert len(records) == expected


@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("after", [False, True])
def test_bulk_pages_stop_at_the_requests_read_bound_and_lose_nothing(api, post, monkeypatch, last, after):
    """Two records read per request (one per DynamoDB page): every page moves forward, and the
    pages together are the whole answer, also when ``after`` filters records out."""
    from chalicelib import config

    tasks = sorted(new_id() for _ in range(3))
    sids = {t: [post(t) for _ in range(3)] for t in tasks}
    query = f"?last={last}"
    if after:
        created = api.get(f"/datasets/d1/tasks/{tasks[1]}/task_stats/{sids[tasks[1]][1]}").data["create_date"]
        query += f"&after={created}"
    _, whole = bulk(api, query)
    monkeypatch.setattr(config, "LIST_PAGE_SIZE", 1)
    monkeypatch.setattr(config, "LIST_MAX_READ", 2)
    pages, _ = _follow(api, query)
    assert len(pages) > 2
    assert [r for page in pages for r in page] == whole
    expected = [sids[t][-1] for t in tasks] if last else [s for t in tasks for s in sids[t]]
    if after:
        expected = [s for s in expected if s >= sids[tasks[1]][1]]
    assert [r["task_stat_id"] for r in whole] == expected
