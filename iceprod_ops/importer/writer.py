"""Storing a batch of converted records: one batched read, then batched writes.

BatchWriteItem takes no conditions, so "skip a task that is already there, report one that
differs" needs the stored items first: one BatchGetItem per batch of 100 (the same keys), then
the new items in BatchWriteItems of 25, unprocessed items retried with backoff (``db``'s
adapters, so they reach whatever endpoint the service uses).

A task is written as the service writes one: with the write stamp (a bulk job running meanwhile
compares it) and, when it is ``processing``, a lease from the time of the import, so the janitor
takes it back if its pilot is gone. A re-import compares tasks without those stamps.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chalicelib import codec, db
from chalicelib.models import DatasetFile, Task
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
    """The task's keys that differ (or the derived index keys, e.g. after a shard change)."""
    old, fresh = codec.decode_item(stored, INTERNAL), codec.decode_item(new, INTERNAL)
    return sorted(k for k in old.keys() | fresh.keys() if old.get(k) != fresh.get(k)) or ["its index keys"]


def stamped(item: dict[str, Any]) -> dict[str, Any]:
    """A task item as written: the write stamp, and a lease when it is ``processing``."""
    out = {**item, MODIFIED: store.value(store.now_ms())}
    if item.get("status", {}).get("S") == "processing":
        until = leases.deadline(store.document(item).get("requirements"))
        out[LEASE], out[LEASE_KEY] = store.value(until), store.value(lease_key(item["task_id"]["S"]))
    return out


def store_tasks(batch: list[Entry], replace: bool) -> Outcome:
    """New tasks are written, identical ones skipped, differing ones reported (or replaced)."""
    stored = {i["task_id"]["S"]: i for i in db.batch_get(Task, list(dict.fromkeys(e.record.key for e in batch)))}
    outcome = Outcome()
    writes: dict[str, dict[str, Any]] = {}
    for entry in batch:
        record = entry.record
        first = writes.get(record.key)
        old = stored.get(record.key)
        if first is not None:
            kind = "same" if same(first, record.item) else "duplicate"
        elif old is None:
            kind = "new"
        elif same(old, record.item):
            kind = "same"
        else:
            kind = "replaced" if replace else "differs"
            entry_keys = differing_keys(old, record.item)
            outcome.reports.append({"position": entry.position, "kind": kind, "task_id": record.key,
                                    "reason": f"differs from the stored task in {', '.join(entry_keys)}"})
        if kind == "duplicate":
            outcome.reports.append({"position": entry.position, "kind": "rejected", "task_id": record.key,
                                    "reason": "task_id appears earlier in the source with other content"})
            outcome.outcomes["rejected"] += 1
            continue
        if kind in ("new", "replaced"):
            writes[record.key] = record.item
        outcome.outcomes[kind] += 1
        if first is None:
            outcome.counts[f"{record.dataset_id}|{record.status}"] += 1
    db.batch_write(Task, [stamped(item) for item in writes.values()])
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


STORERS = {"tasks": store_tasks, "dataset_files": store_files}
