"""The importer as an operator runs it: `iceprod-tasks import` in its own process, killed with
SIGKILL mid-import and started again, into the tables of a running `make run` server whose
stream consumer keeps the counters the verification reads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import bson
import pytest

from tests.engines import LiveServer
from tests.test_cli import CLI
from tests.test_importer import mongo_task

pytestmark = pytest.mark.real_server


def _import(server: LiveServer, tmp: Path, source: Path) -> subprocess.Popen:
    (tmp / "rejects.jsonl").unlink(missing_ok=True)  # written again when the import starts reading
    environ = dict(server.env)  # the same credentials: DynamoDB Local keeps a database per access key
    return subprocess.Popen([CLI, "import", str(source), "--endpoint", server.dynamodb_url, "--parallel", "4",
                             "--checkpoint", str(tmp / "checkpoint.json"), "--rejects", str(tmp / "rejects.jsonl"),
                             "--verify-wait", "400"], env=environ, cwd=tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _started(process: subprocess.Popen, tmp: Path) -> subprocess.Popen:
    """The import, once it has loaded its checkpoint and begun reading (the reject file exists)."""
    while not (tmp / "rejects.jsonl").exists() and process.poll() is None:
        time.sleep(0.01)
    return process


def _kill(process: subprocess.Popen) -> bool:
    """SIGKILL, if it is still running; whether it was."""
    running = process.poll() is None
    if running:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    return running


def _done(tmp: Path) -> int:
    try:
        state = json.loads((tmp / "checkpoint.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(s["done"] for s in state["sources"].values())


@pytest.mark.timeout(900)  # the live counters trail a slow engine on a loaded machine
def test_an_import_killed_with_sigkill_resumes_and_verifies_against_the_live_counters(
        backend: str, tmp_path: Path) -> None:
    tasks = 1200 if backend == "moto" else 12000  # several seconds of import on either engine
    dataset_id = uuid.uuid4().hex
    docs = [mongo_task(i, status=("waiting", "queued", "complete")[i % 3], dataset_id=dataset_id)
            for i in range(tasks)]
    source = tmp_path / "tasks.bson"
    source.write_bytes(b"".join(bson.encode(d) for d in docs))
    server = LiveServer(backend, tmp_path / "server")
    try:
        first = _started(_import(server, tmp_path, source), tmp_path)
        time.sleep(0.5)  # killed early: perhaps before any checkpoint
        assert _kill(first)
        second = _started(_import(server, tmp_path, source), tmp_path)
        deadline = time.monotonic() + 120
        while _done(tmp_path) < tasks // 8 and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _kill(second), "the import finished before it could be killed"  # killed after a checkpoint
        assert tasks // 8 <= _done(tmp_path) < tasks
        final = _import(server, tmp_path, source)
        out, err = final.communicate(timeout=600)
        assert final.returncode == 0, out + err
        assert "verified: every count matches" in out
        counts: dict[str, Any] = server.session().get(
            f"{server.url}/datasets/{dataset_id}/task_summaries/status").json()
        assert {s: len(ids) for s, ids in counts.items()} == {s: tasks // 3 for s in ("waiting", "queued", "complete")}
    finally:
        server.stop()


def test_an_unreachable_database_exits_5_and_says_to_run_again(tmp_path: Path) -> None:
    source = tmp_path / "tasks.bson"
    source.write_bytes(bson.encode(mongo_task(1)))
    environ = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([CLI, "import", str(source), "--endpoint", "http://127.0.0.1:9"], env=environ, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 5, result.stderr
    assert "run the same command again to resume" in result.stderr
