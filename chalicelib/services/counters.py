"""Task counts by status, kept by the tasks table's stream, exactly once.

Count items of the bookkeeping table (see :mod:`chalicelib.models.bookkeeping`): the whole
table, each dataset, each (dataset, task name); one number attribute a status, and one a status
and gpu class (``<status>#gpu``, ``<status>#cpu``), so that IceProd 3's ``gpu`` filter is answered
from the same item instead of a scan. A stream record's old and new images give the deltas
(created, deleted, status / dataset / name / gpu class changed: a change of ``requirements.gpu``
moves a task between classes, so the images are compared whole). A batch of records is applied
in as few transactions as fit (100 items each): every counter item touched by a transaction is
written once with the summed deltas of its records (the "all tasks" counter is one hot key:
one write per transaction, not per record), and every record writes a marker
``applied#<eventID>`` with the condition that it does not exist yet. A redelivered record's
marker fails its condition, the transaction is cancelled, and the batch is re-packed without
the records already applied; a batch that failed halfway resumes where it stopped. Markers
expire (TTL) after ``MARKER_TTL_SECONDS``, longer than the stream's 24 h retention. A record
that changes no count writes nothing.

Lambda events carry no shard id, and Lambda may bisect and retry batches, so a per-shard
checkpoint could not tell an applied record from a new one; per-record markers can.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter as Tally
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from chalicelib import config, db
from chalicelib.models import Bookkeeping, Task, bookkeeping
from chalicelib.models.bookkeeping import CPU, GPU, GPU_CLASSES, Key, count_attribute
from chalicelib.models.tasks import STATUSES
from chalicelib.services import dataset_index

log = logging.getLogger("iceprod_tasks.counters")
MAX_TRANSACTION = 100
#: Every number attribute of a count item: each status's total and its gpu classes.
COUNT_ATTRIBUTES = tuple(count_attribute(s, c) for s in STATUSES for c in (None, *GPU_CLASSES))


@dataclass
class Delta:
    """What one counter item gains: per-status amounts, and the name's ordering data."""

    counts: Tally = field(default_factory=Tally)
    name: str | None = None
    task_index: int | None = None

    def merge(self, other: Delta) -> None:
        self.counts.update(other.counts)
        self.name = self.name if self.name is not None else other.name
        if other.task_index is not None and (self.task_index is None or other.task_index < self.task_index):
            self.task_index = other.task_index

    @property
    def empty(self) -> bool:
        return not any(self.counts.values())


def gpu_class(image: dict[str, Any]) -> str | None:
    """The gpu class of a task item, as IceProd 3's ``gpu`` count filter selects it: ``"gpu"``
    when ``requirements.gpu`` is a number >= 1, ``"cpu"`` when it is absent or a number <= 0,
    None (counted by neither filter: IceProd's quirk) for null, a non-number or a number between
    0 and 1. Requirements that are not a map have no ``gpu`` (as in MongoDB); DynamoDB Local's
    stream images write an empty map as a typeless ``{}``, which reads the same way."""
    requirements = image.get("requirements", {}).get("M") or {}
    gpu = requirements.get("gpu")
    if gpu is None:
        return CPU
    if "N" not in gpu:
        return None
    number = Decimal(gpu["N"])
    return GPU if number >= 1 else CPU if number <= 0 else None


def _facts(image: dict[str, Any] | None) -> tuple[str, str, str | None, int | None, str | None] | None:
    """(status, dataset_id, name, task_index, gpu class) of a stream image, or None (no task)."""
    if not image:
        return None
    status = image.get("status", {}).get("S")
    dataset = image.get("dataset_id", {}).get("S")
    if status not in STATUSES or dataset is None:
        return None
    name = image.get("name", {}).get("S")
    index = image.get("task_index", {}).get("N")
    return status, dataset, name, int(float(index)) if index is not None else None, gpu_class(image)


