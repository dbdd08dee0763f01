"""``GET /datasets``: the datasets a token may read, each with its task counts by status.

The ids come from the stream-kept index (:mod:`chalicelib.services.dataset_index`, one Query),
the counts from the same counters ``GET /datasets/{id}/task_counts/status`` reads (BatchGetItem,
100 a request, in parallel): one request gives the status page every dataset's progress, at a
cost that grows with the number of datasets, never with the number of tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib import db
from chalicelib.errors import Unavailable
from chalicelib.models import Counter
from chalicelib.models.tasks import STATUSES
from chalicelib.services import counters, dataset_index


def readable_datasets(may_read: Callable[[str], bool]) -> dict[str, dict[str, int]]:
    """Every listed dataset that ``may_read`` allows, in id order, with its non-zero counts in
    display order (``{}`` for a dataset whose tasks were all deleted, until reconciliation)."""
    ids = [d for d in dataset_index.listed() if may_read(d)]
    found = {item["pk"]["S"]: item for item in _counter_items(ids)}
    answer = {}
    for dataset_id in ids:
        item = found.get(counters.dataset_key(dataset_id)[0], {})
        answer[dataset_id] = {s: int(item[s]["N"]) for s in STATUSES if s in item and int(item[s]["N"])}
    return answer


def _counter_items(ids: list[str]) -> list[dict[str, Any]]:
    """The datasets' counter items, unprocessed keys retried with backoff."""
    table = Counter.Meta.table_name
    chunks = [ids[i : i + 100] for i in range(0, len(ids), 100)]

    def fetch(chunk: list[str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        pending = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in map(counters.dataset_key, chunk)]
        for attempt in range(8):
            with db.translated():
                answer = Counter._get_connection().connection.dispatch(
                    "BatchGetItem", {"RequestItems": {table: {"Keys": pending}}})
            items.extend(answer.get("Responses", {}).get(table, []))
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                return items
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise Unavailable("the database is busy, retry later")

    return [item for chunk_items in db.parallel(fetch, chunks) for item in chunk_items]
