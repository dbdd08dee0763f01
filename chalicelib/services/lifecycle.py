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
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib import codec, config, db, observability, protocol
from chalicelib.errors import Contended, Invalid, NotFound
from chalicelib.services import leases, requirements, store
from chalicelib.services.store import Doc, attr, value

log = logging.getLogger("iceprod_tasks.lifecycle")

#: The reason the janitor records when it takes a task back from a claim whose lease passed.
LEASE_EXPIRED = "lease expired"
REASON_CLASSES = (
    ("lease_expired", re.compile(r"^lease expired$")),
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


def failure_fields(reason: str | None) -> list[Action]:
    """Why the task last failed, kept on it (client-visible): the reason's class and its first
    ``FAILURE_REASON_CHARS`` characters."""
    return [attr("failure_class").set(value(classify_reason(reason))),
            attr("failure_reason").set(value((reason or "")[: config.FAILURE_REASON_CHARS]))]


def _failure_actions(task_id: str, final_status: str, body: dict[str, Any]) -> list[Action]:
    """What every failure report writes (both protocols): the status and ``status_changed``,
    ``failures + 1``, the error walltime (``time_used`` seconds, else ``resources.time`` hours),
    and the site when given."""
    used, site, resources = body.get("time_used"), body.get("site"), body.get("resources", {})
    actions = [*store.set_status(final_status, task_id), attr("failures").add(value(1)),
               *failure_fields(body.get("reason")), *leases.end()]
    if used is not None:
        actions += [attr("walltime_err_n").add(value(1)), attr("walltime_err").add(value(used / 3600))]
    elif codec.is_number(resources.get("time")):
        actions += [attr("walltime_err_n").add(value(1)), attr("walltime_err").add(value(resources["time"]))]
    if site is not None:
        actions.append(attr("site").set(value(site)))
    return actions


def _count_reason(task_id: str, final_status: str, reason: str | None) -> None:
    kind = classify_reason(reason)
    observability.count(f"{final_status.capitalize()}_{kind}")
    log.info("task %s %s: %s (%s)", task_id, final_status, kind, (reason or "")[:500])


def report_failure(task_id: str, final_status: str, body: dict[str, Any]) -> None:
    """IceProd 2's ``reset`` / ``failed``: the task must exist and not be complete (else ``Invalid``);
    with an ``instance_id`` (an extension) it must be the claim's (else ``NotFound``), which it ends."""
    actions = _failure_actions(task_id, final_status, body)
    instance_id = body.get("instance_id")

    def read() -> dict[str, Any] | None:
        doc = _read(task_id)
        if instance_id is not None and doc.get("instance_id") != instance_id:
            raise NotFound("Task not found")
        if doc.get("status") == "complete":
            raise Invalid(f"task {task_id} is complete")
        reqs = doc.get("requirements")
        return reqs if isinstance(reqs, dict) else {}

    guard = store.exists() & (attr("status") != value("complete"))
    if instance_id is not None:
        guard &= leases.held_by(instance_id)
        actions.append(attr("instance_id").set(value("")))
    resources = body.get("resources", {})
    requirements.apply_raise(task_id, read, requirements.raise_from_usage(resources), actions, guard)
    _count_reason(task_id, final_status, body.get("reason"))


def report_complete(task_id: str, body: dict[str, Any]) -> None:
    """IceProd 2's ``complete``: only from ``processing`` (else ``Invalid``); with an
    ``instance_id`` (an extension) only by the claim's holder (else ``NotFound``)."""
    instance_id = body.get("instance_id")
    guard = store.exists() & (attr("status") == value("processing"))
    actions = _complete_actions(task_id, body)
    if instance_id is not None:
        guard &= leases.held_by(instance_id)
        actions.append(attr("instance_id").set(value("")))
    try:
        store.update(task_id, actions, guard)
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise
        if instance_id is not None and _holder(task_id) != instance_id:
            raise NotFound("Task not found") from None
        raise Invalid(f"task {task_id} is unknown or not processing") from None
    observability.count("Completions")


def _complete_actions(task_id: str, body: dict[str, Any]) -> list[Action]:
    used, site = body.get("time_used"), body.get("site")
    actions = [*store.set_status("complete", task_id), *leases.end()]
    if used is not None:
        actions.append(attr("walltime").set(value(float(used / 3600))))
    if site is not None:
        actions.append(attr("site").set(value(site)))
    return actions


def _holder(task_id: str) -> str | None:
    item = store.find_item(task_id, store.projection(["instance_id"]))
    return store.document(item).get("instance_id") if item is not None else None


def _read(task_id: str) -> dict[str, Any]:
    try:
        return store.document(store.get_item(task_id, store.projection(["status", "requirements", "instance_id"])))
    except NotFound:
        raise Invalid(f"unknown task {task_id}") from None


# --- IceProd 3: reports fenced by the claim's instance_id, answered with the task before ----------

class AlreadyDone(Exception):
    """The report found its task already in the target status: IceProd 3 answers it 200."""

    def __init__(self, doc: Doc) -> None:
        super().__init__("already done")
        self.doc = doc


def _claimed(task_id: str, instance_id: str, target: str, allowed_from: frozenset[str]) -> Doc:
    """The task a fenced report may change, read as IceProd 3 decides after a refused update: no
    task with this id and claim → 404; already in ``target`` → done; another status outside
    ``allowed_from`` → 400."""
    item = store.find_item(task_id)
    doc = store.document(item) if item is not None else None
    if doc is None or doc.get("instance_id") != instance_id:
        raise NotFound("Task not found")
    if doc.get("status") == target:
        raise AlreadyDone(doc)
    if doc.get("status") not in allowed_from:
        raise Invalid("Bad state transition for status")
    return doc


def _fence(instance_id: str, allowed_from: frozenset[str]) -> Condition:
    return store.exists() & (attr("instance_id") == value(instance_id)) & attr("status").is_in(
        *[value(s) for s in sorted(allowed_from)])


def report_failure3(task_id: str, target: str, body: dict[str, Any]) -> Doc:
    """IceProd 3's ``reset`` (→ ``waiting``) and ``failed``: fenced by ``instance_id`` and the
    transition table, ``instance_id`` cleared, requirements raised by IceProd 3's rules, the site
    always recorded (IceProd drops it in one case: a listed bug). The task as it was before."""
    instance_id = body["instance_id"]
    allowed = protocol.ICEPROD3.allowed_from(target) or frozenset()
    actions = [*_failure_actions(task_id, target, body), attr("instance_id").set(value(""))]

    def read() -> dict[str, Any]:
        reqs = _claimed(task_id, instance_id, target, allowed).get("requirements")
        return reqs if isinstance(reqs, dict) else {}

    rule = requirements.raise_from_usage3(body.get("resources", {}))
    try:
        answer = requirements.apply_raise(task_id, read, rule, actions, _fence(instance_id, allowed),
                                          return_values="ALL_OLD")
    except AlreadyDone as done:
        return done.doc
    _count_reason(task_id, target, body.get("reason"))
    return store.document(answer["Attributes"])


def report_complete3(task_id: str, body: dict[str, Any]) -> Doc:
    """IceProd 3's ``complete``: from ``queued`` or ``processing`` with the claim's id; clears it."""
    allowed = protocol.ICEPROD3.allowed_from("complete") or frozenset()
    actions = [*_complete_actions(task_id, body), attr("instance_id").set(value(""))]
    return _fenced_update(task_id, body["instance_id"], "complete", allowed, actions, "Completions")


def report_processing3(task_id: str, body: dict[str, Any]) -> Doc:
    """IceProd 3's ``processing``: ``queued`` → ``processing`` with the claim's id, kept; the
    lease starts here (a task may sit in HTCondor's queue for days before)."""
    actions = [*store.set_status("processing", task_id), *leases.start_lease(task_id)]
    if "site" in body:
        actions.append(attr("site").set(value(body["site"])))
    allowed = protocol.ICEPROD3.allowed_from("processing") or frozenset()
    before = _fenced_update(task_id, body["instance_id"], "processing", allowed, actions, "Processing")
    if before.get("status") != "processing":
        leases.fit(task_id, {**before, "instance_id": body["instance_id"]})
    return before


def _fenced_update(task_id: str, instance_id: str, target: str, allowed: frozenset[str], actions: list[Action],
                   metric: str) -> Doc:
    """One fenced UpdateItem; when refused, the task as it is decides (see :func:`_claimed`)."""
    try:
        answer = store.update(task_id, actions, _fence(instance_id, allowed), return_values="ALL_OLD")
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise
        try:
            _claimed(task_id, instance_id, target, allowed)
        except AlreadyDone as done:
            return done.doc
        raise Contended(task_id) from None  # it matched when read again: a concurrent change raced
    observability.count(metric)
    return store.document(answer["Attributes"])
