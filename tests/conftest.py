"""Test harness: one behavioural suite, two engines.

``pytest`` runs on moto, in process (``mock_aws`` per test, tables created per test).
``pytest --backend=ddblocal`` runs the same tests against AWS's DynamoDB Local, started once
for the session (see ``tests/engines.py``); tables are created and deleted per test.
Environment that the app reads at import is set here, before any ``chalicelib`` import.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from tests.engines import LiveServer

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ["TASKS_JWT_SECRET"] = "test-secret-0123456789abcdef0123456789"
for _name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS", "AWS_PROFILE",
              "TASKS_JWT_PUBLIC_KEY", "TASKS_JWT_AUDIENCE", "TASKS_JWT_ISSUER", "TASKS_KEYCLOAK_AUDIENCE",
              "TASKS_KEYCLOAK_ISSUER", "TASKS_KEYCLOAK_ANY_AUDIENCE"):
    os.environ.pop(_name, None)

_ENGINE = None
_SKIPPED = ""
#: Tools missing here whose tests were skipped; said again, loudly, after the run.
LOUD_SKIPS: set[str] = set()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", default="moto", choices=["moto", "ddblocal"],
                     help="DynamoDB engine for the behavioural tests")


def pytest_configure(config: pytest.Config) -> None:
    global _ENGINE
    config.addinivalue_line("markers", "real_server: needs a DynamoDB server process (not in-process moto)")
    if config.getoption("backend") == "moto":
        # botocore derives account-based stream hosts (<account>.streams-ddb...) from the ARN;
        # moto's in-process mock knows only the classic host, so name it.
        os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = "https://streams.dynamodb.us-east-1.amazonaws.com"
    if config.getoption("backend") == "ddblocal":
        from tests.engines import DynamoDBLocal, MissingTool

        try:
            _ENGINE = DynamoDBLocal.start()
        except MissingTool as missing:
            if os.environ.get("CI", "").lower() == "true":
                raise pytest.UsageError(f"DynamoDB Local is required in CI: {missing}") from None
            global _SKIPPED
            _SKIPPED = f"DynamoDB Local unavailable ({missing}): the real-engine run is SKIPPED"
            return
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = _ENGINE.url
        os.environ["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = _ENGINE.url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _SKIPPED:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=_SKIPPED))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for skipped in sorted(LOUD_SKIPS | ({_SKIPPED} if _SKIPPED else set())):
        terminalreporter.write_line("!" * 80, red=True)
        terminalreporter.write_line(f"WARNING: {skipped}", red=True)
        terminalreporter.write_line("!" * 80, red=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _ENGINE is not None:
        _ENGINE.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return f"backend: {config.getoption('backend')}"


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("backend")


@pytest.fixture
def tables(backend: str) -> Iterator[None]:
    """Fresh, empty tables for one test, on the selected engine, marked as the process's
    protocol's (see ``chalicelib/services/protocol_marker.py``).

    moto hooks every botocore client created after ``import moto`` (done above, before any
    client), so the models' cached connections can serve every test.
    """
    from chalicelib import protocol
    from chalicelib.models import ALL_MODELS, create_tables
    from chalicelib.services import access, protocol_marker
    from chalicelib.services.claims import CACHE

    CACHE.clear()
    access.CACHE.clear()
    protocol_marker.forget()  # fresh tables: the first request checks them again
    if backend == "moto":
        with mock_aws():
            create_tables()
            protocol_marker.claim(protocol.CURRENT.version)  # as the process's own service left them
            yield
        return
    create_tables()
    protocol_marker.claim(protocol.CURRENT.version)
    try:
        yield
    finally:
        for model in ALL_MODELS:
            model.delete_table()


class Api:
    """``chalice.test.Client`` with JSON bodies and a bearer token."""

    def __init__(self, client: Any, token: str | None) -> None:
        self.client = client
        self.token = token
        #: The local API Gateway, for tests of the Lambda events and answers themselves.
        self.gateway = client.http._local_gateway

    def request(self, method: str, path: str, body: Any = None, token: str | None = "default",
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        tok = self.token if token == "default" else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        response = self.client.http.request(method, path, headers=hdrs, body=data)
        response.wire = response.body  # as sent; ``body``, decoded as an HTTP client would
        if response.headers.get("Content-Encoding") == "gzip":
            response.body = gzip.decompress(response.body)
        response.data = json.loads(response.body) if response.body else None
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def token(roles: list[str], datasets: dict[str, str] | None = None) -> str:
    from chalicelib.auth import make_token

    return make_token(roles, datasets)


@pytest.fixture
def api(tables: None) -> Iterator[Api]:
    """An admin client of the app over fresh tables."""
    from chalice.config import Config
    from chalice.test import Client

    from app import app
    from devserver.gateway import ApiGateway

    with Client(app) as client:
        client.http._local_gateway = ApiGateway(app, Config())
        yield Api(client, token(["admin"]))


def new_task(**overrides: Any) -> dict[str, Any]:
    """A valid task body."""
    body: dict[str, Any] = {
        "dataset_id": "d1",
        "job_id": "j1",
        "task_index": 0,
        "job_index": 0,
        "name": "generate",
        "depends": [],
        "requirements": {},
    }
    body.update(overrides)
    return body


@pytest.fixture
def create(api: Api):
    """Create a task through the API; its id."""

    def make(**overrides: Any) -> str:
        response = api.post("/tasks", new_task(**overrides))
        assert response.status_code == 201, response.data
        return response.data["result"]

    return make


@pytest.fixture
def live(backend: str, tmp_path: Any) -> Iterator[LiveServer]:
    """A running local server (embedded moto, or DynamoDB Local with ``--backend=ddblocal``)."""
    server = LiveServer(backend, tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def drain(tables: None):
    """Apply what the tasks stream holds now to the counters, through the real consumer."""
    from chalicelib.events import handlers
    from devserver.consumer import StreamConsumer

    consumer = StreamConsumer(handlers.count_tasks)
    return consumer.drain
