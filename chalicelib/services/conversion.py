"""Converting tables of IceProd 2 data to IceProd 3's protocol (``make convert-protocol``).

Statuses map as IceProd 3 reads them: ``waiting`` → ``idle`` (IceProd 2's waiting tasks have
not been checked against their dependencies; IceProd 3's scheduler checks them again),
``queued``, ``processing``, ``reset`` and ``resume`` → ``waiting`` (the grid daemon claims them
again: their claim ends, ``instance_id`` ``""`` and no lease), every other status unchanged;
``instance_id`` becomes ``""`` where a task has none.
``status_changed`` is kept: the conversion is not a status change a route made, and IceProd 3
itself does not stamp its idle → waiting and claim moves.

* **Once per task.** Each task is one conditional UpdateItem that also stamps it converted
  (``_p3``), on the condition that it is not stamped and still has the status read. A run
  interrupted mid-page and started again finds the stamp and skips the task: a ``queued`` task
  made ``waiting`` never becomes ``idle`` on a second pass.
* **Resumable.** The Scan's position and the counts are saved in the bookkeeping table
  (``("protocol", "conversion")``) after each page; a new run starts where the last one stopped.
* **Refusals meanwhile.** The marker says ``converting`` from the first write on, so services
  of either protocol refuse the tables until the end; then the marker says IceProd 3 and the
  checkpoint goes, in one transaction.
* **Counters.** The stream counts the conversion's writes like any other; the run waits (up to
  ``settle_seconds``) until the all-tasks counter matches a recount, then reconciles every
  counter. A record the stream applies after that is corrected by the next reconciliation.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path

from chalicelib import db
from chalicelib.models import Bookkeeping, Task, bookkeeping
from chalicelib.models.tasks import CONVERTED, STATUSES
from chalicelib.services import counters, leases, protocol_marker, store
from chalicelib.services.store import attr, value

#: IceProd 2 status → IceProd 3 status (others unchanged).
MAPPING = {"waiting": "idle", "queued": "waiting", "processing": "waiting", "reset": "waiting", "resume": "waiting"}
PAGE_SIZE = 100
OUTCOMES = ("converted", "unchanged", "skipped")
_READ = ["task_id", "status", "instance_id", CONVERTED]


@dataclass
class Report:
    """What a run did (``run``) and what every run of this conversion did (``total``)."""

    run: Counter = field(default_factory=Counter)
    total: Counter = field(default_factory=Counter)
    #: The tables already held IceProd 3's data when the run started.
    already: bool = False
    #: Whether the stream had counted the conversion before reconciliation, and what it fixed.
    settled: bool = True
    fixed: int = 0


def target(status: str | None) -> str | None:
    return MAPPING.get(status, status) if status is not None else None


def outcome(item: dict[str, Any]) -> str:
    """What converting this task does: ``converted`` (its status changes), ``unchanged`` (only
    ``instance_id`` and the stamp), ``skipped`` (converted already)."""
    if CONVERTED in item:
        return "skipped"
    status = item.get("status", {}).get("S")
    return "converted" if target(status) != status else "unchanged"


def convert_task(item: dict[str, Any]) -> str:
    """Convert one task read by the Scan with one conditional write; its outcome (``skipped``
    when it was stamped, or changed or deleted since the read)."""
    planned = outcome(item)
    if planned == "skipped":
        return planned
    task_id = item["task_id"]["S"]
    status = item.get("status", {}).get("S")
    actions = [attr(CONVERTED).set(value(1))]
    new = target(status)
    if planned == "converted":
        # A claim taken back to ``waiting`` ends: no holder, no lease for the janitor to expire.
        actions += [*store.move_status(new, task_id), *leases.end()]
    if "instance_id" not in item or new == "waiting":
        actions.append(attr("instance_id").set(value("")))
    same: Condition = attr("status") == value(status) if status is not None else attr("status").does_not_exist()
    if not store.update_if(task_id, actions, attr(CONVERTED).does_not_exist() & attr("task_id").exists() & same):
        return "skipped"
    return planned


def _begin() -> bool:
    """Mark the tables as being converted (IceProd 2 data, marked or not); False if they already
    hold IceProd 3's."""
    version = Path([protocol_marker.VERSION])
    return db.update_if(Bookkeeping, *bookkeeping.PROTOCOL_MARKER,
                        actions=[version.set({"S": "2"}), Path([protocol_marker.CONVERTING]).set({"S": "3"})],
                        condition=Bookkeeping.pk.does_not_exist() | (version == {"S": "2"}))


