"""IceProd 2: claims as leases, the janitor, fenced reports, why tasks failed (issue 14)."""

from __future__ import annotations

import pytest

from chalicelib import config, db
from chalicelib.models import Task
from chalicelib.models.tasks import LEASE, LEASE_KEY, lease_keys
from chalicelib.services import janitor, leases, store

T0 = 1_800_000_000


class Clock:
    """The leases' clock, moved by the tests (never a sleep)."""

    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(leases, "clock", fake)
    return fake


def claim(api, **offer):
    response = api.post("/task_actions/process", {"requirements": offer})
    assert response.status_code == 200, response.data
    return response.data


def raw(task_id):
    return store.find_item(task_id)


def live_leases():
    """Every task id the leases index holds (all shards)."""
    return {item["task_id"]["S"] for shard in lease_keys()
            for item in db.query_all(Task, shard, index_name=Task.by_lease.Meta.index_name)}


def test_a_claim_is_a_lease_with_an_instance_id(api, create, clock):
    task_id = create(status="queued", requirements={"time": 2})
    task = claim(api)
    assert task["task_id"] == task_id and len(task["instance_id"]) == 32
    assert LEASE not in task and LEASE_KEY not in task  # internal: never shown
    item = raw(task_id)
    assert int(item[LEASE]["N"]) == T0 + 2 * 3600 * config.LEASE_MARGIN
    assert LEASE not in api.get(f"/tasks/{task_id}").data


def test_the_lease_has_a_default_and_a_floor(api, create, clock):
    default, short = create(status="queued", priority=2), create(status="queued", requirements={"time": 0.01})
    claim(api), claim(api)
    assert int(raw(default)[LEASE]["N"]) == T0 + int(config.LEASE_DEFAULT_HOURS * 3600 * config.LEASE_MARGIN)
    assert int(raw(short)[LEASE]["N"]) == T0 + config.LEASE_FLOOR_SECONDS


def test_an_expired_lease_is_reaped_and_the_task_queued_again(api, create, clock):
    task_id = create(status="queued", requirements={"time": 1})
    other = create(status="queued", job_index=1, requirements={"time": 10}, priority=0.5)
    claim(api), claim(api)
    clock.now = T0 + 3600 * config.LEASE_MARGIN - 1
    assert janitor.run()["moved"] == 0
    clock.now += 2
    result = janitor.run()
    assert result["LeasesExpired"] == 1 and result["Retried"] == 1  # reaped to reset, then retried
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "waiting" and task["failures"] == 1 and task["instance_id"] == ""
    assert task["failure_class"] == "lease_expired" and task["failure_reason"] == "lease expired"
    assert LEASE not in raw(task_id) and api.get(f"/tasks/{other}").data["status"] == "processing"
    assert live_leases() == {other}


def test_heartbeat_extends_the_lease_fenced_by_instance_id(api, create, clock):
    task_id = create(status="queued", requirements={"time": 1})
    holder = claim(api)["instance_id"]
    clock.now = T0 + 5000
    answer = api.post(f"/tasks/{task_id}/task_actions/heartbeat", {"instance_id": holder})
    assert answer.status_code == 200 and answer.data["lease_until"] == T0 + 5000 + 3600 * config.LEASE_MARGIN
    clock.now = T0 + 3600 * config.LEASE_MARGIN + 10  # past the first deadline, not the second
    assert janitor.run()["moved"] == 0
    wrong = api.post(f"/tasks/{task_id}/task_actions/heartbeat", {"instance_id": "f" * 32})
    assert wrong.status_code == 404 and wrong.data == {"code": 404, "error": "Task not found"}
    assert api.post(f"/tasks/{task_id}/task_actions/heartbeat", {}).status_code == 400
    assert api.post(f"/tasks/{'0' * 32}/task_actions/heartbeat", {"instance_id": holder}).status_code == 404


def test_no_heartbeat_once_the_claim_ended(api, create, clock):
    task_id = create(status="queued")
    holder = claim(api)["instance_id"]
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {"instance_id": holder}).status_code == 200
    assert api.post(f"/tasks/{task_id}/task_actions/heartbeat", {"instance_id": holder}).status_code == 404
    assert live_leases() == set()


@pytest.mark.parametrize("report", ["reset", "failed", "complete", "status"])
def test_a_late_report_of_the_old_claim_changes_nothing(api, create, clock, report):
    task_id = create(status="queued", requirements={"time": 1})
    old = claim(api)["instance_id"]
    clock.now = T0 + 10 * 3600
    janitor.run()
    assert api.post("/task_actions/queue", {"num_tasks": 10}).data == {"queued": 1}
    new = claim(api)["instance_id"]
    assert new != old
    before = raw(task_id)
    if report == "status":
        response = api.put(f"/tasks/{task_id}/status", {"status": "complete", "instance_id": old})
    else:
        response = api.post(f"/tasks/{task_id}/task_actions/{report}", {"instance_id": old, "reason": "late"})
    assert response.status_code == 404 and response.data == {"code": 404, "error": "Task not found"}
    assert raw(task_id) == before
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {"instance_id": new}).status_code == 200
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "complete" and task["instance_id"] == "" and live_leases() == set()


