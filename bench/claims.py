"""Claims through the app (HTTP to a ``make run`` server) against the floor (one conditional
UpdateItem per task from the same number of threads), plus what a claim costs in requests, and
priority inversions while tasks keep being queued during the claims."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
from botocore.config import Config

from bench.common import Figure, seed, task_item, write_items

N = 1000
#: Tasks queued while the pilots claim, in small batches, some above every seeded priority.
FED = 200
OFFER = {"cpu": 1, "memory": 2.0}


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


@dataclass
class Claims:
    """What pilots got: (task_id, request sent, answer received, the pilot's dataset filter),
    and for every task its priority, dataset and when it was queued (-inf: before the start)."""

    got: list[tuple[str, float, float, str | None]] = field(default_factory=list)
    tasks: dict[str, tuple[float, str, float]] = field(default_factory=dict)
    rate: float = 0.0

    def inversions(self) -> int:
        """Claims that returned a task while a better matching one, queued before the claim
        began, stayed queued until after the claim answered (so no order of the concurrent
        claims explains it): never claimed, or claimed by a request sent after the answer."""
        asked = {task_id: sent for task_id, sent, _, _ in self.got}
        by_priority = sorted(self.tasks.items(), key=lambda t: -t[1][0])
        count = 0
        for task_id, sent, received, dataset in self.got:
            priority = self.tasks[task_id][0]
            for other, (p, d, queued_at) in by_priority:
                if p <= priority:
                    break
                if (dataset is None or d == dataset) and queued_at < sent and asked.get(other, float("inf")) > received:
                    count += 1
                    break
        return count


def http_claims(server: Any, k: int, datasets: list[str | None], feed: list[dict[str, Any]] | None = None,
                known: dict[str, tuple[float, str, float]] | None = None) -> Claims:
    """K pilots (pilot i filters on ``datasets[i % len]``) claim until 404, while ``feed`` is
    queued in batches of 5; what they got."""
    result = Claims(tasks=dict(known or {}))
    lock = threading.Lock()
    feeding = threading.Event()
    if feed:
        feeding.set()

    def feeder() -> None:
        for i in range(0, len(feed or []), 5):
            batch = feed[i : i + 5]
            write_items(batch, threads=1)
            done = time.perf_counter()
            with lock:
                for item in batch:
                    result.tasks[item["task_id"]["S"]] = (float(item["priority"]["N"]), item["dataset_id"]["S"], done)
            time.sleep(0.01)
        feeding.clear()

    def pilot(i: int) -> None:
        if i == k:
            return feeder()
        s = server.session()
        dataset = datasets[i % len(datasets)]
        body = json.dumps({"requirements": OFFER, **({"query_params": {"dataset_id": dataset}} if dataset else {})})
        while True:
            sent = time.perf_counter()
            r = s.post(f"{server.url}/task_actions/process", data=body)
            received = time.perf_counter()
            if r.status_code == 404:
                if not feeding.is_set():
                    return
                continue
            r.raise_for_status()
            with lock:
                result.got.append((r.json()["task_id"], sent, received, dataset))

    elapsed = _run_threads(k + 1, pilot)
    result.rate = len(result.got) / elapsed
    return result


def _feed(count: int, levels: float, datasets: list[str]) -> list[dict[str, Any]]:
    """Tasks to queue during the claims, at random priorities up to 20 % above the seeded ones."""
    rng = random.Random(7)
    return [task_item("queued", rng.choice(datasets), round(rng.uniform(0, levels * 1.2), 3), job_index=N + i)
            for i in range(count)]


def _known(ids: list[str], priorities: int, datasets: list[str]) -> dict[str, tuple[float, str, float]]:
    """The seeded tasks as ``seed`` made them (task i: priority i % levels, dataset i % len)."""
    return {task_id: (float(i % priorities), datasets[i % len(datasets)], float("-inf"))
            for i, task_id in enumerate(ids)}


def drain_queued() -> int:
    """Take every queued task out of the queue (to ``complete``), so that a measurement claims
    only the tasks it seeds (an earlier part of ``make bench`` leaves queued tasks behind)."""
    from chalicelib import db
    from chalicelib.models import Task
    from chalicelib.models.tasks import status_keys
    from chalicelib.services import claims, store
    from chalicelib.services.store import attr, value

    ids = [i["task_id"]["S"] for key in status_keys("queued")
           for i in db.query_all(Task, key, index_name=Task.by_status.Meta.index_name, attributes_to_get=["task_id"])]
    moved = sum(db.parallel(lambda t: store.update_if(t, store.set_status("complete", t),
                                                      attr("status") == value("queued")), ids))
    claims.CACHE.clear()
    return moved


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
                claims.claim_task(OFFER, {}, stats)
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


def _around_floor(endpoint: str, table: str, k: int, measure: Callable[[], Claims]) -> tuple[float, Claims]:
    """The floor measured just before and just after ``measure`` (their mean), so that a load
    that changes on shared cores moves both sides of the ratio alike."""
    before = floor_updates(endpoint, table, k, seed(N + FED, "queued"))
    claimed = measure()
    after = floor_updates(endpoint, table, k, seed(N + FED, "queued"))
    return (before + after) / 2, claimed


def run(server: Any, endpoint: str, table: str, label: str, ks: tuple[int, ...]) -> dict[int, float]:
    """Claims/s of ``server`` for each K, with the floor, the inversions and the costs; the app rates."""
    rates = {}
    for k in ks:
        drain_queued()
        known = _known(seed(N, "queued"), 10, ["bench"])
        floor, claimed = _around_floor(endpoint, table, k, partial(
            http_claims, server, k, [None], _feed(FED, 10, ["bench"]), known))
        ids = [t for t, _, _, _ in claimed.got]
        duplicates = sum(1 for n in Counter(ids).values() if n > 1)
        Figure(f"claims/s, {label}, K={k}",
               f"{k} threads claim {N} queued tasks over HTTP until 404 while {FED} more are queued",
               round(claimed.rate, 1), "claims/s", round(floor, 1),
               f"floor: {k} threads, 1 conditional UpdateItem each, mean of before and after").emit()
        Figure(f"priority inversions, {label}, K={k}",
               "claims answered while a better match, queued before the claim, stayed queued", claimed.inversions(),
               "claims").emit()
        Figure(f"duplicate claims, {label}, K={k}", "tasks handed to two pilots", duplicates, "tasks").emit()
        requests, conflicts, _ = _costs_as(server, k)
        Figure(f"DynamoDB requests per claim, {label}, K={k}", "Query pages + UpdateItems, same code in process",
               round(requests, 2), "requests", 2.0, "goal: 1 Query page + 1 UpdateItem").emit()
        Figure(f"conditional-check failures per claim, {label}, K={k}", "lost races per successful claim",
               round(conflicts, 2), "failures").emit()
        rates[k] = claimed.rate
    return rates


def _costs_as(server: Any, k: int) -> tuple[float, float, float]:
    """``in_process_costs`` with the claim settings of the server measured."""
    from chalicelib import config

    names = ("CLAIM_SPREAD", "CLAIM_PAGE_SIZE", "CLAIM_CACHE_SECONDS", "CLAIM_STALENESS_SECONDS")
    saved = {n: getattr(config, n) for n in names}
    config.CLAIM_SPREAD = server.env.get("CLAIM_SPREAD", "on") != "off"
    config.CLAIM_PAGE_SIZE = int(server.env.get("CLAIM_PAGE_SIZE", saved["CLAIM_PAGE_SIZE"]))
    config.CLAIM_CACHE_SECONDS = float(server.env.get("CLAIM_CACHE_SECONDS", saved["CLAIM_CACHE_SECONDS"]))
    config.CLAIM_STALENESS_SECONDS = float(server.env.get("CLAIM_STALENESS_SECONDS", 0))
    try:
        return in_process_costs(k)
    finally:
        for n, v in saved.items():
            setattr(config, n, v)


#: The realistic queue: many priority levels of a few tens of tasks, several datasets.
LEVELS, DATASETS, PILOTS = 40, ["d0", "d1", "d2", "d3"], 8


def run_realistic(server: Any, endpoint: str, table: str, label: str) -> None:
    """N tasks over LEVELS priorities (25 a level) and 4 datasets; 8 pilots, each filtering on
    one dataset with ``query_params``; FED more queued meanwhile; against the floor."""
    drain_queued()
    ids = write_items(task_item("queued", DATASETS[i % len(DATASETS)], float(i % LEVELS), job_index=i)
                      for i in range(N))
    floor, claimed = _around_floor(endpoint, table, PILOTS, partial(
        http_claims, server, PILOTS, list(DATASETS), _feed(FED, LEVELS, DATASETS), _known(ids, LEVELS, DATASETS)))
    Figure(f"claims/s, {label}, realistic queue",
           f"{N} tasks over {LEVELS} priorities and {len(DATASETS)} datasets, {FED} more queued meanwhile; "
           f"{PILOTS} pilots each filter on a dataset (query_params), over HTTP until 404",
           round(claimed.rate, 1), "claims/s", round(floor, 1),
           f"floor: {PILOTS} threads, 1 conditional UpdateItem each, mean of before and after").emit()
    Figure(f"priority inversions, {label}, realistic queue",
           "claims answered while a better match, queued before the claim, stayed queued",
           claimed.inversions(), "claims").emit()


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


def run_all(engine_url: str, table: str, tables: dict[str, str], tmp: str) -> None:
    """Every claims figure: the default settings, the opt-in staleness beside them, the
    realistic queue with both (``python -m bench claims`` runs only this)."""
    from tests.engines import LiveServer

    for label, env in (("app", {}), ("app, CLAIM_STALENESS_SECONDS=1 (opt-in)", {"CLAIM_STALENESS_SECONDS": "1"})):
        server = LiveServer("ddblocal", tmp, **tables, **env)
        try:
            run(server, engine_url, table, label, (4, 16))
            run_realistic(server, engine_url, table, label)
        finally:
            server.stop()
