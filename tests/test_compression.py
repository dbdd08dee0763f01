"""gzip answers: negotiated by Accept-Encoding, in Lambda's base64 form, and what they let fit."""

import base64
import gzip
import json
import os

import pytest
import requests

from chalicelib.routes import encoding
from chalicelib.routes.encoding import accepts_gzip
from tests.conftest import LiveServer

GZIP = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate"}


@pytest.mark.parametrize(("header", "accepted"), [
    ("gzip", True), ("gzip, deflate, br", True), ("GZIP", True), ("x-gzip", True), ("*", True),
    ("deflate;q=1.0, gzip;q=0.5", True), ("gzip; q=0.001", True), (" br , gzip ", True),
    (None, False), ("", False), ("identity", False), ("deflate, br", False), ("gzip;q=0", False),
    ("gzip;q=0.0, *", False), ("*;q=0", False), ("gzip;q=nonsense", False), ("gzipped", False),
])
def test_accept_encoding_is_read_as_rfc_9110_says(header, accepted):
    assert accepts_gzip(header) is accepted


@pytest.fixture
def listing(create):
    """Enough tasks for an answer well past the compression threshold."""
    return [create(job_index=i, name=f"step{i % 3}") for i in range(40)]


def test_a_listing_is_compressed_for_a_client_that_accepts_gzip(api, listing):
    plain = api.get("/tasks")
    packed = api.get("/tasks", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert packed.data == plain.data and len(packed.data["tasks"]) == 40
    assert len(packed.wire) < len(plain.wire) / 3
    assert "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]


@pytest.mark.parametrize("headers", [
    {"Accept": "*/*"}, {"Accept": "*/*", "Accept-Encoding": "identity"},
    {"Accept": "*/*", "Accept-Encoding": "gzip;q=0"},
    {"Accept-Encoding": "gzip"},  # no Accept: API Gateway might not decode it
])
def test_a_client_that_does_not_accept_gzip_gets_plain_json(api, listing, headers):
    response = api.get("/tasks", headers=headers)
    assert response.status_code == 200 and "Content-Encoding" not in response.headers
    assert json.loads(response.wire)["tasks"]


def test_short_answers_and_errors_are_not_compressed(api, listing):
    one = api.get(f"/tasks/{listing[0]}", headers=GZIP)
    missing = api.get("/tasks/" + "0" * 32, headers=GZIP)
    assert one.status_code == 200 and "Content-Encoding" not in one.headers
    assert missing.status_code == 404 and "Content-Encoding" not in missing.headers


def test_the_lambda_answer_is_base64_gzip_flagged_for_api_gateway(api, listing):
    headers = {**GZIP, "Authorization": f"Bearer {api.token}"}
    answer = api.gateway.handle_request("GET", "/tasks", headers, b"")
    assert answer["isBase64Encoded"] is True and answer["headers"]["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(base64.b64decode(answer["body"])))["tasks"]) == 40
    plain = api.gateway.handle_request("GET", "/tasks", {**headers, "Accept-Encoding": ""}, b"")
    assert not plain.get("isBase64Encoded") and len(json.loads(plain["body"])["tasks"]) == 40


def test_request_bodies_reach_the_app_base64_encoded_as_api_gateway_sends_them(api):
    """The API declares every media type binary, so API Gateway base64-encodes request bodies."""
    event = api.gateway._generate_lambda_event("POST", "/tasks", {}, b'{"x": 1}')
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b'{"x": 1}'
    created = api.post("/tasks", raw="{\"dataset_id\": \"d\u00e9\", \"job_id\": \"j\", \"task_index\": 0, "
                       "\"job_index\": 0, \"name\": \"n\", \"depends\": [], \"requirements\": {}}".encode())
    assert created.status_code == 201
    assert api.get(f"/tasks/{created.data['result']}").data["dataset_id"] == "d\u00e9"


def test_gzip_lets_a_complete_answer_hold_more_than_the_lambda_cap(api, listing, monkeypatch):
    monkeypatch.setattr(encoding, "MAX_ANSWER_BYTES", 6000)  # the 40-task listing is ~16 KB of JSON
    assert api.get("/tasks").status_code == 400
    packed = api.get("/tasks", headers=GZIP)
    assert packed.status_code == 200 and len(packed.data["tasks"]) == 40
    assert len(packed.wire) <= 6000 * 3 / 4  # base64 of it fits the cap


def test_gzip_answers_have_a_json_budget_too(api, listing, monkeypatch):
    from chalicelib import config

    monkeypatch.setattr(config, "GZIP_MAX_JSON_BYTES", 5000)
    refused = api.get("/tasks", headers=GZIP)
    assert refused.status_code == 400 and "limit" in refused.data["error"]
    assert api.get("/tasks?limit=5", headers=GZIP).status_code == 200


def test_an_answer_that_does_not_fit_even_compressed_is_refused_whole(api, create, monkeypatch):
    for i in range(6):  # incompressible: 2 KB of random hex per task
        create(job_index=i, requirements={"blob": os.urandom(1000).hex()})
    monkeypatch.setattr(encoding, "MAX_ANSWER_BYTES", 6000)
    refused = api.get("/tasks", headers=GZIP)
    assert refused.status_code == 400 and refused.data["code"] == 400 and "limit" in refused.data["error"]
    assert "Content-Encoding" not in refused.headers


def test_requests_clients_get_gzip_and_decode_it_transparently(backend, tmp_path):
    """IceProd's clients (python-requests) accept gzip by default; through ``make run``."""
    server = LiveServer(backend, tmp_path)
    try:
        s = server.session()
        for i in range(20):
            task = {"dataset_id": "d1", "job_id": f"j{i}", "task_index": 0, "job_index": i, "name": "n",
                    "depends": [], "requirements": {"cpu": 1}}
            assert s.post(f"{server.url}/tasks", json=task).status_code == 201
        packed = s.get(f"{server.url}/datasets/d1/tasks", stream=True)
        raw = packed.raw.read(decode_content=False)
        assert packed.headers["Content-Encoding"] == "gzip"
        assert int(packed.headers["Content-Length"]) == len(raw)
        assert len(json.loads(gzip.decompress(raw))) == 20
        assert len(s.get(f"{server.url}/datasets/d1/tasks").json()) == 20  # what a client sees
        plain = requests.get(f"{server.url}/datasets/d1/tasks", headers={
            "Authorization": s.headers["Authorization"], "Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers and len(plain.json()) == 20
    finally:
        server.stop()