def test_reports_without_instance_id_stay_unfenced(api, create, clock):
    task_id = create(status="queued")
    claim(api)
    assert api.post(f"/tasks/{task_id}/task_actions/reset", {"reason": "out of memory"}).status_code == 200
    task = api.get(f"/tasks/{task_id}").data
    assert task["status"] == "reset" and task["failure_class"] == "memory_overuse" and live_leases() == set()


@pytest.mark.parametrize(("failures", "status"), [(0, "waiting"), (10, "waiting"), (11, "failed")])
def test_the_retry_cap(api, create, clock, failures, status):
    task_id = create()
    assert api.patch(f"/tasks/{task_id}", {"status": "reset", "failures": failures}).status_code == 200
    result = janitor.run()
    assert api.get(f"/tasks/{task_id}").data["status"] == status
    assert result.get("FailedForGood", 0) == (status == "failed")
    assert janitor.run()["moved"] == 0  # idempotent


def test_a_debug_dataset_suspends_its_reset_tasks(api, create, clock):
    assert api.get("/datasets/d1/janitor_settings").data == {"debug": False}
    assert api.put("/datasets/d1/janitor_settings", {"debug": True}).data == {"debug": True}
    assert api.get("/datasets/d1/janitor_settings").data == {"debug": True}
    bad = api.put("/datasets/d1/janitor_settings", {"debug": "yes"})
    assert bad.status_code == 400
    assert api.put("/datasets/d1/janitor_settings", {}).data == {"code": 400, "error": "debug is required"}
    debugged, normal = create(status="reset"), create(dataset_id="d2", status="reset")
    assert janitor.run()["Suspended"] == 1
    assert api.get(f"/tasks/{debugged}").data["status"] == "suspended"
    assert api.get(f"/tasks/{normal}").data["status"] == "waiting"


def _inject_before_write(monkeypatch, action):
    """Run ``action`` between the janitor's read and its first conditional write (the race)."""
    real = janitor._move
    done = []

    def racing(*args):
        if not done:
            done.append(True)
            action()
        return real(*args)

    monkeypatch.setattr(janitor, "_move", racing)


@pytest.mark.parametrize("winner", ["complete", "reset", "heartbeat"])
def test_a_report_that_wins_the_race_wins(api, create, clock, monkeypatch, winner):
    task_id = create(status="queued")
    holder = claim(api)["instance_id"]
    clock.now = T0 + 24 * 3600
    path = f"/tasks/{task_id}/task_actions/{winner}"
    _inject_before_write(monkeypatch, lambda: api.post(path, {"instance_id": holder}))
    result = janitor.run()
    assert result.get("LeasesExpired", 0) == 0
    task = api.get(f"/tasks/{task_id}").data
    assert task["failures"] == (1 if winner == "reset" else 0)  # never both
    assert task["status"] == {"complete": "complete", "reset": "waiting", "heartbeat": "processing"}[winner]


def test_a_janitor_that_wins_the_race_fences_the_report(api, create, clock):
    task_id = create(status="queued")
    holder = claim(api)["instance_id"]
    clock.now = T0 + 24 * 3600
    assert janitor.run()["LeasesExpired"] == 1
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {"instance_id": holder}).status_code == 404
    assert api.post(f"/tasks/{task_id}/task_actions/complete", {}).status_code == 400  # unfenced: not processing
    assert api.get(f"/tasks/{task_id}").data["failures"] == 1


def test_a_janitor_killed_mid_run_loses_nothing_and_does_nothing_twice(api, create, clock, monkeypatch):
    ids = [create(status="queued", job_index=i) for i in range(8)]
    for _ in ids:
        claim(api)
    clock.now = T0 + 24 * 3600
    real, calls = janitor._move, []

    def killed(*args):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("killed")
        return real(*args)

    monkeypatch.setattr(janitor, "_move", killed)
    with pytest.raises(RuntimeError):
        janitor.run()
    monkeypatch.setattr(janitor, "_move", real)
    monkeypatch.setattr(config, "JANITOR_MAX_TASKS", 4)  # bounded: two more runs finish
    runs = [janitor.run() for _ in range(4)]
    assert [r["moved"] for r in runs][:2] == [4, 4]
    tasks = [api.get(f"/tasks/{t}").data for t in ids]
    assert {t["status"] for t in tasks} == {"waiting"} and {t["failures"] for t in tasks} == {1}
    assert live_leases() == set()


