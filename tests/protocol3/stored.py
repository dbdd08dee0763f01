"""Tasks written straight into the tables, as another protocol's service stored them (the
protocol 3 process cannot create IceProd 2 data through its own routes)."""

from __future__ import annotations

from typing import Any

from chalicelib import db, ids
from chalicelib.models import Bookkeeping, Task, bookkeeping
from chalicelib.services import protocol_marker, store, tasks
from tests.conftest import new_task


def put_task(**overrides: Any) -> str:
    """Store a task item exactly as the service would; its id."""
    task_id = ids.new_id()
    store.put_new(task_id, tasks.new_item(new_task(**overrides), task_id))
    return task_id


def raw(task_id: str) -> dict[str, Any]:
    """The task's item, internal attributes included."""
    return db.get_item(Task, task_id, consistent_read=True)


def doc(task_id: str) -> dict[str, Any]:
    return store.document(raw(task_id))


def mark(version: str | None) -> None:
    """Mark the tables as a service of ``version`` left them (None: no marker, as before the
    marker existed), and have this process check them again."""
    db.delete_item(Bookkeeping, *bookkeeping.PROTOCOL_MARKER)
    if version is not None:
        protocol_marker.claim(version)
    protocol_marker.forget()
