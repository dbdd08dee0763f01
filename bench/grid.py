"""IceProd 3's claims, run in a process of their own (a process serves one protocol): ``queue_many``
of 100 tasks per call through HTTP against the floor of 100 parallel conditional UpdateItems on
the same engine, and claims per request of ``queue_many`` against ``queue`` (one).

``python -m bench.grid <DynamoDB endpoint>`` prints one JSON line per figure; ``make bench``
runs it and collects them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BATCH = 100
ROUNDS = 10
#: Measurements of each side, the first side alternating: DynamoDB Local's JIT warms up over the
#: first ones, and whichever side always ran second would gain from it.
REPEATS = 3


def _environment(endpoint: str) -> dict[str, str]:
    prefix = f"bench3-{uuid.uuid4().hex[:6]}"
    tables = {"TASKS_TABLE": f"{prefix}-tasks", "FILES_TABLE": f"{prefix}-files",
              "COUNTERS_TABLE": f"{prefix}-counters", "TASK_STATS_TABLE": f"{prefix}-task-stats"}
    os.environ.update(ICEPROD_API_VERSION="3", AWS_ENDPOINT_URL_DYNAMODB=endpoint,
                      AWS_ENDPOINT_URL_DYNAMODB_STREAMS=endpoint, **tables)
    return tables


def floor(endpoint: str, table: str, threads: int, ids: list[str]) -> float:
    """Tasks/s of the floor: ``threads`` threads, one conditional UpdateItem per task that writes
    what a claim writes (status, its index key, instance_id, site), no search, no HTTP. Each
    thread first writes one of ``ids`` untimed (its connection opened), as the app is measured
    after a warm-up call."""
    import boto3
    from botocore.config import Config

    from chalicelib.models.tasks import STATUS_KEY

    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          config=Config(max_pool_connections=threads * 2))
    warm, pending, lock = list(ids[:threads]), list(ids[threads:]), threading.Lock()
    started = threading.Barrier(threads + 1)

    def update(task_id: str) -> None:
        client.update_item(
                TableName=table, Key={"task_id": {"S": task_id}},
                UpdateExpression="SET #s = :q, #k = :qk, #i = :i, #site = :site", ConditionExpression="#s = :w",
                ExpressionAttributeNames={"#s": "status", "#k": STATUS_KEY, "#i": "instance_id", "#site": "site"},
                ExpressionAttributeValues={":q": {"S": "queued"}, ":qk": {"S": "queued#0"}, ":w": {"S": "waiting"},
                                           ":i": {"S": "f" * 32}, ":site": {"S": "unknown"}})

    def worker() -> None:
        with lock:
            first = warm.pop()
        update(first)
        started.wait()
        while True:
            with lock:
                if not pending:
                    return
                task_id = pending.pop()
            update(task_id)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    started.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return (len(ids) - threads) / (time.perf_counter() - start)


def _claims_per_second(session, url: str, path: str, body: dict, rounds: int) -> tuple[float, float]:
    """(claims/s, claims per request) of ``rounds`` sequential calls."""
    claimed, start = 0, time.perf_counter()
    for _ in range(rounds):
        answer = session.post(f"{url}{path}", data=json.dumps(body)).json()
        claimed += len(answer) if isinstance(answer, list) else 1
    return claimed / (time.perf_counter() - start), claimed / rounds


def _floor_run(endpoint: str, threads: int) -> float:
    from bench.common import seed
    from chalicelib.models import Task

    return floor(endpoint, Task.Meta.table_name, threads, seed(BATCH * ROUNDS + threads, "waiting"))


def main(endpoint: str) -> None:
    tables = _environment(endpoint)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import Figure, seed
    from chalicelib import config
    from chalicelib.models import create_tables
    from tests.engines import LiveServer

    create_tables()
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer("ddblocal", tmp, **tables)
        try:
            session = server.session()
            threads, manys, bases = config.DB_PARALLELISM, [], []
            for repeat in range(REPEATS):
                if repeat % 2:
                    bases.append(_floor_run(endpoint, threads))
                seed(BATCH * (ROUNDS + 1), "waiting", priorities=20)
                _claims_per_second(session, server.url, "/task_actions/queue_many", {"num": BATCH}, 1)  # warm-up
                many, per_many = _claims_per_second(session, server.url, "/task_actions/queue_many", {"num": BATCH},
                                                    ROUNDS)
                manys.append(many)
                if not repeat % 2:
                    bases.append(_floor_run(endpoint, threads))
            many = max(manys)
            Figure("IceProd 3 queue_many, 100 tasks a call",
                   f"{ROUNDS} POST /task_actions/queue_many num={BATCH}, after one untimed call; best of {REPEATS}",
                   round(many, 1), "tasks/s", round(max(bases), 1),
                   f"floor: {threads} threads, 1 conditional UpdateItem each, after one untimed each; "
                   f"best of {REPEATS}, alternating").emit()
            one, per_one = _claims_per_second(session, server.url, "/task_actions/queue", {}, 100)
            Figure("IceProd 3 claims per request", "queue_many num=100 vs queue (one), tasks claimed per request",
                   per_many, "tasks/request", per_one, "queue").emit()
            Figure("IceProd 3 queue_many vs queue", "claims/s of queue_many num=100 vs queue (one), sequential",
                   round(many, 1), "tasks/s", round(one, 1), "queue: one claim a request").emit()
        finally:
            server.stop()


if __name__ == "__main__":
    main(sys.argv[1])
