"""The status page's server side: the page itself, ``GET /datasets``, the stream-kept dataset
index behind it, and the page's own logic (node's test runner)."""

import base64
import gzip
import hashlib
import os
import re
import shutil
import subprocess

import pytest

from chalicelib.services import counters, dataset_index
from tests.conftest import token
from tests.engines import ROOT
from tests.test_counters import image, record


def page(api, **headers):
    """``GET /status`` as a browser would ask (the Api helper parses JSON; this is HTML)."""
    response = api.client.http.request("GET", "/status", headers=headers, body=None)
    if response.headers.get("Content-Encoding") == "gzip":
        response.body = gzip.decompress(response.body)
    return response


def test_the_page_needs_no_token_and_is_html(api):
    response = page(api)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    html = response.body.decode()
    assert html.startswith("<!doctype html>") and 'id="token"' in html
    statuses = '["idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete"]'
    assert '{"statuses": ' + statuses + "}" in html


def test_the_settings_can_never_close_their_script_element(api, monkeypatch):
    from dataclasses import replace

    from chalicelib import protocol
    from chalicelib.routes import status

    monkeypatch.setattr(protocol, "CURRENT", replace(protocol.CURRENT, statuses=("</script><b>x",)))
    status._page.cache_clear()
    try:
        html = page(api).body.decode()
    finally:
        status._page.cache_clear()
    assert "</script><b>x" not in html and '"\\u003c/script>\\u003cb>x"' in html


def test_the_pages_policy_allows_exactly_its_inlined_script_and_style(api):
    response = page(api)
    html = response.body.decode()
    policy = response.headers["Content-Security-Policy"]
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        inline = re.search(rf"<{tag}>(.*?)</{tag}>", html, re.S).group(1)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}'" in policy
    assert "form-action 'none'" in policy and "connect-src 'self'" in policy


def test_the_page_is_gzipped_for_a_browser_like_json_answers(api):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Encoding": "gzip, deflate, br"}
    response = api.client.http.request("GET", "/status", headers=browser, body=None)
    assert response.headers["Content-Encoding"] == "gzip" and response.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(response.body).decode().startswith("<!doctype html>")


def test_the_lambda_answer_for_the_page_is_base64_gzip_for_api_gateway(api):
    event_answer = api.gateway.handle_request(
        "GET", "/status", {"accept": "text/html", "accept-encoding": "gzip"}, b"")
    assert event_answer["isBase64Encoded"] is True
    assert event_answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert gzip.decompress(base64.b64decode(event_answer["body"])).startswith(b"<!doctype html>")


def test_the_page_calls_the_api_relative_to_its_own_location():
    """Under API Gateway the page is ``/<stage>/status``: an absolute ``/datasets`` would miss
    the stage (the browser test also loads it under a prefix)."""
    script = (ROOT / "chalicelib" / "statuspage" / "page.js").read_text()
    assert "fetch(base + path" in script
    assert not re.search(r"""fetch\(\s*["'`]/""", script)


def test_datasets_lists_every_dataset_with_its_counts(api, create, drain):
    create(dataset_id="22001", status="complete")
    create(dataset_id="22001", job_index=1)
    create(dataset_id="9", status="failed")
    drain()
    response = api.get("/datasets")
    assert response.status_code == 200
    assert response.data == {"22001": {"waiting": 1, "complete": 1}, "9": {"failed": 1}}
    assert list(response.data["22001"]) == ["waiting", "complete"]  # display order


@pytest.mark.parametrize("roles,grants,expected", [
    (["system"], None, ["a", "b", "c"]),
    (["user"], {"a": "read", "c": "write"}, ["a", "c"]),
    (["user"], {"*": "read"}, ["a", "b", "c"]),  # a Keycloak user reads every dataset
    (["user"], None, []),
], ids=["system", "user-grants", "user-any", "user-none"])
def test_datasets_holds_only_what_the_token_may_read(api, create, drain, roles, grants, expected):
    for dataset_id in ("a", "b", "c"):
        create(dataset_id=dataset_id)
    drain()
    response = api.get("/datasets", token=token(roles, grants))
    assert response.status_code == 200
    assert sorted(response.data) == expected


def test_datasets_answers_a_cors_preflight_from_an_allowed_origin(api, monkeypatch):
    from chalicelib import config

    monkeypatch.setattr(config, "CORS_ALLOW_ORIGINS", ("https://iceprod.icecube.aq",))
    headers = {"Origin": "https://iceprod.icecube.aq", "Access-Control-Request-Method": "GET"}
    preflight = api.request("OPTIONS", "/datasets", token=None, headers=headers)
    assert preflight.status_code == 204 and preflight.headers["Allow"] == "OPTIONS, GET"
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://iceprod.icecube.aq"
    answer = api.get("/datasets", headers={"Origin": "https://iceprod.icecube.aq"})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "https://iceprod.icecube.aq"


