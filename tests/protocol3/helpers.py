"""Helpers of the IceProd 3 tests: tasks in a given state, through the API."""

from typing import Any

from tests.conftest import new_task


def make(api: Any, **overrides: Any) -> str:
    """A task created through ``POST /tasks``, then PATCHed to any ``status``/``instance_id``/
    ``requirements`` the test needs (IceProd 3's tests do the same)."""
    forced = {k: overrides.pop(k) for k in ("instance_id",) if k in overrides}
    response = api.post("/tasks", new_task(**overrides))
    assert response.status_code == 201, response.data
    task_id = response.data["result"]
    if forced:
        assert api.patch(f"/tasks/{task_id}", forced).status_code == 200
    return task_id


def stored(api: Any, task_id: str) -> dict[str, Any]:
    return api.get(f"/tasks/{task_id}").data
