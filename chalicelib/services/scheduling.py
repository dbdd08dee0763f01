"""IceProd 3's scheduled queueing (its ``queue_tasks`` job, one cycle), natively on the tables.

IceProd 3 creates tasks ``idle``; its scheduler moves idle tasks whose dependencies are all
``complete`` to ``waiting``, where the grid daemon claims them. One cycle, for GPU tasks and for
the others separately (GPU: ``requirements.gpu`` a number > 0; the others: ≤ 0 or absent):

1. ``n = min(idle, QUEUE_TARGET - waiting, QUEUE_PER_CYCLE)`` (IceProd's ``NTASKS`` 250000 and
   ``NTASKS_PER_CYCLE`` 1000), from the counters; nothing to do when ``n ≤ 0``;
2. idle candidates, highest priority first, from the status index, at most ``5 n`` read
   (IceProd's ``TASKS_GET_FACTOR``), taken ``n - moved`` at a time so that no more are checked
   (and deprioritized) than the cycle needs;
3. a candidate with a dependency that is not ``complete`` gets priority 0 and is skipped, as
   IceProd's scheduler does (it sinks below every runnable task); one that is ready moves to
   ``waiting`` by a conditional write (``status = idle``) that changes only the status and its
   index key: IceProd's ``POST /task_actions/waiting`` does not set ``status_changed``.

Only successful writes count, so concurrent cycles never move or count a task twice. A
dependency that does not exist counts as not complete (IceProd aborts the whole cycle on it,
which lets one broken task stop all queueing). Each cycle writes one log line with its numbers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalicelib import config, db
from chalicelib.services import counters, queueing, store
from chalicelib.services.candidates import PriorityCursor
from chalicelib.services.store import attr, value

log = logging.getLogger("iceprod_tasks.scheduling")
#: Idle tasks read per task to move (IceProd's ``TASKS_GET_FACTOR``).
GET_FACTOR = 5
PAGE_SIZE = 500
Item = dict[str, Any]


def idle_waiting_counts(gpu: bool) -> tuple[int, int]:
    """Idle and waiting tasks of one class (GPU or not), from the stream-kept counters, as
    IceProd 3's cycle reads ``GET /task_counts/status?status=idle|waiting&gpu=...`` (one GetItem)."""
    counts = counters.counts_by_status(None, ("idle", "waiting"), gpu)
    return counts.get("idle", 0), counts.get("waiting", 0)


def is_gpu(item: Item) -> bool:
    """Whether a task needs a GPU: ``requirements.gpu`` is a number > 0, IceProd's ``queue_tasks``
    rule (its count filter, :func:`counters.gpu_class`, says ≥ 1: they differ only for a fraction
    between 0 and 1, which IceProd's integer ``gpu`` never holds; each keeps IceProd's)."""
    gpu = (store.document(item).get("requirements") or {}).get("gpu")
    return isinstance(gpu, int | float) and not isinstance(gpu, bool) and gpu > 0


def _write_if_idle(task_id: str, actions: list[Any]) -> bool:
    return store.update_if(task_id, actions, attr("status") == value("idle"))


def _to_waiting(task_id: str) -> bool:
    """idle → waiting, the status and its index key only (no ``status_changed``)."""
    return _write_if_idle(task_id, store.move_status("waiting", task_id))


def _deprioritize(item: Item) -> bool:
    """Priority 0 for a blocked task still idle (a write only if it is not 0 already)."""
    if float(item["priority"]["N"]) == 0:
        return False
    return _write_if_idle(item["task_id"]["S"], [attr("priority").set(value(0))])


def cycle(gpu: bool, deadline: float) -> dict[str, Any]:
    """One class's cycle; its numbers. No new batch starts after ``deadline`` (monotonic)."""
    idle, waiting = idle_waiting_counts(gpu)
    n = min(idle, config.QUEUE_TARGET - waiting, config.QUEUE_PER_CYCLE)
    numbers = {"idle": idle, "waiting": waiting, "n": max(n, 0), "read": 0, "moved": 0, "deprioritized": 0}
    if n <= 0:
        return numbers
    budget = GET_FACTOR * n
    attributes = store.projection(["task_id", "priority", "depends", "requirements"])
    cursor = PriorityCursor("idle", min(PAGE_SIZE, budget), attributes=attributes)
    while numbers["moved"] < n and numbers["read"] < budget and time.monotonic() < deadline:
        taken = cursor.take(min(PAGE_SIZE, n - numbers["moved"], budget - numbers["read"]))
        if not taken:
            break
        numbers["read"] += len(taken)
        ready, blocked = queueing.dependencies_met([item for item in taken if is_gpu(item) == gpu])
        numbers["deprioritized"] += sum(db.parallel(_deprioritize, blocked))
        numbers["moved"] += sum(db.parallel(_to_waiting, [item["task_id"]["S"] for item in ready]))
    return numbers


def scheduled_cycle() -> int:
    """The scheduled job under IceProd 3's protocol: GPU tasks, then the others; how many moved."""
    deadline = time.monotonic() + config.JOB_WORK_SECONDS
    numbers = {"gpu": cycle(True, deadline), "cpu": cycle(False, deadline)}
    moved = numbers["gpu"]["moved"] + numbers["cpu"]["moved"]
    log.info("queue cycle: %d idle tasks moved to waiting", moved, extra={"fields": {"queue_cycle": numbers}})
    return moved
