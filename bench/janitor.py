"""A janitor run over 100,000 processing tasks of which 100 hold an expired lease: index items it
reads and seconds it takes, against what finding them through the status index reads (every
processing task). ``python -m bench.janitor`` runs it alone on a fresh DynamoDB Local."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bench.common import Figure, task_item, write_items

RUNNING = 100_000
EXPIRED = 100
#: The janitor's "now": a week back, so that the live leases other parts of ``make bench`` leave
#: behind (claims made minutes ago) are not expired at it; only this bench's expired ones are.
NOW = int(time.time()) - 7 * 86_400


def _leased(expired: bool) -> dict[str, Any]:
    from chalicelib.models.tasks import LEASE, LEASE_KEY, lease_key

    item = task_item("processing")
    item["instance_id"] = {"S": "bench-holder"}
    item[LEASE] = {"N": str(NOW - 60 if expired else NOW + 86_400)}
    item[LEASE_KEY] = {"S": lease_key(item["task_id"]["S"])}
    return item


def _status_index_reads() -> int:
    """Index items one pass over the ``processing`` status shards reads (the way without leases)."""
    from chalicelib import db
    from chalicelib.models import Task
    from chalicelib.models.tasks import status_keys

    read = 0
    for key in status_keys("processing"):
        start = None
        while True:
            page = db.query(Task, key, index_name=Task.by_status.Meta.index_name, select="COUNT",
                            limit=1000, exclusive_start_key=start)
            read += page.get("ScannedCount", 0)
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    return read


def run() -> None:
    from chalicelib import config
    from chalicelib.services import janitor, leases

    write_items((_leased(i < EXPIRED) for i in range(RUNNING)), threads=8)
    leases.clock = lambda: NOW
    config.JANITOR_MAX_TASKS = 10 * EXPIRED
    baseline = _status_index_reads()  # before the run: all 100,000 are processing
    state = janitor.Run(now=NOW)
    start = time.perf_counter()
    janitor.reap(state)
    seconds = time.perf_counter() - start
    Figure(f"janitor run, {baseline} processing, {EXPIRED} expired: index items read",
           f"janitor.reap: Query each leases shard for _lease < now ({state.moved} reaped in {seconds:.2f} s)",
           state.read, "items", baseline, "every processing task: the status index, one pass").emit()


def main() -> None:
    from bench.__main__ import ROOT, _environment

    _environment()
    sys.path.insert(0, str(ROOT))
    from tests.engines import DynamoDBLocal

    engine = DynamoDBLocal.start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = engine.url
    try:
        from chalicelib.models import create_tables

        create_tables()
        run()
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
