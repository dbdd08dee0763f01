"""The `iceprod-tasks` command line, as installed, against a real `make run` server process.

The server runs with ``REQUEST_WORK_SECONDS=0`` so every bulk change becomes a job; the tests
run the job schedule themselves (one ``run_jobs`` in a process on the server's database)
instead of waiting for its minute.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import new_task
from tests.engines import LiveServer

pytestmark = pytest.mark.real_server
CLI = shutil.which("iceprod-tasks", path=str(Path(sys.executable).parent)) or "iceprod-tasks"
DATASET = "d-cli"


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: Any) -> Iterator[LiveServer]:
    live = LiveServer(backend, tmp_path_factory.mktemp("cli"), REQUEST_WORK_SECONDS="0")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def seeded(server: LiveServer) -> dict[str, list[str]]:
    """Tasks of one dataset: two names, statuses waiting/queued/complete; ids by status."""
    session = server.session()
    ids: dict[str, list[str]] = {}
    for index, (name, status) in enumerate([("gen", "waiting"), ("gen", "complete"), ("filt", "queued"),
                                            ("filt", "complete"), ("gen", "waiting")]):
        body = new_task(dataset_id=DATASET, name=name, job_index=index, status=status,
                        requirements={"memory": 1.0})
        answer = session.post(f"{server.url}/tasks", json=body)
        assert answer.status_code == 201, answer.text
        ids.setdefault(status, []).append(answer.json()["result"])
    _wait_counts(server, 5)
    return ids


def _wait_counts(server: LiveServer, total: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = server.session().get(f"{server.url}/datasets/{DATASET}/task_counts/status").json()
        if sum(counts.values()) == total:
            return
        time.sleep(0.1)
    raise AssertionError("the counters did not catch up")


def cli(server: LiveServer | None, *args: str, token: str | None = None, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ICEPROD_TASKS")}
    if server is not None:
        environ.update(ICEPROD_TASKS_URL=server.url, ICEPROD_TASKS_TOKEN=token or server.token)
    environ.update(HOME=str(Path(server.env["TASKS_LOCAL_DIR"]) if server else "/nonexistent"), **(env or {}))
    return subprocess.run([CLI, *args], env=environ, capture_output=True, text=True, timeout=120, input=stdin)


def run_jobs(server: LiveServer) -> None:
    """One run of the bulk-job schedule against the server's database."""
    environ = dict(server.env)  # its credentials too: DynamoDB Local keeps a database per access key
    environ.update(AWS_ENDPOINT_URL_DYNAMODB=server.dynamodb_url, AWS_ENDPOINT_URL_DYNAMODB_STREAMS=server.dynamodb_url)
    subprocess.run([sys.executable, "-c", "from chalicelib.services import jobs; jobs.run_jobs()"], env=environ,
                   check=True, timeout=60)


def test_counts_of_all_tasks_as_a_table_and_as_json(server, seeded) -> None:
    table = cli(server, "counts")
    assert table.returncode == 0, table.stderr
    assert re.search(r"complete\s*│\s*2\b", table.stdout) and re.search(r"total\s*│\s*5\b", table.stdout)
    data = json.loads(cli(server, "--json", "counts").stdout)
    assert data["waiting"] == 2 and data["queued"] == 1 and data["complete"] == 2


def test_counts_of_a_dataset_by_name(server, seeded) -> None:
    result = cli(server, "--json", "counts", "--dataset", DATASET, "--by-name")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"gen": {"waiting": 2, "complete": 1}, "filt": {"queued": 1, "complete": 1}}
    table = cli(server, "counts", "--dataset", DATASET, "--by-name").stdout
    assert re.search(r"gen\s*│.*│\s*3\s*│", table)
    missing = cli(server, "counts", "--by-name")
    assert missing.returncode == 2 and "--by-name needs --dataset" in missing.stderr


def test_progress_of_a_dataset(server, seeded) -> None:
    result = cli(server, "progress", DATASET)
    assert result.returncode == 0
    assert "2 of 5 tasks complete (40.0%)" in result.stdout
    data = json.loads(cli(server, "--json", "progress", DATASET).stdout)
    assert data["fraction"] == 0.4 and data["total"] == 5
    none = cli(server, "progress", "no-such-dataset")
    assert none.returncode == 3 and "has no tasks" in none.stderr


def test_list_and_show_tasks(server, seeded) -> None:
    listed = cli(server, "--json", "tasks", "list", "--dataset", DATASET, "--status", "waiting")
    assert sorted(t["task_id"] for t in json.loads(listed.stdout)) == sorted(seeded["waiting"])
    table = cli(server, "tasks", "list", "--status", "queued").stdout
    assert seeded["queued"][0] in table and "1 tasks" in table
    shown = cli(server, "tasks", "show", seeded["complete"][0])
    assert shown.returncode == 0 and re.search(r"dataset_id\s*│\s*d-cli", shown.stdout)
    task = json.loads(cli(server, "--json", "tasks", "show", seeded["complete"][0], "--dataset", DATASET).stdout)
    assert task["requirements"] == {"memory": 1.0}
    unknown = cli(server, "tasks", "show", "0" * 32)
    assert unknown.returncode == 3 and "404" in unknown.stderr


