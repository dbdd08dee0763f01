"""Count endpoints on a small and a 100,000-task dataset (counters: cost independent of size),
against computing the same from the dataset index; and the stream consumer's rate."""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import Figure, median_ms, seed

SMALL, BIG = 100, int(os.environ.get("BENCH_BIG_DATASET", "100000"))  # smaller for a quick trial


def seed_datasets() -> None:
    """Seed both datasets straight into the table and apply the stream to the counters."""
    from chalicelib.events import handlers
    from devserver.consumer import StreamConsumer

    start = time.perf_counter()
    seed(SMALL, None, dataset_id="small", names=3)
    seed(BIG, None, dataset_id="big", names=10)
    seeded = time.perf_counter() - start
    consumer = StreamConsumer(handlers.count_tasks)
    start = time.perf_counter()
    applied = consumer.drain(max_rounds=100_000)
    elapsed = time.perf_counter() - start
    Figure("stream consumer, records/s", f"{applied} records ({SMALL + BIG} inserts) applied to the counters",
           round(applied / elapsed, 1), "records/s", round((SMALL + BIG) / seeded, 1),
           "the BatchWriteItem rate that produced them").emit()


def run(server: Any) -> None:
    s = server.session()
    paths = {
        "GET /datasets/{id}/task_counts/status": "/datasets/{}/task_counts/status",
        "GET /datasets/{id}/task_counts/name_status": "/datasets/{}/task_counts/name_status",
    }
    for label, path in paths.items():
        small = median_ms(lambda p=path: s.get(server.url + p.format("small")).raise_for_status(), 30)
        big = median_ms(lambda p=path: s.get(server.url + p.format("big")).raise_for_status(), 30)
        Figure(f"{label} latency, {BIG} tasks", "median of 30, keep-alive HTTP", big, "ms", small,
               f"the same on {SMALL} tasks").emit()
    total = median_ms(lambda: s.get(f"{server.url}/task_counts/status").raise_for_status(), 30)
    Figure(f"GET /task_counts/status latency, {BIG + SMALL}+ tasks", "median of 30, keep-alive HTTP", total,
           "ms").emit()
    counted = median_ms(lambda: s.get(f"{server.url}/datasets/big/task_counts/status").raise_for_status(), 10)
    queried = median_ms(lambda: s.get(f"{server.url}/datasets/big/task_summaries/status").raise_for_status(), 3)
    Figure(f"counts from counters vs from the dataset index, {BIG} tasks",
           "task_counts/status vs task_summaries/status (a Query of the whole dataset), medians",
           counted, "ms", queried, "computing them from the dataset index").emit()
