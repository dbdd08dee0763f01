"""Cold start: ``import app`` in fresh interpreters against importing the stack it must load,
and the first request through the Lambda handler after import."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from bench.common import Figure

RUNS = 7
STACK = "import chalice, boto3, pynamodb.models"
FIRST_REQUEST = r"""
import json, time
t0 = time.perf_counter()
import app
t1 = time.perf_counter()
from chalicelib.auth import make_token
event = {"requestContext": {"httpMethod": "GET", "resourcePath": "/task_counts/status", "path": "/task_counts/status",
         "identity": {"sourceIp": "127.0.0.1"}}, "headers": {"authorization": "Bearer " + make_token(["system"])},
         "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None, "body": None,
         "resource": "/task_counts/status", "path": "/task_counts/status", "httpMethod": "GET"}
t2 = time.perf_counter()
answer = app.app(event, None)
t3 = time.perf_counter()
assert answer["statusCode"] == 200, answer
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t3 - t2) * 1000}))
"""


def _time_import(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print((time.perf_counter() - t) * 1000)"
    return float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                text=True).stdout)


def run(env: dict[str, str]) -> None:
    # Both sides from bytecode caches, as the installed libraries always are: the warm-up writes
    # ours (a shell's PYTHONDONTWRITEBYTECODE would leave our modules compiled on every import
    # while the stack's come from pip's caches, an unequal comparison).
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    _time_import("import app", env)  # warm the OS file cache and the bytecode cache
    stack = statistics.median(_time_import(STACK, env) for _ in range(RUNS))
    ours = statistics.median(_time_import("import app", env) for _ in range(RUNS))
    Figure("cold start: import app", f"median of {RUNS} fresh interpreters", round(ours, 1), "ms", round(stack, 1),
           f"`{STACK}`").emit()
    # The probe's own line is the last: the request before it printed its metrics record.
    samples = [json.loads(subprocess.run([sys.executable, "-c", FIRST_REQUEST], env=env, check=True,
                                         capture_output=True, text=True, cwd=os.getcwd()).stdout.splitlines()[-1])
               for _ in range(5)]
    Figure("first request after import", "GET /task_counts/status through the Lambda handler, median of 5",
           round(statistics.median(s["first_ms"] for s in samples), 1), "ms").emit()
