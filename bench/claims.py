"""Claims through the app (HTTP to a ``make run`` server) against the floor (one conditional
UpdateItem per task from the same number of threads), plus what a claim costs in requests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Figure, seed

N = 1000


def _run_threads(k: int, work: Callable[[int], None]) -> float:
    """Run ``work(i)`` on ``k`` threads started together; the wall time in seconds."""
    barrier = threading.Barrier(k + 1)
    threads = [threading.Thread(target=lambda i=i: (barrier.wait(), work(i))) for i in range(k)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def http_claims(server: Any, k: int) -> tuple[float, list[str]]:
    """K pilots claim until 404; (claims/s, claimed ids)."""
    claimed: list[str] = []
    lock = threading.Lock()

    def pilot(_: int) -> None:
        s = server.session()
        while True:
            r = s.post(f"{server.url}/task_actions/process", data='{"requirements": {"cpu": 1, "memory": 2.0}}')
            if r.status_code == 404:
                return
            r.raise_for_status()
            with lock:
                claimed.append(r.json()["task_id"])

    elapsed = _run_threads(k, pilot)
    return len(claimed) / elapsed, claimed


def floor_updates(endpoint: str, table: str, k: int, ids: list[str]) -> float:
    """The floor: the same K threads, one conditional UpdateItem per task, no search."""
    from chalicelib.models.tasks import STATUS_KEY

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(max_pool_connections=max(10, k * 2)))
    pending = list(ids)
    lock = threading.Lock()

    def worker(_: int) -> None:
        while True:
            with lock:
                if not pending:
                    return
                task_id = pending.pop()
            client.update_item(
                TableName=table, Key={"task_id": {"S": task_id}},
                UpdateExpression="SET #s = :p, #k = :pk, #c = :t",
                ConditionExpression="#s = :q",
                ExpressionAttributeNames={"#s": "status", "#k": STATUS_KEY, "#c": "status_changed"},
                ExpressionAttributeValues={":p": {"S": "processing"}, ":pk": {"S": "processing#0"},
                                           ":q": {"S": "queued"}, ":t": {"S": "2026-01-01T00:00:00"}},
            )

    return len(ids) / _run_threads(k, worker)


def in_process_costs(k: int) -> tuple[float, float, float]:
    """The same claim code in process, counting its DynamoDB requests: (req/claim, conflicts/claim, claims/s)."""
    from chalicelib.errors import NotFound
    from chalicelib.services import claims

    claims.CACHE.clear()  # start cold: a previous pass may have left "nothing matches" behind
    seed(N, "queued")
    totals = claims.ClaimStats()
    done = Counter()
    lock = threading.Lock()

    def pilot(_: int) -> None:
        while True:
            stats = claims.ClaimStats()
            try:
                claims.claim_task({"cpu": 1, "memory": 2.0}, {}, stats)
            except NotFound:
                return
            finally:
                with lock:
                    totals.requests += stats.requests
                    totals.conflicts += stats.conflicts
            with lock:
                done["claims"] += 1

    elapsed = _run_threads(k, pilot)
    n = done["claims"]
    if n == 0:
        print(f"warning: no claim succeeded in process ({totals})", flush=True)
        return float("nan"), float("nan"), 0.0
    return totals.requests / n, totals.conflicts / n, n / elapsed


def run(server: Any, endpoint: str, table: str, label: str, ks: tuple[int, ...]) -> dict[int, float]:
    """Claims/s of ``server`` for each K, with the floor and the costs; the app rates."""
    from chalicelib import config

    rates = {}
    for k in ks:
        seed(N, "queued")
        rate, claimed = http_claims(server, k)
        duplicates = sum(1 for n in Counter(claimed).values() if n > 1)
        floor = floor_updates(endpoint, table, k, seed(N, "queued"))
        Figure(f"claims/s, {label}, K={k}", f"{k} threads claim {N} queued tasks over HTTP until 404",
               round(rate, 1), "claims/s", round(floor, 1), f"floor: {k} threads, 1 conditional UpdateItem each").emit()
        Figure(f"duplicate claims, {label}, K={k}", "tasks handed to two pilots", duplicates, "tasks").emit()
        saved = (config.CLAIM_SPREAD, config.CLAIM_PAGE_SIZE, config.CLAIM_CACHE_SECONDS)
        # The same claim settings as the server measured above.
        config.CLAIM_SPREAD = server.env.get("CLAIM_SPREAD", "on") != "off"
        config.CLAIM_PAGE_SIZE = int(server.env.get("CLAIM_PAGE_SIZE", saved[1]))
        config.CLAIM_CACHE_SECONDS = float(server.env.get("CLAIM_CACHE_SECONDS", saved[2]))
        try:
            requests, conflicts, _ = in_process_costs(k)
        finally:
            config.CLAIM_SPREAD, config.CLAIM_PAGE_SIZE, config.CLAIM_CACHE_SECONDS = saved
        Figure(f"DynamoDB requests per claim, {label}, K={k}", "Query pages + UpdateItems, same code in process",
               round(requests, 2), "requests", 2.0, "goal: 1 Query page + 1 UpdateItem").emit()
        Figure(f"conditional-check failures per claim, {label}, K={k}", "lost races per successful claim",
               round(conflicts, 2), "failures").emit()
        rates[k] = rate
    return rates


def counter_lag(server: Any) -> float:
    """Seconds until the counters show every claim, from the end of a claims burst."""
    from chalicelib import db
    from chalicelib.models import Task

    truth = sum(1 for _ in db.query_all(Task, "processing#0", index_name="status-priority",
                                        attributes_to_get=["task_id"]))
    s = server.session()
    start = time.perf_counter()
    while time.perf_counter() - start < 60:
        if s.get(f"{server.url}/task_counts/status").json()["processing"] == truth:
            return time.perf_counter() - start
        time.sleep(0.02)
    return float("nan")