def _checkpoint() -> tuple[str | None, bool, Counter]:
    """Where the Scan resumes (a task id), whether it finished, and the counts so far."""
    item = db.get_item(Bookkeeping, *bookkeeping.CONVERSION_CHECKPOINT, consistent_read=True) or {}
    counts = Counter({o: int(item[o]["N"]) for o in OUTCOMES if o in item})
    return item.get("start", {}).get("S"), "finished" in item, counts


def _save(start: str | None, counts: Counter) -> None:
    """After a page: the next start (None: the Scan is finished) and the page's counts (ADD)."""
    position = Path(["start"]).set({"S": start}) if start else Path(["finished"]).set({"N": "1"})
    actions = [position, *(Path([o]).add({"N": str(counts[o])}) for o in OUTCOMES)]
    db.update_item(Bookkeeping, *bookkeeping.CONVERSION_CHECKPOINT, actions=actions)


def _scan(start: str | None, page_size: int, report: Report) -> None:
    """Convert the tasks page by page from ``start``, checkpointing after each page."""
    while True:
        page = db.scan(Task, limit=page_size, attributes_to_get=_READ, consistent_read=True,
                       exclusive_start_key={"task_id": {"S": start}} if start else None)
        counts = Counter(db.parallel(convert_task, page.get("Items", [])))
        start = page.get("LastEvaluatedKey", {}).get("task_id", {}).get("S")
        _save(start, counts)
        report.run.update(counts)
        if start is None:
            return


def _settle(seconds: float) -> bool:
    """Wait until the stream has counted the conversion (the all-tasks counter matches a recount)."""
    deadline = time.monotonic() + seconds
    while True:
        truth = counters.recount().get(bookkeeping.ALL_COUNTS, counters.Delta()).counts
        stored = counters.status_counts()
        if all(stored.get(s, 0) == truth.get(s, 0) for s in STATUSES):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def _finish() -> None:
    """The marker says IceProd 3 and the checkpoint goes, together."""
    version = Path([protocol_marker.VERSION])
    converting = Path([protocol_marker.CONVERTING])
    marker = db.update_request(Bookkeeping, *bookkeeping.PROTOCOL_MARKER,
                               actions=[version.set({"S": "3"}), converting.remove()],
                               condition=converting == {"S": "3"})
    db.transact_write(Bookkeeping, updates=[marker],
                      deletes=[db.delete_request(Bookkeeping, *bookkeeping.CONVERSION_CHECKPOINT)])


def convert(page_size: int = PAGE_SIZE, settle_seconds: float = 60.0) -> Report:
    """Convert the tables to IceProd 3's protocol, resuming an interrupted run."""
    report = Report()
    if not _begin():
        report.already = True
        return report
    start, finished, _ = _checkpoint()
    if not finished:
        _scan(start, page_size, report)
    report.total = _checkpoint()[2]
    report.settled = _settle(settle_seconds)
    report.fixed = len(counters.reconcile())
    _finish()
    return report


def dry_run() -> Report:
    """What a conversion would do now, task by task; writes nothing."""
    report = Report()
    version, converting = protocol_marker.marker()
    report.already = version == "3" and converting is None
    for item in db.scan_all(Task, attributes_to_get=_READ):
        report.run[outcome(item)] += 1
    return report
