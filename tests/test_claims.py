"""POST /task_actions/process: requirement matching, query params, priority, bounds."""

import pytest

from chalicelib import config


@pytest.fixture
def queued(api, create):
    """Create one queued task with the given requirements (and other keys)."""

    def make(requirements=None, **overrides):
        return create(status="queued", requirements=requirements or {}, **overrides)

    return make


def claim(api, offer=None, params=None):
    body = {}
    if offer is not None:
        body["requirements"] = offer
    if params is not None:
        body["query_params"] = params
    return api.post("/task_actions/process", body)


MATCHING = [
    # (task requirements, offer, matches)
    ({}, {"memory": 4.0}, True),
    ({"memory": None}, {"memory": 4.0}, True),
    ({"memory": 2.0}, {"memory": 4.0}, True),
    ({"memory": 4.0}, {"memory": 4.0}, True),
    ({"memory": 8.0}, {"memory": 4.0}, False),
    ({"cpu": 2}, {"cpu": 1}, False),
    ({"cpu": 2}, {"cpu": 2}, True),
    ({}, {"gpu": 1}, False),
    ({"gpu": None}, {"gpu": 1}, False),
    ({"gpu": 0}, {"gpu": 1}, False),
    ({"gpu": 1}, {"gpu": 1}, True),
    ({"gpu": 2}, {"gpu": 1}, False),
    ({"gpu": 2}, {"gpu": 4}, True),
    ({}, {"gpu": 0}, True),
    ({"gpu": 0}, {"gpu": 0}, True),
    ({"gpu": 1}, {"gpu": 0}, False),
    ({}, {"os": "RHEL_7"}, True),
    ({"os": None}, {"os": "RHEL_7"}, True),
    ({"os": "RHEL_7"}, {"os": "RHEL_7"}, True),
    ({"os": ["RHEL_7", "RHEL_8"]}, {"os": "RHEL_8"}, True),
    ({"os": ["RHEL_9"]}, {"os": "RHEL_8"}, False),
    ({"os": "RHEL_7_x86_64"}, {"os": "RHEL_7"}, False),  # no substring match
    ({"site": "WIPAC"}, {"site": "WIPAC"}, True),
    ({"site": "WIPAC"}, {"site": "NERSC"}, False),
    ({"memory": 2.0, "os": "RHEL_7"}, {"memory": 4.0, "os": "RHEL_8"}, False),
    ({"memory": 2.0, "os": "RHEL_7"}, {"memory": 4.0, "os": "RHEL_7", "disk": 100.0}, True),
    ({"memory": "lots"}, {"memory": 4.0}, False),
]


@pytest.mark.parametrize("requirements,offer,matches", MATCHING)
def test_requirement_matching(api, queued, requirements, offer, matches):
    task_id = queued(requirements)
    response = claim(api, offer)
    if matches:
        assert response.status_code == 200, response.data
        assert response.data["task_id"] == task_id
    else:
        assert response.status_code == 404
        assert api.get(f"/tasks/{task_id}").data["status"] == "queued"


def test_claim_returns_the_whole_task_as_processing(api, queued):
    task_id = queued({"memory": 2.0, "cpu": 1, "disk": 5.0, "time": 2.0, "gpu": None}, extra={"k": 1.0})
    before = api.get(f"/tasks/{task_id}").data["status_changed"]
    task = claim(api, {"memory": 4.0}).data
    assert task["task_id"] == task_id and task["status"] == "processing"
    assert task["requirements"] == {"memory": 2.0, "cpu": 1, "disk": 5.0, "time": 2.0, "gpu": None}
    assert repr(task["extra"]["k"]) == "1.0" and task["status_changed"] >= before
    assert api.get(f"/tasks/{task_id}").data == task


def test_claims_highest_priority_first(api, queued):
    low = queued(priority=1.0, job_index=0)
    high = queued(priority=9.0, job_index=1)
    mid = queued(priority=5.0, job_index=2)
    assert [claim(api).data["task_id"] for _ in range(3)] == [high, mid, low]
    assert claim(api).status_code == 404


def test_claim_skips_tasks_needing_more_memory_for_lower_priority_ones(api, queued):
    queued({"memory": 16.0}, priority=9.0, job_index=0)
    fits = queued({"memory": 1.0}, priority=1.0, job_index=1)
    assert claim(api, {"memory": 2.0}).data["task_id"] == fits


def test_claim_only_takes_queued_tasks(api, create):
    create(status="waiting")
    create(status="processing", job_index=1)
    assert claim(api).status_code == 404


def test_empty_body_claims_any(api, queued):
    task_id = queued()
    assert api.post("/task_actions/process", raw=b"").data["task_id"] == task_id


def test_query_params_filter_by_equality(api, queued):
    queued(dataset_id="d1", job_index=0)
    other = queued(dataset_id="d2", job_index=0)
    assert claim(api, params={"dataset_id": "d2"}).data["task_id"] == other
    assert claim(api, params={"dataset_id": "d2"}).status_code == 404


