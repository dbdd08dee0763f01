"""The grid's janitor: takes back claims whose lease passed, and returns ``reset`` tasks to the queue.

One run (a scheduled Lambda, or a thread of ``make run``) does, within ``JANITOR_MAX_TASKS``
moves and ``JANITOR_MAX_SECONDS``:

1. **Reap**: Query every shard of the sparse ``leases`` index for ``_lease < now``: only expired
   claims are read, whatever the number of running tasks. Each is moved by one conditional
   UpdateItem whose condition is the lease that expired (the deadline and ``instance_id`` read
   from the index, status ``processing``): a heartbeat or a report that won the race wins and
   the janitor changes nothing. IceProd 2: → ``reset``; IceProd 3: → ``waiting`` (its reset),
   ``instance_id`` "" (both: ``failures + 1``, the lease removed, the reason "lease expired"
   kept in ``failure_class`` / ``failure_reason``). With IceProd 3's opt-in cap
   (``MAX_FAILURES_PROTOCOL3``) a reaped task over the cap goes to ``failed`` instead.
2. **Retry** (IceProd 2): every ``reset`` task (status index) → ``failed`` once ``failures`` >
   ``MAX_FAILURES``, else ``suspended`` in a dataset marked debug, else ``waiting``; conditioned
   on ``status = reset`` and the ``failures`` read.
   **Cap** (IceProd 3, only with ``MAX_FAILURES_PROTOCOL3`` > 0): the ``waiting`` tasks with
   ``failures`` over the cap (a grid reset brought them back) → ``failed``; the sweep reads the
   status index with the cap as a filter, at most ``JANITOR_SWEEP_ITEMS`` items a run, and
   resumes from where the last run stopped (a cursor in the bookkeeping table).

Every move is one conditional write, so a run is idempotent and a run killed anywhere leaves
each task moved or not: the next run reads what is still expired or ``reset`` and goes on.
One JSON log line per task moved; the run's counts go out as one EMF record (route
``janitor``): ``LeasesExpired``, ``Retried``, ``Suspended``, ``FailedForGood``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.expressions.update import Action

from chalicelib import config, db, observability, protocol
from chalicelib.models import Bookkeeping, Task, bookkeeping
from chalicelib.models.tasks import LEASE, lease_keys, status_keys
from chalicelib.services import leases, lifecycle, store
from chalicelib.services.store import attr, value

log = logging.getLogger("iceprod_tasks.janitor")
PAGE = 100


@dataclass
class Run:
    """One run's bounds and tallies."""

    now: int
    deadline: float = field(default_factory=lambda: time.monotonic() + config.JANITOR_MAX_SECONDS)
    moved: int = 0
    read: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    debug: dict[str, bool] = field(default_factory=dict)

    def left(self) -> bool:
        return self.moved < config.JANITOR_MAX_TASKS and time.monotonic() < self.deadline

    def tally(self, metric: str) -> None:
        self.counts[metric] = self.counts.get(metric, 0) + 1
        observability.count(metric)


def run() -> dict[str, int]:
    """One janitor run; its tallies (also emitted as metrics)."""
    token = observability.start_request(f"janitor-{uuid.uuid4()}", "janitor", "SCHEDULE")
    status = 500
    try:
        state = Run(now=int(leases.clock()))
        reap(state)
        if protocol.CURRENT is protocol.ICEPROD3:
            if config.MAX_FAILURES_PROTOCOL3 > 0:
                cap_waiting(state)
        else:
            retry_resets(state)
        status = 200
        return {**state.counts, "moved": state.moved, "read": state.read}
    finally:
        observability.end_request(token, status)


# --- reap ----------------------------------------------------------------------------------

def _each(state: Run, keys: list[str], handle: Callable[[Run, dict[str, Any]], None], **query: Any) -> None:
    """Hand every item of these index partitions to ``handle``, a page at a time, while the run's
    bounds last (each item read counts)."""
    for key in keys:
        start = None
        while state.left():
            page = db.query(Task, key, limit=PAGE, exclusive_start_key=start, **query)
            items = page.get("Items", [])
            state.read += len(items)
            for item in items:
                if not state.left():
                    return
                handle(state, item)
            start = page.get("LastEvaluatedKey")
            if not start:
                break


def reap(state: Run) -> None:
    """Take back every claim whose lease passed before ``state.now`` (within the run's bounds)."""
    _each(state, lease_keys(), _reap_one, index_name=Task.by_lease.Meta.index_name,
          range_key_condition=attr(LEASE) < value(state.now))


def _reap_one(state: Run, item: dict[str, Any]) -> None:
    task_id = item["task_id"]["S"]
    expired = leases.lease_of(item)
    holder = item.get("instance_id", {}).get("S", "")
    failures = int(float(item.get("failures", {}).get("N", "0"))) + 1
    iceprod3 = protocol.CURRENT is protocol.ICEPROD3
    target = "waiting" if iceprod3 else "reset"
    if iceprod3 and 0 < config.MAX_FAILURES_PROTOCOL3 < failures:
        target = "failed"
    actions = [*store.set_status(target, task_id), attr("failures").add(value(1)), attr("instance_id").set(value("")),
               *lifecycle.failure_fields(lifecycle.LEASE_EXPIRED), *leases.end()]
    # The holder as read (a task imported or created without an ``instance_id`` has none).
    held = leases.held_by(holder) if "instance_id" in item else attr("instance_id").does_not_exist()
    condition = (attr(LEASE) == value(expired)) & held & (attr("status") == value("processing"))
    if _move(task_id, actions, condition):
        state.moved += 1
        state.tally("LeasesExpired")
        if target == "failed":
            state.tally("FailedForGood")
        _log(task_id, item, "processing", target, lifecycle.LEASE_EXPIRED, failures=failures, lease=expired)


