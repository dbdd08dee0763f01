"""The MongoDB importer's throughput against the BatchWriteItem floor of the same engine.

The floor: the same task items, already encoded (with the write stamp the import adds), written
with raw BatchWriteItems of 25 from as many threads as the importer keeps batches in flight; no
reading, no converting, no checking.
The importer does everything a real run does: reads a mongodump ``.bson`` file, converts each
document, reads every batch back first (to skip or report what is there), writes, checkpoints.
Best of three rounds each, alternating, into the same table (fresh ids each time).

Alone: ``.venv/bin/python -m bench.importer [endpoint]`` (without one it starts its own DynamoDB Local).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import bson
from bson import Int64, ObjectId

from bench.common import Figure, write_items

TASKS = 10_000
PARALLEL = 16
ROUNDS = 3


def mongo_task(dataset_id: str, index: int) -> dict[str, Any]:
    """A task document as IceProd 2 keeps it in MongoDB."""
    return {
        "_id": ObjectId(), "task_id": uuid.uuid4().hex, "dataset_id": dataset_id, "job_id": uuid.uuid4().hex,
        "task_index": index % 3, "job_index": index, "name": ("generate", "filter", "level2")[index % 3],
        "depends": [], "requirements": {"cpu": 1, "memory": 2.0, "disk": 10.0, "time": 1.0},
        "status": ("waiting", "queued", "complete")[index % 3], "status_changed": "2021-05-04T10:11:12.123456",
        "failures": Int64(0), "evictions": 0, "walltime": 3.5, "walltime_err": 0.0, "walltime_err_n": 0,
        "site": "WIPAC", "priority": float(index % 10),
    }


def _floor() -> float:
    from chalicelib.services.tasks import task_item
    from iceprod_ops.importer.convert import plain
    from iceprod_ops.importer.writer import stamped

    dataset_id = f"floor-{uuid.uuid4().hex[:8]}"
    items = [stamped(task_item(plain({k: v for k, v in mongo_task(dataset_id, i).items() if k != "_id"}, "")))
             for i in range(TASKS)]
    started = time.perf_counter()
    write_items(items, threads=PARALLEL)
    return TASKS / (time.perf_counter() - started)


def _import(tmp: Path) -> float:
    from iceprod_ops.importer.run import Options, import_all
    from iceprod_ops.importer.sources import parse_sources

    dataset_id = f"import-{uuid.uuid4().hex[:8]}"
    source = tmp / dataset_id / "tasks.bson"
    source.parent.mkdir()
    source.write_bytes(b"".join(bson.encode(mongo_task(dataset_id, i)) for i in range(TASKS)))
    options = Options(tmp / dataset_id / "checkpoint.json", tmp / dataset_id / "rejects.jsonl", parallel=PARALLEL)
    started = time.perf_counter()
    state = import_all(parse_sources([str(source)]), options)
    seconds = time.perf_counter() - started
    assert sum(p.outcomes["new"] for p in state.sources.values()) == TASKS
    return TASKS / seconds


def run() -> None:
    floors, imports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):
            floors.append(_floor())
            imports.append(_import(Path(tmp)))
    Figure("MongoDB import (mongodump .bson into protocol 2 tables)",
           f"{TASKS:,} IceProd 2 tasks: read, convert, batched read-back, BatchWriteItem, checkpoint; "
           f"{PARALLEL} batches in flight; best of {ROUNDS}",
           round(max(imports)), "tasks/s", round(max(floors)),
           f"raw BatchWriteItem of the same items, {PARALLEL} threads").emit()


def main(endpoint: str | None) -> None:
    """Prints the figure as a JSON line, against ``endpoint`` or a DynamoDB Local of its own."""
    import os

    from bench.__main__ import _environment
    from tests.engines import DynamoDBLocal

    _environment()
    engine = None if endpoint else DynamoDBLocal.start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = endpoint or engine.url
    try:
        from chalicelib.models import create_tables

        create_tables()
        run()
    finally:
        if engine is not None:
            engine.stop()


if __name__ == "__main__":
    import sys

    main(sys.argv[1] if len(sys.argv) > 1 else None)
