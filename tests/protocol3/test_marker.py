"""The tables' protocol marker: a service refuses tables of the other protocol (503 for every
request, the scheduled functions do nothing, ``make run`` does not start)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from chalicelib import config, protocol
from chalicelib.services import protocol_marker
from tests.protocol3.stored import doc, mark, put_task

V3_ON_V2 = ("this deployment serves IceProd 3's protocol but its tables hold IceProd 2 data: "
            "convert them first (see the README, make convert-protocol)")
V2_ON_V3 = ("this deployment serves IceProd 2's protocol but its tables hold IceProd 3 data: "
            "serve them with ICEPROD_API_VERSION=3 (there is no conversion back)")


def refused_with(response, reason):
    assert response.status_code == 503
    assert response.data == {"code": 503, "error": reason}


def test_a_service_claims_empty_tables_for_its_protocol(api):
    mark(None)
    assert api.get("/openapi.json").status_code == 200
    assert protocol_marker.marker() == ("3", None)


def test_a_protocol_3_service_on_iceprod2_tables_answers_503(api):
    mark("2")
    refused_with(api.get("/openapi.json"), V3_ON_V2)


def test_tasks_without_a_marker_are_iceprod2_data(api):
    mark(None)
    put_task(status="queued")
    refused_with(api.get("/openapi.json"), V3_ON_V2)
    assert protocol_marker.marker() == (None, None)


def test_a_protocol_2_service_on_iceprod3_tables_answers_503(api, monkeypatch):
    monkeypatch.setattr(protocol, "CURRENT", protocol.ICEPROD2)
    refused_with(api.get("/openapi.json"), V2_ON_V3)


def test_a_protocol_2_service_claims_unmarked_tables_with_tasks(tables, monkeypatch):
    mark(None)
    put_task(status="waiting")
    monkeypatch.setattr(protocol, "CURRENT", protocol.ICEPROD2)
    assert protocol_marker.refusal() is None
    assert protocol_marker.marker() == ("2", None)


def test_both_protocols_refuse_tables_being_converted(api, monkeypatch):
    from chalicelib.services import conversion

    mark("2")
    assert conversion._begin()
    response = api.get("/openapi.json")
    assert response.status_code == 503 and "being converted from IceProd 2 to IceProd 3" in response.data["error"]
    protocol_marker.forget()
    monkeypatch.setattr(protocol, "CURRENT", protocol.ICEPROD2)
    assert "being converted" in api.get("/openapi.json").data["error"]
    # A protocol 2 janitor still scheduled during the conversion does nothing either.
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    monkeypatch.setattr(config, "JANITOR_SCHEDULE", True)
    assert "being converted" in handlers.run_janitor(scheduled_event(), None)["refused"]


def test_a_refusal_is_checked_again_after_a_while(api, monkeypatch):
    from chalicelib import db
    from chalicelib.models import Bookkeeping, bookkeeping

    mark("2")
    assert api.get("/openapi.json").status_code == 503
    db.delete_item(Bookkeeping, *bookkeeping.PROTOCOL_MARKER)
    protocol_marker.claim("3")  # as a finished conversion leaves it
    assert api.get("/openapi.json").status_code == 503  # the refusal is kept a while
    later = time.monotonic() + protocol_marker.REFUSAL_SECONDS + 1
    monkeypatch.setattr(protocol_marker, "time", SimpleNamespace(monotonic=lambda: later))
    assert api.get("/openapi.json").status_code == 200


def test_two_services_of_different_protocols_never_both_claim_the_tables(tables):
    mark(None)
    barrier = threading.Barrier(2)
    answers: dict[str, str | None] = {}

    def start(version: str) -> None:
        barrier.wait()
        answers[version] = protocol_marker.decide(version)

    threads = [threading.Thread(target=start, args=(v,)) for v in ("2", "3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    version, _ = protocol_marker.marker()
    assert answers[version] is None
    assert answers["3" if version == "2" else "2"] is not None


def test_the_scheduled_functions_do_nothing_on_the_other_protocols_tables(tables, monkeypatch):
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    monkeypatch.setattr(config, "QUEUE_SCHEDULE", True)
    monkeypatch.setattr(config, "JANITOR_SCHEDULE", True)
    mark("2")
    idle = put_task(status="idle")
    assert handlers.queue_tasks(scheduled_event(), None) == {"enabled": True, "refused": V3_ON_V2}
    assert handlers.run_jobs(scheduled_event(), None) == {"chunks": 0, "refused": V3_ON_V2}
    assert handlers.run_janitor(scheduled_event(), None) == {"enabled": True, "refused": V3_ON_V2}
    assert doc(idle)["status"] == "idle"


def _run_server(backend: str, tmp_path, url: str, prefix: str, version: str) -> subprocess.Popen:
    from tests.engines import environment, free_port

    env = {k: v for k, v in environment(url).items() if not k.startswith("PYTEST")}
    env.update(PORT=str(free_port()), TASKS_LOCAL_DIR=str(tmp_path), LOG_LEVEL="WARNING", ICEPROD_API_VERSION=version,
               TASKS_TABLE=f"{prefix}-tasks", FILES_TABLE=f"{prefix}-files", COUNTERS_TABLE=f"{prefix}-counters")
    return subprocess.Popen([sys.executable, "-m", "devserver.run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def engine_url(backend):
    """A DynamoDB server both processes of a test share (the embedded one dies with its process)."""
    if backend == "ddblocal":
        yield os.environ["AWS_ENDPOINT_URL_DYNAMODB"]  # set by the test harness after config was read
        return
    from devserver.embedded import EmbeddedDynamoDB

    embedded = EmbeddedDynamoDB().start()
    try:
        yield embedded.url
    finally:
        embedded.stop()


def test_make_run_refuses_to_start_on_the_other_protocols_tables(backend, tmp_path, engine_url):
    prefix = f"marker-{uuid.uuid4().hex[:8]}"
    first = _run_server(backend, tmp_path, engine_url, prefix, "3")
    try:
        for line in first.stdout:  # type: ignore[union-attr]
            if line.startswith("Serving on"):
                break
    finally:
        first.terminate()
        first.wait(15)
    second = _run_server(backend, tmp_path, engine_url, prefix, "2")
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 2, output
    assert f"Refusing to start: {V2_ON_V3}" in output
    assert "Serving on" not in output
