"""Task requirements: raising them (after a failure, or in bulk) without losing a concurrent change.

A raise is computed from the values read and written with a condition that those values are
still there (optimistic concurrency): two concurrent raises of the same task cannot both
apply to a stale value, the loser re-reads and recomputes. DynamoDB's ``ADD`` cannot express
"at least", so this is the atomic way to take a maximum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib import codec, db
from chalicelib.errors import Contended, NotFound
from chalicelib.models.tasks import MODIFIED, NAME_KEY, name_key
from chalicelib.services import listings, store
from chalicelib.services.store import attr, value

DEFAULTS: dict[str, float | int] = {"cpu": 1, "memory": 1.0, "disk": 10.0, "time": 1.0}
INT_KEYS = ("cpu", "gpu")
NUMBER_KEYS = ("memory", "disk", "time")
MAX_ATTEMPTS = 10

Raise = Callable[[dict[str, Any]], dict[str, Any]]


def current(requirements: dict[str, Any], key: str) -> Any:
    """A requirement's value, ``None`` when absent or stored as null."""
    return requirements.get(key) if isinstance(requirements, dict) else None


def raise_from_usage(resources: dict[str, Any]) -> Raise:
    """The new requirements after a failure that used ``resources`` (IceProd's rules)."""

    def new_values(requirements: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        used = resources.get("cpu")
        if codec.is_number(used):
            cur = current(requirements, "cpu")
            cur = cur if codec.is_number(cur) else DEFAULTS["cpu"]
            if 1.1 < used <= 20 and used >= 1.1 * cur:
                out["cpu"] = math.ceil(cur + 1)
        for key in NUMBER_KEYS:
            used = resources.get(key)
            if not codec.is_number(used) or used < 0.5:
                continue
            cur = current(requirements, key)
            cur = cur if codec.is_number(cur) else DEFAULTS[key]
            if used * 1.5 > cur:
                out[key] = float(used * 1.5)
        return out

    return new_values


def raise_to(body: dict[str, Any]) -> Raise:
    """``bulk_requirements``: numbers raised to at least the given value, os/site replaced."""

    def new_values(requirements: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in body.items():
            cur = current(requirements, key)
            if key in ("os", "site"):
                if cur != val:
                    out[key] = val
            elif not codec.is_number(cur) or cur < val:
                out[key] = val
        return out

    return new_values


def unchanged(requirements: dict[str, Any], keys: list[str]) -> Condition:
    """The condition that ``keys`` of the stored requirements still hold what was read."""
    condition = attr("requirements").exists()
    for key in keys:
        path = attr("requirements", key)
        if key not in requirements:
            condition &= path.does_not_exist()
        elif requirements[key] is None:
            condition &= path.is_type("NULL")
        else:
            condition &= path == value(requirements[key])
    return condition


def apply_raise(task_id: str, read: Callable[[], dict[str, Any]], new_values: Raise,
                extra_actions: list | None = None, extra_condition: Condition | None = None) -> None:
    """Write ``new_values(read())`` guarded by :func:`unchanged`, re-reading on conflict.

    ``extra_actions`` and ``extra_condition`` ride along in the same write (a failure report's
    status and counters), so the whole change applies at once or not at all. ``read`` raises
    when the task may no longer be changed; a conflict re-reads and recomputes.
    """
    for _ in range(MAX_ATTEMPTS):
        reqs = read()
        changes = new_values(reqs)
        actions = list(extra_actions or [])
        actions += [attr("requirements", k).set(value(val)) for k, val in changes.items()]
        if not actions:
            return
        condition = unchanged(reqs, list(changes)) if changes else store.exists()
        if extra_condition is not None:
            condition &= extra_condition
        try:
            store.update(task_id, actions, condition)
            return
        except UpdateError as error:
            if not db.is_condition_failure(error):
                raise
    raise Contended(task_id)


def _requirements_of(task_id: str, unchanged_since: int | None) -> dict[str, Any]:
    """A task's requirements; ``NotFound`` when it is gone or was changed after ``unchanged_since``."""
    item = store.get_item(task_id, [attr("requirements"), attr(MODIFIED)])
    if unchanged_since is not None and store.modified(item) > unchanged_since:
        raise NotFound(f"task {task_id} changed after the request")
    reqs = store.document(item).get("requirements")
    return reqs if isinstance(reqs, dict) else {}


def tasks_named(dataset_id: str, task_name: str) -> list[str]:
    """The ids of a dataset's tasks of one name (``NotFound`` when there is none)."""
    prefix = name_key(task_name, 0)[: -len("0")]
    items = listings.dataset_items(
        dataset_id, [attr("task_id")], attr("name") == value(task_name),
        range_key_condition=attr(NAME_KEY).startswith(prefix),
    )
    ids = [item["task_id"]["S"] for item in items]
    if not ids:
        raise NotFound(f"no task named {task_name!r} in dataset {dataset_id}")
    return ids


def raise_tasks(task_ids: list[str], body: dict[str, Any], unchanged_since: int | None = None) -> int:
    """Raise the requirements of these tasks to ``body`` (each atomically); how many exist. With
    ``unchanged_since``, a task written after that moment is left alone (a job never undoes a
    later change)."""
    new_values = raise_to(body)
    guard = store.unchanged_since(unchanged_since) if unchanged_since is not None else None

    def one(task_id: str) -> int:
        try:
            apply_raise(task_id, lambda: _requirements_of(task_id, unchanged_since), new_values,
                        extra_condition=guard)
        except NotFound:
            return 0  # deleted or changed meanwhile
        return 1

    return sum(db.parallel(one, task_ids))