@pytest.mark.parametrize("site,matches", [("WIPAC", True), (["NERSC", "WIPAC"], True), ("NERSC", False),
                                          (None, False)])
def test_query_param_requirements_site(api, queued, site, matches):
    reqs = {} if site is None else {"site": site}
    queued(reqs)
    response = claim(api, {"site": "WIPAC"}, {"requirements.site": "WIPAC"})
    assert response.status_code == (200 if matches else 404)


@pytest.mark.parametrize("body", [
    {"query_params": {"status": "waiting"}},
    {"query_params": {"priority": 1}},
    {"query_params": {"$where": "1"}},
    {"query_params": {"dataset_id": {"$ne": "x"}}},
    {"query_params": {"dataset_id": ["a"]}},
    {"query_params": {"name": None}},
    {"query_params": "dataset_id=x"},
    {"requirements": ["memory"]},
    {"requirements": {"memory": {"$gt": 1}}},
    {"requirements": {"memory": None}},
    {"requirements": {"a[0]": 1}},
])
def test_bad_offer_or_query_params_are_400(api, queued, body):
    task_id = queued()
    response = api.post("/task_actions/process", body)
    assert response.status_code == 400
    assert api.get(f"/tasks/{task_id}").data["status"] == "queued"


def test_malformed_body_is_400(api):
    assert api.post("/task_actions/process", raw=b"{x").status_code == 400


def test_pilot_extra_keys_are_ignored(api, queued):
    task_id = queued()
    body = {"requirements": {"cpu": 1}, "gridspec": "x", "hostname": "h", "domain": "d", "ifaces": [], "data": {}}
    assert api.post("/task_actions/process", body).data["task_id"] == task_id


def test_claim_work_is_bounded(api, queued, monkeypatch):
    for i in range(12):
        queued({"memory": 64.0}, job_index=i, priority=2.0)
    fits = queued({"memory": 1.0}, job_index=99, priority=1.0)
    monkeypatch.setattr(config, "CLAIM_PAGE_SIZE", 4)
    monkeypatch.setattr(config, "CLAIM_MAX_SCANNED", 8)
    assert claim(api, {"memory": 2.0}).status_code == 404  # gave up before reaching the match
    monkeypatch.setattr(config, "CLAIM_MAX_SCANNED", 100)
    assert claim(api, {"memory": 2.0}).data["task_id"] == fits


def test_claim_pages_through_filtered_empty_pages(api, queued, monkeypatch):
    for i in range(10):
        queued({"memory": 64.0}, job_index=i, priority=2.0)
    fits = queued({"memory": 1.0}, job_index=99, priority=1.0)
    monkeypatch.setattr(config, "CLAIM_PAGE_SIZE", 3)
    assert claim(api, {"memory": 2.0}).data["task_id"] == fits


def test_gpu_offer_below_one_matches_nothing(api, queued):
    queued({"gpu": 1})
    assert claim(api, {"gpu": 0.5}).status_code == 404


def test_later_claims_reuse_the_candidates_of_a_page(api, queued):
    from chalicelib.services import claims as service

    ids = {queued(job_index=i) for i in range(5)}
    first, second = service.ClaimStats(), service.ClaimStats()
    a = service.claim_task({}, {}, first)
    b = service.claim_task({}, {}, second)
    assert first.requests == 2  # one Query page, one UpdateItem
    assert first.scanned == 5
    # A left-over candidate, after a check of the index head above it that read nothing.
    assert second.requests == 2 and second.scanned == 0
    assert a["task_id"] != b["task_id"] and {a["task_id"], b["task_id"]} <= ids


def test_a_better_task_queued_after_the_cache_filled_is_claimed_first(api, queued):
    low = {queued(priority=1.0, job_index=i) for i in range(3)}
    assert claim(api, {"memory": 2.0}).data["task_id"] in low  # the cache now holds the other two
    better = queued({"memory": 1.0}, priority=9.0, job_index=8)
    queued({"memory": 64.0}, priority=9.5, job_index=9)  # better, but does not fit the offer
    assert claim(api, {"memory": 2.0}).data["task_id"] == better
    assert {claim(api, {"memory": 2.0}).data["task_id"] for _ in range(2)} < low
    assert claim(api, {"memory": 2.0}).status_code == 404


def test_a_task_queued_after_a_404_is_claimed_next(api, queued):
    assert claim(api).status_code == 404
    task_id = queued()
    assert claim(api).data["task_id"] == task_id


def test_a_claimed_task_queued_again_is_claimed_at_once(api, queued):
    # A reset (or the janitor) puts a claimed task back: the next claim must see it, not skip
    # it as already handed out by this process's candidate cache.
    task_id = queued()
    assert claim(api).data["task_id"] == task_id
    assert api.put(f"/tasks/{task_id}/status", {"status": "queued"}).status_code == 200
    again = claim(api)
    assert again.status_code == 200 and again.data["task_id"] == task_id


