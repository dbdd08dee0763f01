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


#: A new value that removes the requirement (IceProd 3's POST ``bulk_requirements``).
REMOVE = object()
#: The requirement keys IceProd knows (the bulk routes' keys).
KNOWN = ("cpu", "gpu", "memory", "disk", "time", "os", "site")


def raise_from_usage3(resources: dict[str, Any]) -> Raise:
    """IceProd 3's raise after a failure: cpu grows by one core when the task used at least 1.1
    times its cores (1.1 < used <= 20; an absent value counts as 1, a null one skips); memory,
    disk and time become ``used * 1.5`` when that is larger (used >= 0.5; absent or null take it).
    Never lowered; gpu and other keys untouched."""

    def new_values(requirements: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        used = resources.get("cpu")
        cur = requirements.get("cpu", 1)
        if codec.is_number(used) and 1.1 < used <= 20 and codec.is_number(cur) and used >= 1.1 * cur:
            out["cpu"] = math.ceil(cur + 1)
        for key in NUMBER_KEYS:
            used = resources.get(key)
            if not codec.is_number(used) or used < 0.5:
                continue
            cur = requirements.get(key)
            if not codec.is_number(cur) or used * 1.5 > cur:
                out[key] = float(used * 1.5)
        return out

    return new_values


def overwrite(body: dict[str, Any]) -> Raise:
    """IceProd 3's PATCH ``bulk_requirements``: each given key set as given (a number may go down)."""

    def new_values(requirements: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in requirements or requirements[k] != v
                or type(requirements[k]) is not type(v)}

    return new_values


def replace(body: dict[str, Any]) -> Raise:
    """IceProd 3's POST ``bulk_requirements``: numbers raised to at least the value, ``os`` set
    (an empty list removes it), ``site`` set, every known key not given removed; other keys kept."""
    numbers = raise_to({k: v for k, v in body.items() if k not in ("os", "site")})

    def new_values(requirements: dict[str, Any]) -> dict[str, Any]:
        out = numbers(requirements)
        if "site" in body and requirements.get("site") != body["site"]:
            out["site"] = body["site"]
        if "os" in body:
            if body["os"]:
                if requirements.get("os") != body["os"]:
                    out["os"] = body["os"]
            elif "os" in requirements:
                out["os"] = REMOVE
        out.update({k: REMOVE for k in KNOWN if k not in body and k in requirements})
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
                extra_actions: list | None = None, extra_condition: Condition | None = None,
                return_values: str = "NONE") -> dict[str, Any]:
    """Write ``new_values(read())`` guarded by :func:`unchanged`, re-reading on conflict; a new
    value of :data:`REMOVE` removes the requirement. DynamoDB's answer (``return_values``).

    ``extra_actions`` and ``extra_condition`` ride along in the same write (a failure report's
    status and counters), so the whole change applies at once or not at all. ``read`` raises
    when the task may no longer be changed; a conflict re-reads and recomputes.
    """
    for _ in range(MAX_ATTEMPTS):
        reqs = read()
        changes = new_values(reqs)
        actions = list(extra_actions or [])
        for key, val in changes.items():
            path = attr("requirements", key)
            actions.append(path.remove() if val is REMOVE else path.set(value(val)))
        if not actions:
            return {}
        condition = unchanged(reqs, list(changes)) if changes else store.exists()
        if extra_condition is not None:
            condition &= extra_condition
        try:
            return store.update(task_id, actions, condition, return_values=return_values)
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


def tasks_named(dataset_id: str, task_name: str, not_found: str | None = None) -> list[str]:
    """The ids of a dataset's tasks of one name (``NotFound(not_found)`` when there is none)."""
    prefix = name_key(task_name, 0)[: -len("0")]
    items = listings.dataset_items(
        dataset_id, [attr("task_id")], attr("name") == value(task_name),
        range_key_condition=attr(NAME_KEY).startswith(prefix),
    )
    ids = [item["task_id"]["S"] for item in items]
    if not ids:
        raise NotFound(not_found or f"no task named {task_name!r} in dataset {dataset_id}")
    return ids


RULES: dict[str, Callable[[dict[str, Any]], Raise]] = {"raise": raise_to, "overwrite": overwrite, "replace": replace}


def raise_tasks(task_ids: list[str], body: dict[str, Any], unchanged_since: int | None = None,
                rule: str = "raise") -> int:
    """Apply ``body`` to these tasks' requirements by ``rule`` (:data:`RULES`; IceProd 2 raises),
    each atomically; how many exist. With ``unchanged_since``, a task written after that moment
    is left alone (a job never undoes a later change)."""
    new_values = RULES[rule](body)
    guard = store.unchanged_since(unchanged_since) if unchanged_since is not None else None

    def one(task_id: str) -> int:
        try:
            apply_raise(task_id, lambda: _requirements_of(task_id, unchanged_since), new_values,
                        extra_condition=guard)
        except NotFound:
            return 0  # deleted or changed meanwhile
        return 1

    return sum(db.parallel(one, task_ids))
