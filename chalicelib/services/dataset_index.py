"""The index of datasets that ``GET /datasets`` lists, kept by the tasks stream.

One item per dataset in the counters table, all under one partition key:
``("datasets", "<dataset_id>")``. Listing every dataset is then one Query of that partition
(paged past 1 MB), never a Scan. One item per dataset rather than one item holding a set of ids:
a set would hit DynamoDB's 400 KB item limit at about 1,500 dataset ids of the longest allowed
length, and an item collection without local indexes has no size limit, so nothing here needs a
bound.

The stream handler writes a dataset's item in the same transaction as the counts of the record
that brings a task into it (a task created in it, or moved into it by a change of
``dataset_id``), so the index is exactly as fresh as the counters and just as exactly-once. The
write is an unconditional Put of a key-only item, idempotent as well, so a redelivered record
could not harm it even without its marker. A status change writes nothing here.

A dataset whose tasks are all deleted **stays listed** (with no counts) until the next
reconciliation, which drops it: the stream cannot tell the last deletion from any other without
reading the counter, and a transaction cannot read. The drop is a transaction of a Delete with a
ConditionCheck that the dataset's counter holds no task, so a task created meanwhile (whose
count lands in the same transaction as its index item) keeps the dataset listed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.operand import Path

from chalicelib import db
from chalicelib.models import Bookkeeping, bookkeeping
from chalicelib.models.tasks import STATUSES

log = logging.getLogger("iceprod_tasks.datasets")


def entered(old_dataset: str | None, new_dataset: str | None) -> str | None:
    """The dataset a stream record's task entered (created in it or moved into it), if any."""
    return new_dataset if new_dataset is not None and new_dataset != old_dataset else None


def index_put(dataset_id: str) -> dict[str, Any]:
    """The transaction Put that lists ``dataset_id`` (idempotent)."""
    return db.put_request(Bookkeeping, *bookkeeping.dataset_listing(dataset_id), attributes={})


def listed() -> Iterator[str]:
    """Every listed dataset id, in key order (one Query, paged)."""
    for item in db.query_all(Bookkeeping, bookkeeping.DATASETS):
        yield item["sk"]["S"]


def reconcile(with_tasks: Iterable[str]) -> dict[str, str]:
    """List every dataset that has tasks, drop those that have none; what changed (id → action).

    Runs after the counters are repaired, so the dataset's counter is then the truth the drop
    checks.
    """
    want = set(with_tasks)
    have = set(listed())
    changes: dict[str, str] = {}
    for dataset_id in sorted(want - have):
        db.put_item(Bookkeeping, *bookkeeping.dataset_listing(dataset_id), attributes={})
        changes[dataset_id] = "listed"
        log.warning("reconcile listed dataset %s", dataset_id)
    for dataset_id in sorted(have - want):
        if _drop_if_empty(dataset_id):
            changes[dataset_id] = "dropped"
            log.warning("reconcile dropped dataset %s: it has no tasks", dataset_id)
    return changes


def _drop_if_empty(dataset_id: str) -> bool:
    """Drop a dataset's index item if its counter holds no task; whether it was dropped."""
    empty = None
    for status in STATUSES:
        clause = Path([status]).does_not_exist() | (Path([status]) == {"N": "0"})
        empty = clause if empty is None else empty & clause
    check = db.check_request(Bookkeeping, *bookkeeping.dataset_counts(dataset_id), condition=empty)
    try:
        db.transact_write(Bookkeeping, checks=[check],
                          deletes=[db.delete_request(Bookkeeping, *bookkeeping.dataset_listing(dataset_id))])
    except TransactWriteError as error:
        if db.error_code(error) != "TransactionCanceledException":
            raise
        log.info("dataset %s gained tasks during reconciliation: kept", dataset_id)
        return False
    return True
