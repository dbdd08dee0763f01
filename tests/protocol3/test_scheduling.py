"""IceProd 3's scheduled queueing: idle → waiting when every dependency is complete."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from chalicelib import config
from chalicelib.models.tasks import STATUS_KEY, status_key
from chalicelib.observability import JsonFormatter
from chalicelib.services import scheduling
from tests.protocol3.stored import doc, put_task, raw


@pytest.fixture
def idle(tables, drain):
    """Store idle tasks (as IceProd 3's service does) and count them; the ids."""

    def make(n: int = 1, **overrides) -> list[str]:
        made = [put_task(status="idle", **{"job_index": i, **overrides}) for i in range(n)]
        drain()
        return made

    return make


def statuses(ids):
    return {t: doc(t)["status"] for t in ids}


def test_only_tasks_whose_dependencies_are_complete_move(idle, drain):
    done = put_task(status="complete", job_index=90)
    running = put_task(status="processing", job_index=91)
    [ready] = idle(depends=[done], priority=1.0)
    [free] = idle(priority=1.0)
    [blocked] = idle(depends=[done, running], priority=5.0)
    [missing] = idle(depends=["0" * 32], priority=4.0)
    assert scheduling.scheduled_cycle() == 2
    assert statuses([ready, free, blocked, missing]) == {ready: "waiting", free: "waiting", blocked: "idle",
                                                        missing: "idle"}
    assert doc(blocked)["priority"] == 0 and doc(missing)["priority"] == 0  # as IceProd does
    assert doc(ready)["priority"] == 1.0


def test_a_move_changes_only_the_status(idle):
    [task_id] = idle(priority=2.5, instance_id="i1")
    before = doc(task_id)
    scheduling.scheduled_cycle()
    after = doc(task_id)
    assert after == {**before, "status": "waiting"}  # status_changed too is kept
    assert raw(task_id)[STATUS_KEY]["S"] == status_key("waiting", task_id)


def test_the_highest_priorities_move_first_up_to_the_per_cycle_limit(idle, monkeypatch):
    monkeypatch.setattr(config, "QUEUE_PER_CYCLE", 3)
    ids = [idle(priority=float(p), job_index=p)[0] for p in range(6)]
    assert scheduling.scheduled_cycle() == 3
    assert [statuses(ids)[t] for t in ids] == ["idle"] * 3 + ["waiting"] * 3


def test_the_target_counts_the_tasks_already_waiting(idle, drain, monkeypatch):
    for i in range(3):
        put_task(status="waiting", job_index=50 + i)
    ids = idle(5)
    monkeypatch.setattr(config, "QUEUE_TARGET", 5)
    assert scheduling.scheduled_cycle() == 2
    drain()
    assert scheduling.scheduled_cycle() == 0
    assert sorted(statuses(ids).values()) == ["idle"] * 3 + ["waiting"] * 2


def test_gpu_and_cpu_tasks_are_queued_separately(idle, monkeypatch):
    monkeypatch.setattr(config, "QUEUE_PER_CYCLE", 2)
    gpu = idle(3, requirements={"gpu": 1}, priority=9.0)
    cpu = idle(3, requirements={"gpu": 0}, priority=1.0) + idle(1, requirements={"cpu": 2}, priority=1.0,
                                                                name="other")
    assert scheduling.scheduled_cycle() == 4
    assert sorted(statuses(gpu).values()) == ["idle", "waiting", "waiting"]
    assert sorted(statuses(cpu).values()) == ["idle", "idle", "waiting", "waiting"]


@pytest.mark.parametrize(("requirements", "gpu"), [({"gpu": 2}, True), ({"gpu": 0.5}, True), ({"gpu": 0}, False),
                                                   ({"gpu": -1}, False), ({"gpu": True}, False),
                                                   ({"gpu": "1"}, False), ({}, False)])
def test_a_gpu_task_has_a_number_above_zero(idle, requirements, gpu):
    [task_id] = idle(requirements=requirements)
    assert scheduling.is_gpu(raw(task_id)) is gpu


def test_a_cycle_reads_at_most_five_candidates_per_task_to_move(idle, monkeypatch):
    monkeypatch.setattr(config, "QUEUE_PER_CYCLE", 1)
    running = put_task(status="processing", job_index=99)
    blocked = idle(8, depends=[running], priority=5.0)
    [ready] = idle(priority=1.0, name="ready")
    assert scheduling.cycle(False, float("inf"))["read"] == 5
    assert sorted(doc(t)["priority"] for t in blocked) == [0] * 5 + [5.0] * 3
    numbers = scheduling.cycle(False, float("inf"))
    assert numbers["moved"] == 1 and numbers["deprioritized"] == 3
    assert doc(ready)["status"] == "waiting"


def test_nothing_moves_when_the_target_is_reached(idle, monkeypatch):
    idle(2)
    monkeypatch.setattr(config, "QUEUE_TARGET", 0)
    assert scheduling.cycle(False, float("inf")) == {"idle": 2, "waiting": 0, "n": 0, "read": 0, "moved": 0,
                                                      "deprioritized": 0}


def test_concurrent_cycles_never_move_a_task_twice(idle):
    ids = idle(40)
    barrier = threading.Barrier(2)
    moved: list[int] = []

    def run() -> None:
        barrier.wait()
        moved.append(scheduling.scheduled_cycle())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(moved) == list(statuses(ids).values()).count("waiting") == 40


def test_each_cycle_logs_one_line_with_its_numbers(idle):
    idle(2)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("iceprod_tasks.scheduling")
    logger.addHandler(handler)
    try:
        scheduling.scheduled_cycle()
    finally:
        logger.removeHandler(handler)
    [record] = records
    numbers = record.fields["queue_cycle"]
    assert numbers["cpu"]["moved"] == 2 and numbers["gpu"]["moved"] == 0 and numbers["cpu"]["n"] == 2
    assert json.loads(JsonFormatter().format(record))["queue_cycle"]["cpu"]["moved"] == 2


def test_the_scheduled_function_runs_iceprod3s_cycle(idle, monkeypatch):
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    ids = idle(2)
    assert handlers.queue_tasks(scheduled_event(), None) == {"enabled": False, "queued": 0}
    monkeypatch.setattr(config, "QUEUE_SCHEDULE", True)
    assert handlers.queue_tasks(scheduled_event(), None) == {"enabled": True, "waiting": 2}
    assert set(statuses(ids).values()) == {"waiting"}
