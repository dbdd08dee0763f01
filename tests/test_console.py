"""`make run`'s console: one readable line per request; the deployed JSON and EMF lines on request."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.engines import LiveServer

pytestmark = pytest.mark.real_server


def _lines_after_request(backend: str, tmp_path: Any, **env: str) -> list[str]:
    server = LiveServer(backend, tmp_path, LOG_LEVEL="INFO", **env)
    try:
        answer = server.session().get(f"{server.url}/tasks/{'0' * 32}")
        assert answer.status_code == 404
        time.sleep(0.3)  # the output thread catches up
        return list(server.output)
    finally:
        server.stop()


def test_make_run_prints_one_short_line_per_request_and_no_json(backend: str, tmp_path: Any) -> None:
    lines = _lines_after_request(backend, tmp_path)
    requests = [line for line in lines if "GET /tasks/" in line]
    assert len(requests) == 1
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO  GET /tasks/\{task_id\} 404 \d+\.\d ms\n", requests[0])
    assert not [line for line in lines if line.startswith("{")]


def test_the_deployed_json_and_emf_lines_come_back_with_local_console_json(backend: str, tmp_path: Any) -> None:
    lines = _lines_after_request(backend, tmp_path, LOCAL_CONSOLE="json")
    emf = [line for line in lines if line.startswith('{"_aws"')]
    assert len(emf) == 1 and '"Route": "/tasks/{task_id}"' in emf[0]