def test_datasets_refuses_a_token_without_a_role(api):
    response = api.get("/datasets", token=token([]))
    assert response.status_code == 403 and response.data["code"] == 403


def test_datasets_is_empty_before_any_task(api):
    assert api.get("/datasets").data == {}


def test_a_dataset_stays_listed_without_tasks_until_reconciliation(api, create, drain):
    task_id = create(dataset_id="old")
    drain()
    assert api.patch(f"/tasks/{task_id}", {"dataset_id": "new"}).status_code == 200
    drain()
    assert api.get("/datasets").data == {"old": {}, "new": {"waiting": 1}}
    counters.reconcile()
    assert api.get("/datasets").data == {"new": {"waiting": 1}}


def _spy_transactions(monkeypatch):
    """Every transaction the counters write: (puts, updates) of each."""
    from chalicelib import db

    real = db.transact_write
    seen = []

    def spy(model, puts=(), updates=(), checks=(), deletes=()):
        seen.append((list(puts), list(updates)))
        return real(model, puts=puts, updates=updates, checks=checks, deletes=deletes)

    monkeypatch.setattr(db, "transact_write", spy)
    return seen


def test_only_a_record_that_brings_a_task_into_a_dataset_writes_the_index(api, monkeypatch):
    from chalicelib.models import bookkeeping

    seen = _spy_transactions(monkeypatch)
    counters.apply_stream_records([
        record("e1", None, image(dataset="d1")),  # created: listed
        record("e2", image(dataset="d1"), image("queued", dataset="d1")),  # status change: nothing
        record("e3", image("queued", dataset="d1"), image("queued", dataset="d2")),  # moved: listed
        record("e4", image("queued", dataset="d2"), None),  # deleted: nothing
    ])
    puts = [put["Item"]["sk"]["S"] for transaction, _ in seen for put in transaction
            if put["Item"]["pk"]["S"] == bookkeeping.DATASETS]
    assert puts == ["d1", "d2"]


def test_redelivered_records_leave_the_index_as_it_was(api):
    batch = [record(f"e{i}", None, image(dataset=f"d{i}")) for i in range(3)]
    assert counters.apply_stream_records(batch) == 3
    assert counters.apply_stream_records([*batch, record("e9", None, image(dataset="d9"))]) == 1
    assert list(dataset_index.listed()) == ["d0", "d1", "d2", "d9"]


def test_transactions_with_the_index_stay_within_dynamodbs_limit(api, monkeypatch):
    seen = _spy_transactions(monkeypatch)
    assert counters.apply_stream_records([record(f"e{i}", None, image(dataset=f"d{i}")) for i in range(60)]) == 60
    sizes = [len(puts) + len(updates) for puts, updates in seen]
    assert len(sizes) > 1 and max(sizes) <= counters.MAX_TRANSACTION
    assert len(list(dataset_index.listed())) == 60


def test_reconcile_lists_a_missing_dataset_and_drops_an_empty_one(api, create, drain):
    from chalicelib import db
    from chalicelib.models import Bookkeeping, bookkeeping

    create(dataset_id="kept")
    drain()
    db.batch_write(Bookkeeping, deletes=[{"pk": {"S": bookkeeping.DATASETS}, "sk": {"S": "kept"}}])
    db.put_item(Bookkeeping, *bookkeeping.dataset_listing("ghost"), attributes={})
    assert sorted(api.get("/datasets").data) == ["ghost"]
    counters.reconcile()
    assert api.get("/datasets").data == {"kept": {"waiting": 1}}


def test_reconcile_keeps_a_dataset_whose_counter_gained_a_task_meanwhile(api):
    """A task counted after the reconciliation's scan keeps its dataset listed."""
    counters.apply_stream_records([record("e1", None, image(dataset="late"))])
    assert dataset_index.reconcile(set()) == {}
    assert list(dataset_index.listed()) == ["late"]


def test_the_page_logic_passes_its_node_tests():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is required in CI for the status page's logic tests")
        pytest.skip("node unavailable: the status page's logic tests are SKIPPED")
    result = subprocess.run([node, "--test", str(ROOT / "tests" / "js")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^# pass [1-9]", result.stdout, re.M) and re.search(r"^# fail 0$", result.stdout, re.M)
