"""Storing a batch of converted records: one batched read, then batched writes.

BatchWriteItem takes no conditions, so "skip a task that is already there, report one that
differs" needs the stored items first: one BatchGetItem per batch of 100 (the same keys), then
the new items in BatchWriteItems of 25, unprocessed items retried with backoff. Both calls go
through the models' own connections, so they reach whatever endpoint the service uses.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chalicelib import codec, db
from chalicelib.errors import Unavailable
from chalicelib.models import DatasetFile, Task
from chalicelib.models.tasks import INTERNAL
from iceprod_ops.importer.convert import Converted

BATCH = 100
WRITE_BATCH = 25
ATTEMPTS = 10


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
    """Equal as documents (DynamoDB normalises number text, so compare decoded values)."""
    return codec.decode_item(stored) == codec.decode_item(new)


def differing_keys(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The task's keys that differ (or the derived index keys, e.g. after a shard change)."""
    old, fresh = codec.decode_item(stored, INTERNAL), codec.decode_item(new, INTERNAL)
    return sorted(k for k in old.keys() | fresh.keys() if old.get(k) != fresh.get(k)) or ["its index keys"]


def put_all(model: type[Any], items: list[dict[str, Any]]) -> None:
    """BatchWriteItem of whole items, 25 a request, unprocessed items retried with backoff."""
    conn = model._get_connection().connection
    table = model.Meta.table_name
    for start in range(0, len(items), WRITE_BATCH):
        pending = [{"PutRequest": {"Item": item}} for item in items[start : start + WRITE_BATCH]]
        for attempt in range(ATTEMPTS):
            with db.translated():
                answer = conn.dispatch("BatchWriteItem", {"RequestItems": {table: pending}})
            pending = answer.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise Unavailable("DynamoDB left items unprocessed after every retry")


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
    put_all(Task, list(writes.values()))
    return outcome


def store_files(batch: list[Entry], replace: bool) -> Outcome:
    """File items have keys derived from their ObjectIds: writing one twice writes it the same,
    so there is nothing to compare and ``replace`` changes nothing."""
    outcome = Outcome()
    unique = {(e.record.dataset_id, e.record.key): e.record for e in batch}
    put_all(DatasetFile, [r.item for r in unique.values()])
    if batch:
        outcome.outcomes["written"] += len(batch)
    outcome.counts.update(r.dataset_id for r in unique.values())
    return outcome


STORERS = {"tasks": store_tasks, "dataset_files": store_files}
