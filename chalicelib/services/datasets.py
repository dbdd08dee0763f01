"""``GET /datasets``: the datasets a token may read, each with its task counts by status.

The ids come from the stream-kept index (:mod:`chalicelib.services.dataset_index`, one Query),
the counts from the same counters ``GET /datasets/{id}/task_counts/status`` reads (BatchGetItem,
100 a request, in parallel): one request gives the status page every dataset's progress, at a
cost that grows with the number of datasets, never with the number of tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import db
from chalicelib.models import Bookkeeping, bookkeeping
from chalicelib.models.tasks import STATUSES
from chalicelib.services import dataset_index


def readable_datasets(may_read: Callable[[list[str]], list[str]]) -> dict[str, dict[str, int]]:
    """The listed datasets that ``may_read`` keeps (it gets them all at once, in id order, so an
    access check can read what it needs together), with their non-zero counts in display order
    (``{}`` for a dataset whose tasks were all deleted, until reconciliation)."""
    ids = may_read(list(dataset_index.listed()))
    found = {item["pk"]["S"]: item for item in db.batch_get(Bookkeeping, [bookkeeping.dataset_counts(d) for d in ids])}
    answer = {}
    for dataset_id in ids:
        item = found.get(bookkeeping.dataset_partition(dataset_id), {})
        answer[dataset_id] = {s: int(item[s]["N"]) for s in STATUSES if s in item and int(item[s]["N"])}
    return answer