def test_failure_reasons_are_kept_listed_and_counted(api, create, clock, drain):
    a, b, c = (create(status="queued", job_index=i) for i in range(3))
    for _ in range(3):
        claim(api)
    api.post(f"/tasks/{a}/task_actions/failed", {"reason": "x" * 5000 + " out of memory"})
    api.post(f"/tasks/{b}/task_actions/failed", {"reason": "Error running module: exit code 1"})
    api.post(f"/tasks/{c}/task_actions/reset", {"reason": "download failed"})
    listed = api.get("/datasets/d1/tasks?status=failed").data
    assert {t["failure_class"] for t in listed.values()} == {"memory_overuse", "module_failure"}
    assert len(listed[a]["failure_reason"]) == config.FAILURE_REASON_CHARS
    drain()
    counts = api.get("/datasets/d1/task_counts/failure_reasons").data
    assert counts == {"memory_overuse": 1, "module_failure": 1}
    api.put(f"/datasets/d1/tasks/{b}/status", {"status": "waiting"})
    drain()
    assert api.get("/datasets/d1/task_counts/failure_reasons").data == {"memory_overuse": 1}
    assert api.get("/datasets/nope/task_counts/failure_reasons").data == {}


def test_reconcile_repairs_the_failure_counts(api, create, clock, drain):
    from chalicelib.services import counters

    task_id = create(status="queued")
    claim(api)
    api.post(f"/tasks/{task_id}/task_actions/failed", {"reason": "killed"})
    fixes = counters.reconcile()  # nothing drained yet: the counters lag
    assert any(delta == {"killed": 1} for delta in fixes.values())
    assert api.get("/datasets/d1/task_counts/failure_reasons").data == {"killed": 1}


def test_the_index_holds_only_live_claims(api, create, clock):
    ids = [create(status="queued", job_index=i) for i in range(4)]
    holders = {claim(api)["task_id"]: None for _ in ids}
    assert live_leases() == set(holders)
    api.post(f"/tasks/{ids[0]}/task_actions/complete", {})
    api.post(f"/tasks/{ids[1]}/task_actions/failed", {})
    api.put(f"/tasks/{ids[2]}/status", {"status": "suspended"})
    assert live_leases() == {ids[3]}


def test_the_scheduled_handler_obeys_its_switch(api, create, clock, monkeypatch):
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    task_id = create(status="reset")
    monkeypatch.setattr(config, "JANITOR_SCHEDULE", False)
    assert handlers.run_janitor(scheduled_event(), None) == {"enabled": False}
    assert api.get(f"/tasks/{task_id}").data["status"] == "reset"
    monkeypatch.setattr(config, "JANITOR_SCHEDULE", True)
    assert handlers.run_janitor(scheduled_event(), None)["Retried"] == 1


def test_make_run_takes_back_a_silent_claim_and_retries_and_caps_resets(backend, tmp_path):
    """The issue's "done when", on ``make run``'s server: a claim whose pilot never reports is
    back in the queue once its lease passes, a reset task is claimable again, and a task that
    keeps failing ends ``failed`` with its reason visible (a one-second lease, janitor every second)."""
    import time

    from tests.conftest import new_task
    from tests.engines import LiveServer

    server = LiveServer(backend, tmp_path, LEASE_FLOOR_SECONDS="1", LEASE_DEFAULT_HOURS="0", MAX_FAILURES="1",
                        JANITOR_SCHEDULE="on", JANITOR_LOCAL_SECONDS="1")
    try:
        s, url = server.session(), server.url

        def status():
            return s.get(f"{url}/tasks/{task_id}").json()

        def wait_for(wanted):
            deadline = time.monotonic() + 20
            while status()["status"] != wanted and time.monotonic() < deadline:
                time.sleep(0.2)
            return status()

        task_id = s.post(f"{url}/tasks", json=new_task(status="queued")).json()["result"]
        assert s.post(f"{url}/task_actions/process", json={}).json()["task_id"] == task_id
        task = wait_for("waiting")  # reaped (→ reset), then retried (→ waiting) by the janitor
        assert task["failures"] == 1 and task["failure_class"] == "lease_expired"
        s.post(f"{url}/task_actions/queue", json={"num_tasks": 1})
        assert s.post(f"{url}/task_actions/process", json={}).json()["task_id"] == task_id
        s.post(f"{url}/tasks/{task_id}/task_actions/reset", json={"reason": "out of memory"})
        task = wait_for("failed")  # failures 2 > MAX_FAILURES 1
        assert task["failure_class"] == "memory_overuse" and task["failure_reason"] == "out of memory"
    finally:
        server.stop()
