"""An embedded DynamoDB for ``make run``: moto's server, in process, on a free port.

moto's DynamoDB backend reads, checks and writes an item in separate steps with no lock, so
two concurrent conditional writes could both pass their condition. A real engine is atomic per
item; we make moto so by serving one request at a time (it is in memory and fast, and the
claims it decides must be exact).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _Serialized:
    """A WSGI app that lets one request at a time into the wrapped app."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            return list(self._app(environ, start_response))


class _NoDelayHandler(WSGIRequestHandler):
    """botocore keeps connections alive; without TCP_NODELAY each answer waits ~40 ms for the
    client's delayed ACK (Nagle), as with Chalice's own local server."""

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()


class EmbeddedDynamoDB:
    """moto's DynamoDB (and streams) server in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app

        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = _Serialized(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=_NoDelayHandler)
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-dynamodb", daemon=True)

    def start(self) -> EmbeddedDynamoDB:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