def test_claims_follow_priority_across_status_shards(api, queued, monkeypatch):
    monkeypatch.setattr(config, "STATUS_SHARDS", 3)
    monkeypatch.setattr(config, "CLAIM_PAGE_SIZE", 2)
    for i in range(15):
        queued(priority=float(i), job_index=i)
    priorities = [claim(api).data["priority"] for _ in range(15)]
    assert priorities == sorted(priorities, reverse=True)


def test_cached_candidates_taken_elsewhere_are_skipped(api, queued):
    from chalicelib.services import claims as service

    ids = [queued(job_index=i) for i in range(3)]
    service.claim_task({}, {})
    for task_id in ids:  # another process claims the rest behind this cache's back
        api.put(f"/tasks/{task_id}/status", {"status": "processing"})
    fresh = queued(job_index=9)
    stats = service.ClaimStats()
    assert service.claim_task({}, {}, stats)["task_id"] == fresh
    assert stats.conflicts == 2  # both stale candidates failed their condition, then a fresh page


def test_cache_is_per_offer_and_expires(api, queued, monkeypatch):
    from chalicelib.services import claims as service

    for i in range(4):
        queued({"memory": 1.0}, job_index=i)
    service.claim_task({"memory": 2.0}, {})
    other, same, expired = service.ClaimStats(), service.ClaimStats(), service.ClaimStats()
    service.claim_task({"memory": 4.0}, {}, other)
    assert other.scanned == 3  # another offer reads its own page
    service.claim_task({"memory": 2.0}, {}, same)
    assert same.scanned == 0  # the same offer checks only above its cached candidates
    monkeypatch.setattr(config, "CLAIM_CACHE_SECONDS", 0.0)
    service.claim_task({"memory": 2.0}, {}, expired)
    assert expired.scanned == 1  # too old: read from the top again


def test_staleness_is_opt_in_and_bounded(api, queued, monkeypatch):
    monkeypatch.setattr(config, "CLAIM_STALENESS_SECONDS", 60.0)
    low = {queued(priority=1.0, job_index=i) for i in range(2)}
    assert claim(api).data["task_id"] in low
    better = queued(priority=9.0, job_index=9)
    assert claim(api).data["task_id"] in low  # served by the earlier read: the better task waits
    assert claim(api).status_code == 404  # the first read is remembered too
    monkeypatch.setattr(config, "CLAIM_STALENESS_SECONDS", 0.0)
    assert claim(api).data["task_id"] == better


def test_claim_is_generic_over_status_match_and_actions(api, create):
    from chalicelib.services import claims as service
    from chalicelib.services import store

    create(status="waiting", dataset_id="d2", priority=5.0)
    wanted = create(status="waiting", dataset_id="d1", priority=2.0, job_index=1)
    create(status="queued", dataset_id="d1", priority=9.0, job_index=2)
    match = service.match_condition({}, {"dataset_id": "d1"})
    task = service.claim("waiting", match, lambda task_id: store.set_status("queued", task_id), "queue d1")
    assert task["task_id"] == wanted and task["status"] == "queued"


def test_a_read_sent_before_a_claim_settled_never_offers_its_task_again_but_a_later_one_does():
    """A read that was on its way while a claim's write settled may show the task as it was: it
    must not offer it again (a wasted write each time on AWS). A read sent after the write
    settled that still shows the task means it was queued again: it is offered at once."""
    import time
    from decimal import Decimal

    from chalicelib.services.candidates import EVERYTHING, CandidateCache, Refresh

    cache, key, deadline = CandidateCache(), "offer", time.monotonic() + 5
    first = cache.next(key, time.monotonic(), deadline)
    assert isinstance(first, Refresh)
    cache.refreshed(key, first, [(Decimal(5), "a"), (Decimal(1), "b")], EVERYTHING, False)
    taken = cache.next(key, first.sent, deadline)
    assert taken == (Decimal(5), "a")
    on_its_way = cache.next(key, time.monotonic(), deadline)  # a later claim's check of the head
    assert isinstance(on_its_way, Refresh) and on_its_way.above == Decimal(1)
    cache.settled(key, taken)  # the claim of "a" succeeded while that read was out
    cache.refreshed(key, on_its_way, [(Decimal(5), "a")], EVERYTHING, False)  # it still shows "a"
    assert cache.next(key, on_its_way.sent, deadline) == (Decimal(1), "b")
    later = cache.next(key, time.monotonic(), deadline)  # sent after "a" settled
    assert isinstance(later, Refresh)
    cache.refreshed(key, later, [(Decimal(5), "a")], EVERYTHING, False)  # "a" was queued again
    assert cache.next(key, later.sent, deadline) == (Decimal(5), "a")
