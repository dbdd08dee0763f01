"""What every benchmark shares: figures, timing, seeding tasks straight into the table."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

FIGURES: list[Figure] = []


@dataclass
class Figure:
    what: str
    how: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    ratio: float | None = None

    def emit(self) -> Figure:
        if self.baseline:
            self.ratio = float(f"{self.value / self.baseline:.3g}")
        FIGURES.append(self)
        print(json.dumps({k: v for k, v in asdict(self).items() if v not in (None, "")}), flush=True)
        return self


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(samples), 2)


def task_item(status: str, dataset_id: str = "bench", priority: float = 1.0, name: str = "sim",
              job_index: int = 0, task_index: int = 0) -> dict[str, Any]:
    """A task item exactly as ``POST /tasks`` stores it (the service's own ``new_item``)."""
    from chalicelib.services.tasks import new_item

    body = {
        "dataset_id": dataset_id, "job_id": f"j{job_index}", "task_index": task_index, "job_index": job_index,
        "name": name, "depends": [], "requirements": {"cpu": 1, "memory": 1.0}, "status": status,
        "priority": priority,
    }
    return new_item(body, uuid.uuid4().hex)


def write_items(items: Iterable[dict[str, Any]], threads: int = 8) -> list[str]:
    """BatchWriteItem the tasks, in parallel; their ids."""
    from chalicelib import db
    from chalicelib.models import Task

    items = list(items)

    def write(chunk: list[dict[str, Any]]) -> None:
        db.batch_write(Task, puts=chunk)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, [items[i : i + 25] for i in range(0, len(items), 25)]))
    return [i["task_id"]["S"] for i in items]


#: Statuses of the seeded datasets: not waiting or queued, so they never feed the claims.
DATASET_STATUSES = ("idle", "processing", "reset", "suspended", "failed", "complete")


def seed(count: int, status: str | None, priorities: int = 10, dataset_id: str = "bench", names: int = 1) -> list[str]:
    """``count`` tasks of ``status`` (None: the dataset statuses in turn) over ``priorities`` levels."""
    return write_items(
        task_item(status or DATASET_STATUSES[i % len(DATASET_STATUSES)], dataset_id, float(i % priorities),
                  name=f"step{i % names}", job_index=i, task_index=i % names)
        for i in range(count)
    )
