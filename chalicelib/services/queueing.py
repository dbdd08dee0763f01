"""Queueing: ``waiting`` → ``queued``, highest priority first, each move counted once.

Candidates come from the status/priority index in pages; each is moved by a conditional write
(``status = waiting``) in parallel batches. Only writes that succeeded count, so two concurrent
queue calls never count one task twice, and a task changed meanwhile is skipped.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalicelib import config, db, observability
from chalicelib.models import Task
from chalicelib.services import store
from chalicelib.services.candidates import PriorityCursor
from chalicelib.services.store import attr, value
from chalicelib.services.tasks import TASK_ID_RE

log = logging.getLogger("iceprod_tasks.queue")
DEFAULT_NUM_TASKS = 100
PAGE_SIZE = 500


def _move(task_id: str) -> bool:
    return store.update_if(task_id, store.set_status("queued", task_id), attr("status") == value("waiting"))


def dependencies_met(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The candidates whose ``depends`` are all complete, and the others (one batched read for
    the batch; both protocols' queueing use it). A dependency that does not exist is not complete."""
    depends = {item["task_id"]["S"]: store.document(item).get("depends") or [] for item in items}
    wanted = {d for deps in depends.values() if isinstance(deps, list) for d in deps
              if isinstance(d, str) and TASK_ID_RE.match(d)}
    complete = {i["task_id"]["S"] for i in db.batch_get(Task, sorted(wanted), ["task_id", "status"])
                if i.get("status", {}).get("S") == "complete"}
    ready, blocked = [], []
    for item in items:
        deps = depends[item["task_id"]["S"]]
        met = isinstance(deps, list) and all(isinstance(d, str) and d in complete for d in deps)
        (ready if met else blocked).append(item)
    return ready, blocked


def queue_tasks(num_tasks: int, check_depends: bool = False, max_scanned: int | None = None,
                seconds: float | None = None) -> int:
    """Move up to ``num_tasks`` waiting tasks to queued; how many this call moved.

    Bounded by ``seconds``: no new batch starts after it (every move is whole; the count is exact).
    """
    deadline = time.monotonic() + seconds if seconds is not None else None
    moved = 0
    attributes = store.projection(["task_id", "priority", "depends"])
    cursor = PriorityCursor("waiting", min(PAGE_SIZE, max(num_tasks, 10)), attributes=attributes)
    while moved < num_tasks and (max_scanned is None or cursor.scanned < max_scanned):
        if deadline is not None and time.monotonic() > deadline:
            break
        batch = cursor.take(min(PAGE_SIZE, num_tasks - moved))
        if not batch:
            break
        if check_depends:
            batch, _ = dependencies_met(batch)
        moved += sum(db.parallel(_move, [item["task_id"]["S"] for item in batch]))
    observability.count("QueueMoves", moved)
    return moved


def scheduled_queue() -> int:
    """The periodic job (IceProd's ``queue_tasks``): keep the grid's queue topped up.

    Keeps up to ``QUEUE_TARGET`` tasks queued or processing (read from the stream-maintained
    counters: one GetItem, not a count of 250,000 index items), moving at most
    ``QUEUE_PER_CYCLE`` per run, highest priority first, only tasks whose dependencies are
    complete. Tasks with unmet dependencies stay waiting; the candidates read per run are
    bounded so a backlog of blocked tasks costs little.
    """
    from chalicelib.services import counters

    counts = counters.status_counts()
    active = counts.get("queued", 0) + counts.get("processing", 0)
    room = min(config.QUEUE_TARGET - active, config.QUEUE_PER_CYCLE)
    if room <= 0:
        log.info("queue full: %d active, target %d", active, config.QUEUE_TARGET)
        return 0
    moved = queue_tasks(room, check_depends=True, max_scanned=20 * room + 1000)
    log.info("queued %d tasks (%d active, target %d)", moved, active, config.QUEUE_TARGET)
    return moved


def to_waiting(task_ids: list[str]) -> int:
    """IceProd 3's ``waiting`` action: each listed ``idle`` task becomes ``waiting`` (its status
    only: IceProd 3 leaves ``status_changed`` and ``instance_id``), by a conditional write;
    others and unknown ids are skipped. How many this call moved."""

    def move(task_id: str) -> bool:
        return store.update_if(task_id, store.move_status("waiting", task_id), attr("status") == value("idle"))

    return sum(db.parallel(move, [t for t in dict.fromkeys(task_ids) if TASK_ID_RE.match(t)]))
