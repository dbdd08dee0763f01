"""IceProd 3: the lease starts at ``processing``; its expiry is IceProd 3's reset; the opt-in cap."""

from __future__ import annotations

import pytest

from chalicelib import config, db
from chalicelib.models import Bookkeeping, Task, bookkeeping
from chalicelib.models.tasks import LEASE, lease_keys
from chalicelib.services import janitor, leases, store
from tests.protocol3.helpers import make, stored

T0 = 1_800_000_000


@pytest.fixture
def clock(monkeypatch):
    now = {"t": float(T0)}
    monkeypatch.setattr(leases, "clock", lambda: now["t"])
    return now


def live_leases():
    return {item["task_id"]["S"] for shard in lease_keys()
            for item in db.query_all(Task, shard, index_name=Task.by_lease.Meta.index_name)}


def running(api, **overrides):
    """A task claimed by the grid and reported processing: (task_id, instance_id)."""
    task_id = make(api, status="waiting", **overrides)
    instance_id = api.post("/task_actions/queue", {}).data["instance_id"]
    assert api.post(f"/tasks/{task_id}/task_actions/processing", {"instance_id": instance_id}).status_code == 200
    return task_id, instance_id


def test_the_lease_starts_at_processing_not_at_the_claim(api, clock):
    task_id = make(api, status="waiting", requirements={"time": 2})
    instance_id = api.post("/task_actions/queue", {}).data["instance_id"]
    assert LEASE not in store.find_item(task_id) and live_leases() == set()
    clock["t"] = T0 + 30 * 24 * 3600  # days in HTCondor's queue: the janitor leaves queued tasks alone
    assert janitor.run()["moved"] == 0
    api.post(f"/tasks/{task_id}/task_actions/processing", {"instance_id": instance_id})
    assert int(store.find_item(task_id)[LEASE]["N"]) == clock["t"] + 2 * 3600 * config.LEASE_MARGIN
    assert live_leases() == {task_id}


def test_expiry_is_iceprod3s_reset(api, clock):
    task_id, old = running(api)
    clock["t"] = T0 + 24 * 3600
    assert janitor.run()["LeasesExpired"] == 1
    task = stored(api, task_id)
    assert task["status"] == "waiting" and task["failures"] == 1 and task["instance_id"] == ""
    assert task["failure_class"] == "lease_expired" and live_leases() == set()
    new = api.post("/task_actions/queue", {}).data["instance_id"]
    late = api.post(f"/tasks/{task_id}/task_actions/complete", {"instance_id": old})
    assert late.data == {"code": 404, "error": "Task not found"} and stored(api, task_id)["status"] == "queued"
    assert api.post(f"/tasks/{task_id}/task_actions/processing", {"instance_id": new}).status_code == 200


def test_heartbeat_and_reports_end_or_extend_the_lease(api, clock):
    task_id, holder = running(api, requirements={"time": 1})
    clock["t"] = T0 + 4000
    assert api.post(f"/tasks/{task_id}/task_actions/heartbeat", {"instance_id": holder}).status_code == 200
    clock["t"] = T0 + 3600 * config.LEASE_MARGIN + 1
    assert janitor.run()["moved"] == 0
    assert api.post(f"/tasks/{task_id}/task_actions/heartbeat", {"instance_id": "0" * 32}).status_code == 404
    api.post(f"/tasks/{task_id}/task_actions/failed", {"instance_id": holder, "reason": "walltime exceeded"})
    assert live_leases() == set() and stored(api, task_id)["failure_class"] == "time_overuse"


def test_a_report_that_wins_the_race_wins(api, clock, monkeypatch):
    task_id, holder = running(api)
    clock["t"] = T0 + 24 * 3600
    real = janitor._move

    def racing(*args):
        api.post(f"/tasks/{task_id}/task_actions/complete", {"instance_id": holder})
        return real(*args)

    monkeypatch.setattr(janitor, "_move", racing)
    assert janitor.run().get("LeasesExpired", 0) == 0
    task = stored(api, task_id)
    assert task["status"] == "complete" and task["failures"] == 0


def test_no_retry_cap_by_default(api, clock):
    task_id = make(api, status="waiting")
    api.patch(f"/tasks/{task_id}", {"failures": 500})
    assert janitor.run()["moved"] == 0 and stored(api, task_id)["status"] == "waiting"


def test_the_opt_in_cap_fails_waiting_tasks_over_it_resuming_its_sweep(api, clock, monkeypatch):
    monkeypatch.setattr(config, "MAX_FAILURES_PROTOCOL3", 2)
    monkeypatch.setattr(config, "JANITOR_SWEEP_ITEMS", 3)
    ids = [make(api, status="waiting", job_index=i) for i in range(5)]
    for i, task_id in enumerate(ids):
        api.patch(f"/tasks/{task_id}", {"failures": 3 if i % 2 == 0 else 2})
    first = janitor.run()
    assert db.get_item(Bookkeeping, *bookkeeping.sweep_cursor("waiting#0")) is not None  # stopped midway
    second = janitor.run()
    assert first.get("FailedForGood", 0) + second.get("FailedForGood", 0) == 3
    assert [stored(api, t)["status"] for t in ids] == ["failed", "waiting", "failed", "waiting", "failed"]
    assert db.get_item(Bookkeeping, *bookkeeping.sweep_cursor("waiting#0")) is None  # done: starts over


def test_the_cap_applies_to_a_reaped_task(api, clock, monkeypatch):
    monkeypatch.setattr(config, "MAX_FAILURES_PROTOCOL3", 1)
    task_id, _ = running(api)
    api.patch(f"/tasks/{task_id}", {"failures": 1})
    clock["t"] = T0 + 24 * 3600
    result = janitor.run()
    assert result["LeasesExpired"] == 1 and result["FailedForGood"] == 1
    assert stored(api, task_id)["status"] == "failed"


def test_the_admin_routes_are_served(api, drain):
    assert api.put("/datasets/d1/janitor_settings", {"debug": True}).data == {"debug": True}
    task_id, holder = running(api)
    api.post(f"/tasks/{task_id}/task_actions/failed", {"instance_id": holder, "reason": "killed by signal 9"})
    drain()
    assert api.get("/datasets/d1/task_counts/failure_reasons").data == {"killed": 1}
