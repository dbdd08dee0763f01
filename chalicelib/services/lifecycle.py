"""The pilot's reports: a task failed (``reset`` or ``failed``) or completed.

Each report is one conditional UpdateItem: the status guard (``status <> complete``, resp.
``status = processing``) and the counters (``failures``, ``walltime_err``,
``walltime_err_n`` by ADD) go in the same write, so a report is applied entirely or not at all.
A failure also raises the requirements the task outgrew; that part is guarded by the values it
was computed from and retried on conflict (see :mod:`chalicelib.services.requirements`).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import codec, db, observability
from chalicelib.errors import Invalid, NotFound
from chalicelib.services import requirements, store
from chalicelib.services.store import attr, value

log = logging.getLogger("iceprod_tasks.lifecycle")

REASON_CLASSES = (
    ("download_failure", re.compile(r"download|input file|transfer in", re.I)),
    ("upload_failure", re.compile(r"upload|output file|transfer out", re.I)),
    ("cpu_overuse", re.compile(r"overuse.*\bcpu|cpu.*(overuse|exceed|limit)", re.I)),
    ("gpu_overuse", re.compile(r"overuse.*\bgpu|gpu.*(overuse|exceed|limit)", re.I)),
    ("memory_overuse", re.compile(r"overuse.*memory|memory.*(overuse|exceed|limit)|out of memory|oom", re.I)),
    ("disk_overuse", re.compile(r"overuse.*disk|disk.*(overuse|exceed|limit|full)", re.I)),
    ("time_overuse", re.compile(r"overuse.*time|time.*(overuse|exceed|limit)|walltime", re.I)),
    ("sigterm", re.compile(r"sigterm|signal 15", re.I)),
    ("killed", re.compile(r"kill|sigkill|signal 9|evict", re.I)),
    ("module_failure", re.compile(r"module|exit code|return code|error running", re.I)),
)


def classify_reason(reason: str | None) -> str:
    """The kind of a pilot's failure reason, for logs and metrics."""
    for kind, pattern in REASON_CLASSES:
        if reason and pattern.search(reason):
            return kind
    return "other"


def report_failure(task_id: str, final_status: str, body: dict[str, Any]) -> None:
    """``reset`` / ``failed``: the task must exist and not be complete (else ``Invalid``)."""
    used, site, reason = body.get("time_used"), body.get("site"), body.get("reason")
    resources = body.get("resources", {})
    actions = [*store.set_status(final_status, task_id), attr("failures").add(value(1))]
    if used is not None:
        actions += [attr("walltime_err_n").add(value(1)), attr("walltime_err").add(value(used / 3600))]
    elif codec.is_number(resources.get("time")):
        actions += [attr("walltime_err_n").add(value(1)), attr("walltime_err").add(value(resources["time"]))]
    if site is not None:
        actions.append(attr("site").set(value(site)))

    def read() -> dict[str, Any] | None:
        doc = _read(task_id)
        if doc.get("status") == "complete":
            raise Invalid(f"task {task_id} is complete")
        reqs = doc.get("requirements")
        return reqs if isinstance(reqs, dict) else {}

    guard = store.exists() & (attr("status") != value("complete"))
    requirements.apply_raise(task_id, read, requirements.raise_from_usage(resources), actions, guard)
    kind = classify_reason(reason)
    observability.count(f"{final_status.capitalize()}_{kind}")
    log.info("task %s %s: %s (%s)", task_id, final_status, kind, (reason or "")[:500])


def report_complete(task_id: str, body: dict[str, Any]) -> None:
    """``complete``: only from ``processing`` (else ``Invalid``)."""
    used, site = body.get("time_used"), body.get("site")
    actions = store.set_status("complete", task_id)
    if used is not None:
        actions.append(attr("walltime").set(value(float(used / 3600))))
    if site is not None:
        actions.append(attr("site").set(value(site)))
    try:
        store.update(task_id, actions, store.exists() & (attr("status") == value("processing")))
    except UpdateError as error:
        if db.is_condition_failure(error):
            raise Invalid(f"task {task_id} is unknown or not processing") from None
        raise
    observability.count("Completions")


def _read(task_id: str) -> dict[str, Any]:
    try:
        return store.document(store.get_item(task_id, store.projection(["status", "requirements"])))
    except NotFound:
        raise Invalid(f"unknown task {task_id}") from None
