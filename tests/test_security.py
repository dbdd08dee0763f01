"""No route answers without auth, except the API description and CORS preflights."""

import pytest

from app import app

OPEN = {("/openapi.json", "GET"), ("/status", "GET")}
IDS = {"{task_id}": "0" * 32, "{dataset_id}": "d1", "{status}": "idle", "{name}": "n", "{job_id}": "0" * 32}


def concrete(path):
    for key, value in IDS.items():
        path = path.replace(key, value)
    return path


ROUTES = [(path, method) for path, methods in app.routes.items() for method in methods
          if method != "OPTIONS" and (path, method) not in OPEN]


def test_every_route_is_listed():
    assert len(ROUTES) >= 28


@pytest.mark.parametrize("path,method", ROUTES)
def test_every_route_needs_a_token(api, path, method):
    response = api.request(method, concrete(path), token=None, raw=b"{}")
    assert response.status_code == 401, (method, path, response.status_code)
    assert response.data["code"] == 401


def test_the_api_description_needs_none(api):
    response = api.get("/openapi.json", token=None)
    assert response.status_code == 200 and response.data["openapi"].startswith("3.")
