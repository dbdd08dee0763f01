"""One queue call of 1000 tasks through the app, against 1000 conditional writes at the same
parallelism."""

from __future__ import annotations

import time
from typing import Any

from bench.claims import floor_updates
from bench.common import Figure, seed

N = 1000


def run(server: Any, endpoint: str, table: str) -> None:
    from chalicelib import config

    seed(N, "waiting")
    s = server.session()
    start = time.perf_counter()
    moved = s.post(f"{server.url}/task_actions/queue", data=f'{{"num_tasks": {N}}}').json()["queued"]
    rate = moved / (time.perf_counter() - start)
    # The floor moves as many tasks with the server's parallelism, one UpdateItem each.
    ids = seed(N, "queued")  # floor_updates moves queued -> processing: the same write shape
    floor = floor_updates(endpoint, table, config.DB_PARALLELISM, ids)
    Figure("queue 1000 tasks, tasks/s", f"one POST /task_actions/queue num_tasks={N} ({moved} moved)",
           round(rate, 1), "tasks/s", round(floor, 1),
           f"floor: {config.DB_PARALLELISM} threads, 1 conditional UpdateItem each").emit()
