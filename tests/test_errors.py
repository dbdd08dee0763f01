"""Every error is JSON {"code", "error"}: framework errors included."""


def test_unknown_route_is_json_404(api):
    response = api.get("/no/such/route")
    assert response.status_code == 404
    assert response.data["code"] == 404 and response.data["error"]


def test_wrong_method_is_json_405(api):
    response = api.delete("/tasks")
    assert response.status_code == 405
    assert response.data == {"code": 405, "error": response.data["error"]}


def test_unexpected_failure_is_json_500_without_traceback(api, monkeypatch):
    from chalicelib.services import listings

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(listings, "list_tasks", boom)
    response = api.get("/tasks")
    assert response.status_code == 500
    assert set(response.data) == {"code", "error"} and response.data["code"] == 500
    assert "secret" not in response.body.decode() and "Traceback" not in response.body.decode()
