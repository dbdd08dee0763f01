"""The local server with and without TCP_NODELAY: per-request latency on a kept-alive connection
(a ``requests.Session``, as pilots use) and on fresh connections."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import requests

from bench.common import Figure, median_ms
from tests.engines import free_port, wait_for_http

STOCK = r"""
import sys
from app import app
from chalice.config import Config
from chalice.local import LocalChalice, LocalDevServer
app.__class__ = LocalChalice
LocalDevServer(app, Config(), "127.0.0.1", int(sys.argv[1])).serve_forever()
"""


def _latencies(url: str, token: str) -> tuple[float, float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    session.get(url)
    kept = median_ms(lambda: session.get(url).raise_for_status(), 100)
    fresh = median_ms(lambda: requests.get(url, headers={"Authorization": f"Bearer {token}"}).raise_for_status(), 50)
    return kept, fresh


def run(server: Any) -> None:
    port = free_port()
    stock = subprocess.Popen([sys.executable, "-c", STOCK, str(port)], env=server.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/task_counts/status")
        time.sleep(0.5)
        stock_kept, stock_fresh = _latencies(f"http://127.0.0.1:{port}/task_counts/status", server.token)
    finally:
        stock.terminate()
        stock.wait(10)
    ours_kept, ours_fresh = _latencies(f"{server.url}/task_counts/status", server.token)
    Figure("local server, keep-alive request", "GET /task_counts/status on a requests.Session, median of 100",
           ours_kept, "ms", stock_kept, "chalice's stock local server (no TCP_NODELAY)").emit()
    Figure("local server, fresh-connection request", "GET /task_counts/status, new connection each, median of 50",
           ours_fresh, "ms", stock_fresh, "chalice's stock local server").emit()
