"""CORS for the IceProd website: configured origins only, preflights without auth."""

import pytest

from chalicelib import config

SITE = "https://iceprod.icecube.aq"


@pytest.fixture
def cors(monkeypatch):
    monkeypatch.setattr(config, "CORS_ALLOW_ORIGINS", (SITE,))


def test_preflight_from_an_allowed_origin(api, cors):
    response = api.request("OPTIONS", "/datasets/d1/tasks", token=None,
                           headers={"Origin": SITE, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


def test_preflight_from_another_origin_gets_no_cors_headers(api, cors):
    response = api.request("OPTIONS", "/tasks", token=None, headers={"Origin": "https://evil.example"})
    assert response.status_code == 204
    assert "Access-Control-Allow-Origin" not in response.headers


def test_answers_to_an_allowed_origin_carry_cors_headers(api, cors, create):
    create()
    response = api.get("/datasets/d1/tasks", headers={"Origin": SITE})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Link" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["Vary"] == "Accept-Encoding, Origin"
    denied = api.get("/datasets/d1/tasks", token=None, headers={"Origin": SITE})
    assert denied.status_code == 401 and denied.headers["Access-Control-Allow-Origin"] == SITE


def test_no_cors_headers_when_no_origin_is_configured(api):
    response = api.get("/task_counts/status", headers={"Origin": SITE})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_any_origin_with_a_star(api, monkeypatch):
    monkeypatch.setattr(config, "CORS_ALLOW_ORIGINS", ("*",))
    response = api.get("/task_counts/status", headers={"Origin": "https://anywhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://anywhere.example"
