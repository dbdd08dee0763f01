"""Storing a batch of converted records: one batched read, then batched writes.

BatchWriteItem takes no conditions, so "skip a record that is already there, report one that
differs" needs the stored items first: one BatchGetItem per batch of 100 (the same keys), then
the new items in BatchWriteItems of 25, unprocessed items retried with backoff (``db``'s
adapters, so they reach whatever endpoint the service uses). Tasks, task stats and access
records are compared so; files, whose keys come from their ObjectIds, are written.

A task is written as the service writes one: with the write stamp (a bulk job running meanwhile
compares it) and, when it is ``processing``, a lease from the time of the import, so the janitor
takes it back if its pilot or grid job is gone. Under both protocols the service's lease starts
at ``processing`` (IceProd 3: the grid's processing report; its ``queued`` tasks hold an
``instance_id`` but no lease, being left to the grid's cross-check) and the janitor takes back
only ``processing`` tasks, so an imported task gets a lease exactly when a live one would hold
it. A re-import compares tasks without those stamps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pynamodb.models import Model

from chalicelib import codec, db
from chalicelib.models import Bookkeeping, DatasetFile, Task, TaskStat
from chalicelib.models.tasks import INTERNAL, LEASE, LEASE_KEY, MODIFIED, lease_key
from chalicelib.services import leases, store
from iceprod_ops.importer.convert import Converted

BATCH = 100
#: What the import writes from the time of the write, not from the source.
STAMPS = frozenset({MODIFIED, LEASE, LEASE_KEY})


@dataclass
class Entry:
    """A converted record and where it came from (its index in its source file)."""

    position: int
    record: Converted


@dataclass
class Outcome:
    """What became of one batch: tallies, and the records to report."""

    outcomes: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    reports: list[dict[str, Any]] = field(default_factory=list)


def same(stored: dict[str, Any], new: dict[str, Any]) -> bool:
    """Equal as documents, stamps aside (DynamoDB normalises number text, so compare decoded values)."""
    return codec.decode_item(stored, STAMPS) == codec.decode_item(new, STAMPS)


def differing_keys(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The record's keys that differ (or a task's derived index keys, e.g. after a shard change)."""
    old, fresh = codec.decode_item(stored, INTERNAL), codec.decode_item(new, INTERNAL)
    return sorted(k for k in old.keys() | fresh.keys() if old.get(k) != fresh.get(k)) or ["its index keys"]


def stamped(item: dict[str, Any]) -> dict[str, Any]:
    """A task item as written: the write stamp, and a lease when it is ``processing``."""
    out = {**item, MODIFIED: store.value(store.now_ms())}
    if item.get("status", {}).get("S") == "processing":
        until = leases.deadline(store.document(item).get("requirements"))
        out[LEASE], out[LEASE_KEY] = store.value(until), store.value(lease_key(item["task_id"]["S"]))
    return out


@dataclass(frozen=True)
class Compared:
    """A kind of record that is read back before it is written: its table, its key in the table
    (from its item), the name of its key in reports, and what is added when it is written."""

    model: type[Model]
    address: Callable[[dict[str, Any]], str | tuple[str, str]]
    label: str
    noun: str
    written: Callable[[dict[str, Any]], dict[str, Any]] = dict


def store_compared(kind: Compared, batch: list[Entry], replace: bool) -> Outcome:
    """New records are written, identical ones skipped, differing ones reported (or replaced)."""
    wanted = list(dict.fromkeys(kind.address(e.record.item) for e in batch))
    stored = {kind.address(i): i for i in db.batch_get(kind.model, wanted)}
    outcome = Outcome()
    writes: dict[str | tuple[str, str], dict[str, Any]] = {}
    for entry in batch:
        record, address = entry.record, kind.address(entry.record.item)
        first, old = writes.get(address), stored.get(address)
        if first is not None:
            verdict = "same" if same(first, record.item) else "duplicate"
        elif old is None:
            verdict = "new"
        elif same(old, record.item):
            verdict = "same"
        else:
            verdict = "replaced" if replace else "differs"
            outcome.reports.append({"position": entry.position, "kind": verdict, kind.label: record.key,
                                    "reason": f"differs from the stored {kind.noun} in "
                                              f"{', '.join(differing_keys(old, record.item))}"})
        if verdict == "duplicate":
            outcome.reports.append({"position": entry.position, "kind": "rejected", kind.label: record.key,
                                    "reason": f"{kind.label} appears earlier in the source with other content"})
            outcome.outcomes["rejected"] += 1
            continue
        if verdict in ("new", "replaced"):
            writes[address] = record.item
        outcome.outcomes[verdict] += 1
        if first is None:
            outcome.counts[f"{record.dataset_id}|{record.status}"] += 1
    db.batch_write(kind.model, [kind.written(item) for item in writes.values()])
    return outcome


def store_files(batch: list[Entry], replace: bool) -> Outcome:
    """File items have keys derived from their ObjectIds: writing one twice writes it the same,
    so there is nothing to compare and ``replace`` changes nothing."""
    outcome = Outcome()
    unique = {(e.record.dataset_id, e.record.key): e.record for e in batch}
    db.batch_write(DatasetFile, [r.item for r in unique.values()])
    if batch:
        outcome.outcomes["written"] += len(batch)
    outcome.counts.update(r.dataset_id for r in unique.values())
    return outcome


TASKS = Compared(Task, lambda item: item["task_id"]["S"], "task_id", "task", stamped)
TASK_STATS = Compared(TaskStat, lambda item: (item["dataset_id"]["S"], item["stat_key"]["S"]), "stat_key",
                      "task stat")
ACCESS_RECORDS = Compared(Bookkeeping, lambda item: (item["pk"]["S"], item["sk"]["S"]), "dataset_id",
                          "access record")
#: How each collection's records are stored: ``(entries, replace) -> Outcome``.
STORERS: dict[str, Callable[[list[Entry], bool], Outcome]] = {
    "tasks": partial(store_compared, TASKS),
    "dataset_files": store_files,
    "task_stats": partial(store_compared, TASK_STATS),
    "attr_auths": partial(store_compared, ACCESS_RECORDS),
}
