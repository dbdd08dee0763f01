"""A real browser for the status page's tests: headless Chromium from Debian's packages
(``chromium``, ``chromium-driver``; ``.ci/run`` installs them), driven by Selenium; and a proxy
that serves the API under a stage prefix, as API Gateway does.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from tests.engines import MissingTool, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: As root in a container Chromium needs no sandbox; the rest keeps it from calling home, which
#: this sandbox's network refuses (and which makes a test slow and flaky anywhere).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1100,900")


def chromium(profile: Path) -> Any:
    """A headless Chromium with a fresh profile in ``profile``; ``MissingTool`` without one."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        raise MissingTool(f"{', '.join(missing)} missing (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


class StagePrefixProxy:
    """Serves ``target`` under ``prefix`` (``/api/status`` → ``target/status``) byte for byte,
    compressed answers included, as API Gateway serves a stage; anything else is 404. While
    ``outage`` is set, every API call (not the page) is answered 503, as during a DynamoDB
    outage."""

    def __init__(self, target: str, prefix: str = "/api") -> None:
        self.prefix = prefix
        self.outage = False
        self.url = f"http://127.0.0.1:{free_port()}"
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self, target)

            do_PUT = do_POST = do_OPTIONS = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, handler: BaseHTTPRequestHandler, target: str) -> None:
        if not handler.path.startswith(self.prefix + "/"):
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        if self.outage and handler.path != f"{self.prefix}/status":
            body = b'{"code": 503, "error": "the database is busy or unreachable, retry later"}'
            handler.send_response(503)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "connection")}
        answer = requests.request(handler.command, target + handler.path[len(self.prefix):], headers=headers,
                                  data=handler.rfile.read(length) if length else None, stream=True, timeout=30)
        body = answer.raw.read(decode_content=False)
        handler.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "keep-alive"):
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