def test_set_status_of_one_task(server, seeded) -> None:
    task_id = seeded["waiting"][0]
    result = cli(server, "tasks", "set-status", task_id, "suspended")
    assert result.returncode == 0 and "now suspended" in result.stdout
    assert json.loads(cli(server, "--json", "tasks", "show", task_id).stdout)["status"] == "suspended"
    assert cli(server, "tasks", "set-status", task_id, "waiting").returncode == 0
    bad = cli(server, "tasks", "set-status", task_id, "paused")
    assert bad.returncode == 2 and "paused" in bad.stderr


def test_bulk_status_starts_a_job_and_follows_it_to_the_end(server, seeded, tmp_path) -> None:
    ids = seeded["complete"]
    started = cli(server, "--json", "bulk-status", "suspended", "--no-follow", "--from-file", "-",
                  "--dataset", DATASET, stdin="\n".join(ids) + "\n")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["state"] == "running"
    run_jobs(server)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ICEPROD_TASKS")}
    environ.update(ICEPROD_TASKS_URL=server.url, ICEPROD_TASKS_TOKEN=server.token)
    follower = subprocess.Popen([CLI, "bulk-status", "complete", "--from-file", str(tmp_path / "ids.txt")],
                                env=environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    assert follower.poll() is None  # waiting for the job
    run_jobs(server)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert "2 tasks: status complete (done)" in out and "2 of 2 changed" in err
    assert {json.loads(cli(server, "--json", "tasks", "show", i).stdout)["status"] for i in ids} == {"complete"}


def test_bulk_requirements(server, seeded) -> None:
    result = cli(server, "--json", "bulk-requirements", DATASET, "filt", "memory=4.0", "--no-follow")
    assert result.returncode == 0, result.stderr
    run_jobs(server)
    task = json.loads(cli(server, "--json", "tasks", "show", seeded["queued"][0]).stdout)
    assert task["requirements"]["memory"] == 4.0
    bad = cli(server, "bulk-requirements", DATASET, "filt", "memory")
    assert bad.returncode == 2 and "is not KEY=VALUE" in bad.stderr


def test_claim_and_report_as_a_pilot(server, seeded) -> None:
    claimed = cli(server, "--json", "claim", "-r", "memory=8.0", "-w", f"dataset_id={DATASET}")
    assert claimed.returncode == 0, claimed.stderr
    task = json.loads(claimed.stdout)
    assert task["task_id"] == seeded["queued"][0] and task["status"] == "processing"
    nothing = cli(server, "claim", "-w", f"dataset_id={DATASET}")
    assert nothing.returncode == 3
    reported = cli(server, "report", task["task_id"], "failed", "--reason", "killed", "--time-used", "12")
    assert reported.returncode == 0 and "reported failed" in reported.stdout
    again = cli(server, "report", task["task_id"], "complete")
    assert again.returncode == 1 and "400" in again.stderr


def test_a_minted_token_works_and_a_user_without_grant_is_denied(server, seeded) -> None:
    local = {k: server.env.get(k, "") for k in ("TASKS_LOCAL_DIR", "TASKS_JWT_SECRET")}  # the server's secret
    minted = cli(None, "token", "--role", "user", "--dataset", f"{DATASET}:read", env=local).stdout.strip()
    assert cli(server, "counts", "--dataset", DATASET, token=minted).returncode == 0
    denied = cli(server, "counts", token=minted)
    assert denied.returncode == 4 and "403" in denied.stderr
    bad = cli(None, "token", "--dataset", "nolevel", env=local)
    assert bad.returncode == 2


def test_settings_from_a_config_file_and_what_missing_or_unreachable_means(server, seeded, tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'url = "{server.url}"\ntoken = "{server.token}"\n')
    assert cli(None, "--config", str(config), "counts").returncode == 0
    missing = cli(None, "counts")
    assert missing.returncode == 2 and "no service URL" in missing.stderr
    unreachable = cli(None, "--url", "http://127.0.0.1:9", "--token", "x", "counts")
    assert unreachable.returncode == 5 and "cannot reach" in unreachable.stderr


def test_help_teaches_examples_and_exit_codes() -> None:
    top = cli(None, "--help")
    assert top.returncode == 0 and "Exit codes: 0 ok" in top.stdout and "Quick start" in top.stdout
    for command in ("counts", "progress", "bulk-status", "claim", "import"):
        assert "Example" in cli(None, command, "--help").stdout or command == "import"
    assert "mongodump --archive" in cli(None, "import", "--help").stdout
