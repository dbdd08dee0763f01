"""The tasks table as a repository of JSON documents: whole-item reads and conditional writes.

Everything that turns a task document into DynamoDB and back lives here, so that the services
speak in documents, PynamoDB conditions and update actions.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from chalicelib import codec, db, protocol
from chalicelib.errors import NotFound
from chalicelib.models import Task
from chalicelib.models.tasks import INTERNAL, MODIFIED, STATUS_KEY, status_key

Doc = dict[str, Any]


def now() -> str:
    """``status_changed`` exactly as the served protocol writes it: naive UTC ISO 8601 (IceProd 3:
    always six fractional digits)."""
    return protocol.CURRENT.now()


def attr(*segments: str) -> Path:
    """A document path from literal segments (a dot in a name stays part of the name)."""
    return Path(list(segments))


def value(v: Any) -> dict[str, Any]:
    """A JSON value as a pre-serialized expression value (keeps ints and floats exact)."""
    return codec.encode(v)


def set_status(status: str, task_id: str) -> list[Action]:
    """The writes of a status change: the status, its index key, ``status_changed``."""
    return [*move_status(status, task_id), attr("status_changed").set(value(now()))]


def move_status(status: str, task_id: str) -> list[Action]:
    """A status change that leaves ``status_changed`` alone (IceProd 3's ``waiting``, ``queue``
    and ``queue_many`` do not set it): the status and its index key."""
    return [attr("status").set(value(status)), attr(STATUS_KEY).set(value(status_key(status, task_id)))]


def exists() -> Condition:
    return attr("task_id").exists()


def document(item: dict[str, Any], keys: Iterable[str] | None = None, keep_task_id: bool = True) -> Doc:
    """A task item as the client's document (internal attributes dropped), projected to ``keys``
    when given."""
    doc = codec.decode_item(item, INTERNAL)
    if keys is not None:
        wanted = set(keys)
        if keep_task_id:
            wanted.add("task_id")
        doc = {k: v for k, v in doc.items() if k in wanted}
    return doc


def project(doc: Doc, keys: Iterable[str], dotted: bool = False) -> Doc:
    """``doc`` cut down to ``keys``; with ``dotted`` (IceProd 3) ``a.b`` names ``b`` inside ``a``:
    ``{"a": {"b": ...}}``, or ``{"a": {}}`` when ``a`` is there without ``b``; a key whose
    top-level field is missing is left out."""
    out: Doc = {}
    for key in keys:
        parts = key.split(".") if dotted else [key]
        if parts[0] not in doc:
            continue
        _copy_path(doc, out, parts)
    return out


def _copy_path(source: Any, target: Doc, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        target[head] = source[head]
        return
    inner = source[head]
    if not isinstance(inner, dict):
        return  # a path through a non-object names nothing
    child = target.setdefault(head, {})
    if isinstance(child, dict) and rest[0] in inner:
        _copy_path(inner, child, rest)


def top_keys(keys: Iterable[str]) -> list[str]:
    """The top-level fields a dotted projection reads."""
    return list(dict.fromkeys(k.split(".")[0] for k in keys))


def projection(keys: list[str] | None, extra: Iterable[str] = ()) -> list[Path] | None:
    """The attributes to read for a ``keys`` projection (with the float sidecar)."""
    if keys is None:
        return None
    names = dict.fromkeys([*keys, *extra, codec.FLOATS])
    return [attr(n) for n in names]


def get_item(task_id: str, attributes: list[Path] | None = None) -> dict[str, Any]:
    """The raw item of a task (strongly consistent), or ``NotFound``."""
    item = find_item(task_id, attributes)
    if not item:
        raise NotFound("Task not found")
    return item


def find_item(task_id: str, attributes: list[Path] | None = None) -> dict[str, Any] | None:
    """The raw item of a task (strongly consistent), or None."""
    return db.get_item(Task, task_id, consistent_read=True, attributes=attributes)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def unchanged_since(moment_ms: int) -> Condition:
    """The condition that no write touched the task after ``moment_ms`` (every write stamps it)."""
    return attr(MODIFIED).does_not_exist() | (attr(MODIFIED) <= value(moment_ms))


def modified(item: dict[str, Any]) -> int:
    """When a raw task item was last written (0: before writes were stamped)."""
    return int(item.get(MODIFIED, {}).get("N", "0"))


def update(task_id: str, actions: list[Action], condition: Condition | None = None,
           return_values: str = "NONE") -> dict[str, Any]:
    """One UpdateItem, stamped with the time of the write; raises PynamoDB's ``UpdateError``
    when the condition fails."""
    return db.update_item(Task, task_id, actions=_stamped(actions), condition=condition, return_values=return_values)


def update_if(task_id: str, actions: list[Action], condition: Condition) -> bool:
    """:func:`update` as :func:`db.update_if`: whether the write happened."""
    return db.update_if(Task, task_id, actions=_stamped(actions), condition=condition)


def _stamped(actions: list[Action]) -> list[Action]:
    return [*actions, attr(MODIFIED).set(value(now_ms()))]


def put_new(task_id: str, item: dict[str, Any]) -> None:
    """Create a task item (stamped with the time of the write); the id must be new."""
    db.put_item(Task, task_id, attributes={**item, MODIFIED: value(now_ms())},
                condition=attr("task_id").does_not_exist())
