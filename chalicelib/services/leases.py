"""Claims as leases: who holds a task (``instance_id``) and until when (``_lease``).

A lease is two internal attributes: ``_lease``, the deadline in epoch seconds, and
``_lease_key``, the task's shard in the sparse ``leases`` index (see :mod:`chalicelib.models.tasks`).
They are written by the write that starts the leased state (IceProd 2: the claim, ``queued`` →
``processing``; IceProd 3: the grid's ``processing`` report) and removed by every write that
leaves it (reports, status changes, the janitor), so the index holds only live claims.

The deadline is ``max(LEASE_FLOOR_SECONDS, requirements.time hours x 3600 x LEASE_MARGIN)``;
a task without a numeric ``requirements.time`` counts ``LEASE_DEFAULT_HOURS``. A claim's write
does not read the task first, so it starts the lease for the default time and, when the task it
returns asks for another time, :func:`fit` sets the exact deadline (one more write, conditioned
on the claim). A heartbeat pushes the deadline on, fenced by ``instance_id``.
"""

from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib import codec, config, db
from chalicelib.errors import NotFound
from chalicelib.models.tasks import LEASE, LEASE_KEY, lease_key
from chalicelib.services import store
from chalicelib.services.store import Doc, attr, value


def clock() -> float:
    """The time leases are measured in (epoch seconds); the tests replace it."""
    return time.time()


def seconds_for(requirements: Any) -> int:
    """How long a claim of a task with these requirements lasts."""
    hours = requirements.get("time") if isinstance(requirements, dict) else None
    if not codec.is_number(hours) or hours < 0:
        hours = config.LEASE_DEFAULT_HOURS
    return max(config.LEASE_FLOOR_SECONDS, int(float(hours) * 3600 * config.LEASE_MARGIN))


def deadline(requirements: Any = None) -> int:
    return int(clock()) + seconds_for(requirements)


def start(task_id: str, instance_id: str, requirements: Any = None) -> list[Action]:
    """The actions that make the writing claim a lease: the holder and the deadline."""
    return [attr("instance_id").set(value(instance_id)), *start_lease(task_id, requirements)]


def start_lease(task_id: str, requirements: Any = None) -> list[Action]:
    """The lease attributes alone (IceProd 3's ``processing`` keeps the claim's ``instance_id``)."""
    return [attr(LEASE).set(value(deadline(requirements))), attr(LEASE_KEY).set(value(lease_key(task_id)))]


def end() -> list[Action]:
    """The actions of every write that leaves the leased state (harmless when there is none)."""
    return [attr(LEASE).remove(), attr(LEASE_KEY).remove()]


def held_by(instance_id: str) -> Condition:
    return attr("instance_id") == value(instance_id)


def fit(task_id: str, doc: Doc) -> None:
    """Set the exact deadline of a lease just started for the default time, when the claimed task
    (``doc``, as the claim returned it) asks for another; a report that came first wins."""
    if seconds_for(doc.get("requirements")) == seconds_for(None):
        return
    condition = held_by(doc.get("instance_id", "")) & attr(LEASE).exists()
    try:
        store.update(task_id, [attr(LEASE).set(value(deadline(doc.get("requirements"))))], condition)
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise


def heartbeat(task_id: str, instance_id: str) -> Doc:
    """Extend a live lease held by ``instance_id`` from now; ``NotFound`` (IceProd 3's answer for
    a wrong instance) when there is none (no task, another holder, no lease)."""
    item = store.find_item(task_id, store.projection(["requirements", "instance_id"]))
    if item is None or store.document(item).get("instance_id") != instance_id:
        raise NotFound("Task not found")
    until = deadline(store.document(item).get("requirements"))
    try:
        store.update(task_id, [attr(LEASE).set(value(until))], held_by(instance_id) & attr(LEASE).exists())
    except UpdateError as error:
        if db.is_condition_failure(error):
            raise NotFound("Task not found") from None
        raise
    return {"task_id": task_id, "instance_id": instance_id, "lease_until": until}


def lease_of(item: dict[str, Any]) -> int | None:
    """The deadline of a raw task item (None: no live lease)."""
    raw = item.get(LEASE, {}).get("N")
    return int(float(raw)) if raw is not None else None
