"""``make run``'s server as a real process: HTTP, auth, the secret file, TCP_NODELAY."""

import json
import socket
import threading

import requests

from tests.conftest import LiveServer, new_task


def test_server_answers_tasks_with_json(live):
    s = live.session()
    created = s.post(f"{live.url}/tasks", data=json.dumps(new_task(name="step 1")))
    assert created.status_code == 201
    task_id = created.json()["result"]
    listed = s.get(f"{live.url}/tasks")
    assert listed.status_code == 200 and listed.headers["Content-Type"] == "application/json"
    assert [t["task_id"] for t in listed.json()["tasks"]] == [task_id]
    assert s.patch(f"{live.url}/datasets/d1/task_actions/bulk_requirements/step%201",
                   data='{"cpu": 2}').status_code == 200
    assert s.get(f"{live.url}/tasks/{task_id}").json()["requirements"] == {"cpu": 2}


def test_server_errors_are_json(live):
    assert requests.get(f"{live.url}/tasks").json()["code"] == 401
    s = live.session()
    missing = s.get(f"{live.url}/nope")
    assert missing.status_code == 404 and missing.json()["code"] == 404
    assert s.post(f"{live.url}/tasks", data=b"{").json() == {"code": 400, "error": "malformed JSON body"}


def test_server_generates_a_secret_and_reuses_it_on_the_next_start(backend, tmp_path):
    first = LiveServer(backend, tmp_path, TASKS_JWT_SECRET="")
    try:
        secret = (tmp_path / "jwt-secret").read_text()
        assert len(secret) >= 32 and "new secret" in "".join(first.output)
        assert first.session().get(f"{first.url}/tasks").status_code == 200
    finally:
        first.stop()
    second = LiveServer(backend, tmp_path, TASKS_JWT_SECRET="")
    try:
        assert (tmp_path / "jwt-secret").read_text() == secret
        assert "new secret" not in "".join(second.output)
        assert second.session(first.token).get(f"{second.url}/tasks").status_code == 200
    finally:
        second.stop()


def test_accepted_connections_set_tcp_nodelay():
    from app import app
    from devserver.server import make_server

    server = make_server(app, "127.0.0.1", 0)
    seen = []
    done = threading.Event()
    original = server.finish_request

    def record(request, client_address):
        original(request, client_address)  # the handler sets the option on the accepted socket
        seen.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        done.set()

    server.finish_request = record
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    requests.get(f"http://127.0.0.1:{server.server_address[1]}/tasks", timeout=10)
    assert done.wait(10)
    server.server_close()
    assert seen[0] != 0