# --- IceProd 2: reset → waiting / suspended / failed ------------------------------------------

def retry_resets(state: Run) -> None:
    """Move every ``reset`` task on (within the run's bounds)."""
    _each(state, status_keys("reset"), _retry_one, index_name=Task.by_status.Meta.index_name)


def _retry_one(state: Run, item: dict[str, Any]) -> None:
    task_id = item["task_id"]["S"]
    failures_raw = item.get("failures", {}).get("N")
    failures = int(float(failures_raw)) if failures_raw is not None else 0
    dataset_id = item.get("dataset_id", {}).get("S", "")
    if failures > config.MAX_FAILURES:
        target, metric, why = "failed", "FailedForGood", f"failed {failures} times (> MAX_FAILURES)"
    elif is_debug(dataset_id, state.debug):
        target, metric, why = "suspended", "Suspended", "debug dataset"
    else:
        target, metric, why = "waiting", "Retried", "retry"
    condition = attr("status") == value("reset")
    counted = attr("failures")
    condition &= (counted == value(failures)) if failures_raw is not None else counted.does_not_exist()
    if _move(task_id, [*store.set_status(target, task_id), *leases.end()], condition):
        state.moved += 1
        state.tally(metric)
        _log(task_id, item, "reset", target, why, failures=failures)


# --- IceProd 3: the opt-in retry cap ---------------------------------------------------------

def cap_waiting(state: Run) -> None:
    """``waiting`` tasks over ``MAX_FAILURES_PROTOCOL3`` → ``failed``, resuming each shard's sweep."""
    cap = config.MAX_FAILURES_PROTOCOL3
    budget = config.JANITOR_SWEEP_ITEMS
    for key in status_keys("waiting"):
        cursor_key = bookkeeping.sweep_cursor(key)
        start = _cursor(cursor_key)
        while state.left() and budget > 0:
            page = db.query(Task, key, index_name=Task.by_status.Meta.index_name, limit=min(PAGE, budget),
                            filter_condition=attr("failures") > value(cap), exclusive_start_key=start)
            budget -= page.get("ScannedCount", 0)
            state.read += page.get("ScannedCount", 0)
            for item in page.get("Items", []):
                failures = int(float(item["failures"]["N"]))
                condition = (attr("status") == value("waiting")) & (attr("failures") == value(failures))
                if _move(item["task_id"]["S"], store.set_status("failed", item["task_id"]["S"]), condition):
                    state.moved += 1
                    state.tally("FailedForGood")
                    _log(item["task_id"]["S"], item, "waiting", "failed", f"failed {failures} times "
                         "(> MAX_FAILURES_PROTOCOL3)", failures=failures)
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        _save_cursor(cursor_key, start)


def _cursor(key: bookkeeping.Key) -> dict[str, Any] | None:
    item = db.get_item(Bookkeeping, *key, consistent_read=True)
    return json.loads(item["cursor"]["S"]) if item and "cursor" in item else None


def _save_cursor(key: bookkeeping.Key, start: dict[str, Any] | None) -> None:
    if start is None:
        db.delete_item(Bookkeeping, *key)
    else:
        db.put_item(Bookkeeping, *key, attributes={"cursor": {"S": json.dumps(start)}})


# --- shared ------------------------------------------------------------------------------

def _move(task_id: str, actions: list[Action], condition: Any) -> bool:
    """One conditional write; False when the task changed since it was read (someone else won)."""
    return store.update_if(task_id, actions, condition)


def _log(task_id: str, item: dict[str, Any], was: str, now: str, reason: str, **extra: Any) -> None:
    log.info(json.dumps({"event": "janitor_move", "task_id": task_id,
                         "dataset_id": item.get("dataset_id", {}).get("S"), "from": was, "to": now,
                         "reason": reason, **extra}))


# --- the per-dataset debug flag ---------------------------------------------------------------

def is_debug(dataset_id: str, cache: dict[str, bool] | None = None) -> bool:
    """Whether a dataset is marked debug (one read per dataset per run)."""
    if cache is not None and dataset_id in cache:
        return cache[dataset_id]
    debug = get_settings(dataset_id)["debug"]
    if cache is not None:
        cache[dataset_id] = debug
    return debug


def get_settings(dataset_id: str) -> dict[str, Any]:
    item = db.get_item(Bookkeeping, *bookkeeping.dataset_settings(dataset_id), consistent_read=True) or {}
    return {"debug": bool(item.get("debug", {}).get("BOOL", False))}


def set_settings(dataset_id: str, debug: bool) -> dict[str, Any]:
    db.put_item(Bookkeeping, *bookkeeping.dataset_settings(dataset_id), attributes={"debug": {"BOOL": debug}})
    return {"debug": debug}