def deltas(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> dict[Key, Delta]:
    """The counter changes of one stream record (empty when no count changes)."""
    out: dict[Key, Delta] = {}
    for image, sign in ((old_image, -1), (new_image, 1)):
        facts = _facts(image)
        if facts is None:
            continue
        status, dataset, name, index, kind = facts
        keys = [bookkeeping.ALL_COUNTS, bookkeeping.dataset_counts(dataset)]
        if name is not None:
            keys.append(bookkeeping.name_counts(dataset, name))
        for key in keys:
            delta = out.setdefault(key, Delta())
            delta.counts[status] += sign
            if kind is not None:
                delta.counts[count_attribute(status, kind)] += sign
            if bookkeeping.is_name_counts(key) and sign > 0:
                delta.name, delta.task_index = name, index
    for image, sign in ((old_image, -1), (new_image, 1)):
        failed = _failed_class(image)
        if failed is not None:
            out.setdefault(bookkeeping.failure_counts(failed[0]), Delta()).counts[failed[1]] += sign
    return {k: d for k, d in out.items() if not d.empty}


def _failed_class(image: dict[str, Any] | None) -> tuple[str, str] | None:
    """(dataset_id, class of its last failure) of a ``failed`` task's image, else None."""
    facts = _facts(image)
    if facts is None or facts[0] != "failed":
        return None
    return facts[1], (image or {}).get("failure_class", {}).get("S", "other")


@dataclass
class Record:
    event_id: str
    changes: dict[Key, Delta]
    entered: str | None = None  # the dataset its task entered, listed by ``GET /datasets``


def _entered(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> str | None:
    old, new = _facts(old_image), _facts(new_image)
    return dataset_index.entered(old[1] if old else None, new[1] if new else None)


def _index_keys(record: Record) -> set[Key]:
    return {bookkeeping.dataset_listing(record.entered)} if record.entered is not None else set()


def _records(events: Iterable[dict[str, Any]]) -> list[Record]:
    out = []
    for event in events:
        images = event.get("dynamodb", {})
        changes = deltas(images.get("OldImage"), images.get("NewImage"))
        if changes:
            out.append(Record(event["eventID"], changes, _entered(images.get("OldImage"), images.get("NewImage"))))
    return out


def _pack(records: list[Record]) -> list[Record]:
    """The longest prefix of ``records`` whose markers and counter items fit one transaction."""
    chunk: list[Record] = []
    keys: set[Key] = set()
    for record in records:
        new_keys = keys | set(record.changes) | _index_keys(record)
        if len(chunk) + 1 + len(new_keys) > MAX_TRANSACTION:
            break
        chunk.append(record)
        keys = new_keys
    return chunk


def _counter_actions(delta: Delta) -> list[Action]:
    """ADD every non-zero amount (of a status, or of a status and gpu class); SET the name, and
    its ``task_index`` if it has none yet."""
    actions: list[Action] = [Path([attribute]).add({"N": str(amount)})
                             for attribute, amount in sorted(delta.counts.items()) if amount]
    if delta.name is not None:
        actions.append(Path(["name"]).set({"S": delta.name}))
        if delta.task_index is not None:
            task_index = Path(["task_index"])
            actions.append(task_index.set(task_index | {"N": str(delta.task_index)}))
    return actions


def _apply_chunk(chunk: list[Record]) -> None:
    """Apply ``chunk`` in one transaction: its markers first (so the i-th cancellation reason
    is the i-th record's), then each counter item touched, once, with the summed deltas."""
    expires = {"N": str(int(time.time()) + config.MARKER_TTL_SECONDS)}
    markers = [db.put_request(Bookkeeping, *bookkeeping.applied_marker(r.event_id), attributes={"ttl": expires},
                              condition=Bookkeeping.pk.does_not_exist()) for r in chunk]
    summed: dict[Key, Delta] = {}
    for record in chunk:
        for key, delta in record.changes.items():
            summed.setdefault(key, Delta()).merge(delta)
    updates = [db.update_request(Bookkeeping, *k, actions=_counter_actions(d)) for k, d in summed.items()
               if not d.empty]
    listings = [dataset_index.index_put(d) for d in sorted({r.entered for r in chunk if r.entered is not None})]
    db.transact_write(Bookkeeping, puts=markers + listings, updates=updates)  # markers first: reasons map to them


def apply_stream_records(events: list[dict[str, Any]]) -> int:
    """Apply a batch of stream records to the counters, each exactly once; how many applied."""
    pending = _records(events)
    applied = 0
    conflicts = 0
    while pending:
        chunk = _pack(pending)
        try:
            _apply_chunk(chunk)
        except Exception as error:
            done = _already_applied(error, chunk)
            if done is None:
                if db.error_code(error) != "TransactionCanceledException" or conflicts > 20:
                    raise
                conflicts += 1  # a concurrent transaction on a counter (AWS): back off, retry
                time.sleep(min(1.0, 0.02 * 2 ** min(conflicts, 6)) * random.random())
                continue
            log.info("skipping %d stream records already counted", len(done))
            pending = [r for r in pending if r.event_id not in done]
            continue
        applied += len(chunk)
        pending = pending[len(chunk):]
    return applied


def _already_applied(error: Exception, chunk: list[Record]) -> set[str] | None:
    """The event ids whose marker condition failed, if that is why the transaction failed."""
    reasons = list(getattr(error, "cancellation_reasons", None) or [])
    done = {
        chunk[i].event_id for i, reason in enumerate(reasons[: len(chunk)])
        if reason is not None and reason.code == "ConditionalCheckFailed"
    }
    return done or None


def _get(key: Key) -> dict[str, Any]:
    item = db.get_item(Bookkeeping, *key) or {}
    return {k: int(v["N"]) for k, v in item.items() if k in STATUSES and "N" in v}


def status_counts() -> dict[str, int]:
    """``GET /task_counts/status``: every status, zeros included, in display order."""
    counts = _get(bookkeeping.ALL_COUNTS)
    return {s: counts.get(s, 0) for s in STATUSES}


def dataset_status_counts(dataset_id: str) -> dict[str, int]:
    """``GET /datasets/{id}/task_counts/status``: non-zero statuses, in display order."""
    counts = _get(bookkeeping.dataset_counts(dataset_id))
    return {s: counts[s] for s in STATUSES if counts.get(s)}


def dataset_name_status_counts(dataset_id: str, order: Sequence[str] = STATUSES) -> dict[str, dict[str, int]]:
    """``GET /datasets/{id}/task_counts/name_status``: names by task_index, non-zero statuses in
    ``order`` (a protocol's :func:`display_order`)."""
    rows = []
    names = Bookkeeping.sk.startswith(bookkeeping.NAME_COUNTS_PREFIX)
    for item in db.query_all(Bookkeeping, bookkeeping.dataset_partition(dataset_id), range_key_condition=names):
        counts = {s: int(item[s]["N"]) for s in order if s in item and int(item[s]["N"])}
        if counts:
            index = int(float(item["task_index"]["N"])) if "task_index" in item else None
            rows.append((index is None, index or 0, item["name"]["S"], counts))
    rows.sort(key=lambda r: r[:3])
    return {name: counts for _, _, name, counts in rows}


def display_order(statuses: Sequence[str]) -> list[str]:
    """Every counted status in a protocol's display order: ``statuses``, then any other (a task
    left in another protocol's status sorts last, as IceProd 3 sorts it)."""
    return [*statuses, *(s for s in STATUSES if s not in statuses)]


def counts_by_status(dataset_id: str | None, statuses: Sequence[str], gpu: bool | None = None) -> dict[str, int]:
    """IceProd 3's ``task_counts/status`` routes: the non-zero counts of ``statuses`` (in that
    order), of every task or of one dataset's, only of the gpu class ``gpu`` selects when
    given. One GetItem, whatever the number of tasks: the classes are counted by the stream."""
    key = bookkeeping.ALL_COUNTS if dataset_id is None else bookkeeping.dataset_counts(dataset_id)
    item = db.get_item(Bookkeeping, *key) or {}
    kind = None if gpu is None else GPU if gpu else CPU
    counts = {s: int(item.get(count_attribute(s, kind), {}).get("N", 0)) for s in statuses}
    return {s: n for s, n in counts.items() if n}


def _numbers(key: Key, item: dict[str, Any]) -> dict[str, int]:
    """The counts a counter item holds: statuses, or failure classes (a dataset's failures item)."""
    if bookkeeping.is_failure_counts(key):
        return {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "ttl"}
    return {a: int(item[a]["N"]) for a in COUNT_ATTRIBUTES if a in item}


def dataset_failure_counts(dataset_id: str) -> dict[str, int]:
    """``GET /datasets/{id}/task_counts/failure_reasons``: the dataset's ``failed`` tasks by the
    class of their last failure (non-zero classes), one GetItem."""
    key = bookkeeping.failure_counts(dataset_id)
    counts = _numbers(key, db.get_item(Bookkeeping, *key) or {})
    return {k: n for k, n in sorted(counts.items()) if n}


def recount() -> dict[Key, Delta]:
    """The counters as they should be, from a scan of the tasks table (with the only part of
    ``requirements`` a count depends on)."""
    truth: dict[Key, Delta] = {}
    attributes = ["status", "dataset_id", "name", "task_index", Path(["requirements", "gpu"]), "failure_class"]
    for item in db.scan_all(Task, attributes_to_get=attributes):
        for key, delta in deltas(None, item).items():
            truth.setdefault(key, Delta()).merge(delta)
    return truth


def reconcile() -> dict[Key, dict[str, int]]:
    """Recompute every counter from the tasks and repair drift; what was fixed (key → delta).

    Writes only the differences, by ADD, so stream records applied while it runs are not lost
    (a record landing between the scan and the fix can make a repair wrong by that record;
    the next run corrects it).
    """
    truth = recount()
    stored: dict[Key, dict[str, int]] = {}
    for item in db.scan_all(Bookkeeping):
        key = (item["pk"]["S"], item["sk"]["S"])
        if bookkeeping.is_counts(key):
            stored[key] = _numbers(key, item)
    fixes: dict[Key, dict[str, int]] = {}
    for key in set(truth) | set(stored):
        want = truth.get(key, Delta()).counts
        have = stored.get(key, {})
        diff = {s: want.get(s, 0) - have.get(s, 0) for s in sorted(set(want) | set(have))
                if want.get(s, 0) != have.get(s, 0)}
        if diff:
            fixes[key] = diff
            delta = Delta(Tally(diff), truth.get(key, Delta()).name, truth.get(key, Delta()).task_index)
            db.update_item(Bookkeeping, *key, actions=_counter_actions(delta))
            log.warning("reconcile fixed %s: %s", key, diff)
    with_tasks = {bookkeeping.counted_dataset(k) for k, delta in truth.items() if not delta.empty}
    dataset_index.reconcile(with_tasks - {None})
    return fixes
