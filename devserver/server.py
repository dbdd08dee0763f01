"""The HTTP server of ``make run``: Chalice's local server with two fixes.

* ``TCP_NODELAY`` on every accepted connection. Chalice's handler writes a response in several
  small writes; with Nagle's algorithm on, a kept-alive client (``requests.Session``, i.e. every
  real pilot) waits for its delayed ACK, about 40 ms per request.
* The gateway of :mod:`devserver.gateway` (decoded path parameters, JSON 404s).
* One short line per request on the console (method, route template, status, ms).

Threaded, no autoreload. The app object becomes a ``LocalChalice`` so ``current_request`` is
per thread, as ``chalice local`` does.
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalChalice, ThreadedHTTPServer

from devserver.gateway import ApiGateway

log = logging.getLogger("iceprod_tasks.http")


class NoDelayRequestHandler(ChaliceRequestHandler):
    """Chalice's request handler on a no-delay socket, with our gateway."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = ApiGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the app, which answers 405 for those a route does not declare
        (http.server would answer 501 with an HTML page)."""
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The HTTP layer's own errors (bad request line, ...) in the service's JSON shape."""
        body = json.dumps({"code": code, "error": message or "bad request"}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def parse_request(self) -> bool:
        self.started = time.perf_counter()
        self.local_gateway.route = None
        return super().parse_request()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """The console's one line per request: method, route template, status, milliseconds."""
        took = (time.perf_counter() - getattr(self, "started", time.perf_counter())) * 1000
        # A request refused before its request line was read (too long, malformed) has no path.
        route = self.local_gateway.route or getattr(self, "path", "-").split("?", 1)[0]
        log.info("%s %s %s %.1f ms", getattr(self, "command", None) or "-", route, getattr(code, "value", code), took)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class NoDelayHTTPServer(ThreadedHTTPServer):
    allow_reuse_address = True
    request_queue_size = 128


def make_server(app: Chalice, host: str, port: int) -> NoDelayHTTPServer:
    """A ready server for ``app`` (``serve_forever`` to run it)."""
    app.__class__ = LocalChalice
    config = Config(chalice_stage="dev")
    handler = functools.partial(NoDelayRequestHandler, app_object=app, config=config)
    return NoDelayHTTPServer((host, port), handler)
