"""The rules that differ between the two IceProd Tasks protocols a deployment may serve.

A protocol is a set of routes (``chalicelib/routes``) plus these rules: its statuses and their
display order, where a new task starts, which status changes the single-task routes allow, and
how timestamps are written. The services take the rules they need as values; nothing else in
the code asks which protocol is running.

IceProd 2 (pilots) has no transition table: any status may be set. IceProd 3's table
(``iceprod/server/states.py`` at d142e63a) is :data:`ICEPROD3_PREV`, read by target status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import config


@dataclass(frozen=True)
class Protocol:
    version: str
    #: Every status, in display order.
    statuses: tuple[str, ...]
    #: The status of a new task that names none.
    initial_status: str
    #: ``prev(s)``: the statuses a single-task route may move into ``s`` from (None: any).
    prev: dict[str, frozenset[str]] | None
    #: ``status_changed`` always with six fractional digits (IceProd 3), or as Python's
    #: ``isoformat`` writes it, without a zero fraction (IceProd 2).
    fixed_microseconds: bool
    #: Keys a new task gets unless its body names them (IceProd 3: ``instance_id`` "").
    task_defaults: dict[str, Any] = field(default_factory=dict)
    #: IceProd 3's auth: a ``user`` token's dataset rights come from each dataset's access record
    #: (:mod:`chalicelib.services.access`), and refusals carry IceProd's reason strings.
    access_records: bool = False

    def allowed_from(self, status: str) -> frozenset[str] | None:
        """The statuses from which a checked move into ``status`` is allowed (None: any)."""
        return None if self.prev is None else self.prev.get(status, frozenset())

    def now(self) -> str:
        """A timestamp as this protocol writes them: naive UTC ISO 8601."""
        moment = datetime.now(UTC).replace(tzinfo=None)
        return moment.isoformat(timespec="microseconds") if self.fixed_microseconds else moment.isoformat()


ICEPROD2 = Protocol(
    version="2",
    statuses=("idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete"),
    initial_status="waiting",
    prev=None,
    fixed_microseconds=False,
)

ICEPROD3_PREV = {
    "idle": frozenset({"waiting", "queued", "processing", "suspended", "failed"}),
    "waiting": frozenset({"idle", "queued", "processing", "suspended", "failed"}),
    "queued": frozenset({"waiting", "processing"}),
    "processing": frozenset({"queued"}),
    "suspended": frozenset({"idle", "waiting", "queued", "processing"}),
    "failed": frozenset({"queued", "processing"}),
    "complete": frozenset({"queued", "processing"}),
}

ICEPROD3 = Protocol(
    version="3",
    statuses=("idle", "waiting", "queued", "processing", "suspended", "failed", "complete"),
    initial_status="idle",
    prev=ICEPROD3_PREV,
    fixed_microseconds=True,
    task_defaults={"instance_id": ""},
    access_records=True,
)

#: The protocol this deployment serves.
CURRENT = ICEPROD3 if config.ICEPROD_API_VERSION == "3" else ICEPROD2
