"""The task record: create, read, merge, status changes (one and bulk)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib import codec, db, protocol
from chalicelib.errors import Contended, Invalid, NotFound
from chalicelib.ids import new_id
from chalicelib.models import Task
from chalicelib.models.tasks import INTERNAL, NAME_KEY, STATUS_KEY, name_key, status_key
from chalicelib.services import leases, store
from chalicelib.services.store import Doc, attr, value

#: The shape of the ids this service issues (others name no task).
TASK_ID_RE = re.compile(r"^[0-9a-f]{32}$")
MAX_ITEM_BYTES = 400 * 1024
MAX_BULK_IDS = 100_000

#: The keys a new task must carry (their types are the route schema's).
REQUIRED = ("dataset_id", "job_id", "task_index", "job_index", "name", "depends", "requirements")
SERVER_DEFAULTS: dict[str, Any] = {
    "failures": 0,
    "evictions": 0,
    "walltime": 0.0,
    "walltime_err": 0.0,
    "walltime_err_n": 0,
    "site": "",
}


def _encode(doc: Doc) -> dict[str, Any]:
    item = codec.encode_item(doc)
    if codec.item_size(item) > MAX_ITEM_BYTES - 1024:
        raise Invalid("task too large for DynamoDB (400 KB)")
    return item


def create_task(body: dict[str, Any]) -> str:
    """Store a new task; the server sets its id, status time and counters."""
    task_id = new_id()
    store.put_new(task_id, new_item(body, task_id))
    return task_id


def get_task(task_id: str, keys: list[str] | None = None, dataset_id: str | None = None, dotted: bool = False) -> Doc:
    """One task (of ``dataset_id`` when given), projected to ``keys`` (IceProd 3: ``dotted`` paths);
    the dataset route keeps ``task_id`` in every projection, as both protocols do."""
    extra = ["dataset_id", "task_id"] if dataset_id is not None else []
    tops = store.top_keys(keys) if keys is not None and dotted else keys
    item = store.get_item(task_id, store.projection(tops, extra))
    if dataset_id is not None and item.get("dataset_id", {}).get("S") != dataset_id:
        raise NotFound("Task not found")
    doc = store.document(item)
    if keys is None:
        return doc
    kept = {"task_id": doc["task_id"]} if dataset_id is not None else {}
    return {**store.project(doc, keys, dotted), **kept}


def patch_task(task_id: str, body: dict[str, Any], *, dotted: bool = False, stamp_status: bool = True) -> Doc:
    """Merge keys into a task and return the whole task.

    Top-level keys replace the stored value. With ``dotted`` (IceProd 3) ``a.b`` sets ``b`` inside
    ``a``: the fields it lands in are read, merged here, and written whole, conditioned on being
    unchanged (so ints and floats keep their types through :mod:`chalicelib.codec`). The index
    keys derived from the body are rewritten with it. The dataset index's key needs both ``name``
    and ``job_index``: when the body has only one, the other is read and the write is conditioned
    on it being unchanged. Every conflict re-reads and retries. IceProd 2 stamps a ``status``
    change with ``status_changed``; IceProd 3's PATCH does not (``stamp_status``).
    """
    for _ in range(10):
        fields, guard = _merged(task_id, body) if dotted and any("." in k for k in body) else (body, store.exists())
        _encode(fields)  # the same limits as a new task: the merged item may still exceed them (then 400)
        actions, condition = _patch_actions(task_id, fields, stamp_status)
        try:
            answer = store.update(task_id, actions, condition & guard, return_values="ALL_NEW")
        except UpdateError as error:
            if not db.is_condition_failure(error):
                raise
            store.get_item(task_id, [attr("task_id")])  # NotFound if it is gone
            continue
        return store.document(answer["Attributes"])
    raise Contended(task_id)


def _merged(task_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], Condition]:
    """``body`` with its dotted keys merged into the fields they name, as read now, and the
    condition that those fields are still what was read."""
    tops = store.top_keys(k for k in body if "." in k)
    ours = set(tops) & (INTERNAL | {"task_id", "_id"})
    if ours:  # the route schema refuses them first; never write inside ours
        raise Invalid(f"keys {sorted(ours)} cannot be changed")
    current = store.document(store.get_item(task_id, store.projection(tops)))
    fields = {k: v for k, v in body.items() if "." not in k}
    guard = store.exists()
    for top in tops:
        fields.setdefault(top, copy.deepcopy(current.get(top, {})))
        guard &= (attr(top) == value(current[top])) if top in current else attr(top).does_not_exist()
    for key, val in body.items():
        if "." in key:
            _set_path(fields, key.split("."), val)
    return fields, guard


def _set_path(doc: dict[str, Any], parts: list[str], val: Any) -> None:
    for part in parts[:-1]:
        inner = doc.get(part)
        if not isinstance(inner, dict):
            if part in doc:
                raise Invalid(f"cannot set a field inside {part!r}: it is not an object")
            inner = doc[part] = {}
        doc = inner
    doc[parts[-1]] = val


def _patch_actions(task_id: str, body: dict[str, Any], stamp_status: bool = True):
    actions = []
    condition = store.exists()
    fields = dict(body)
    if "status" in fields:
        status = fields.pop("status")
        if stamp_status:
            fields.pop("status_changed", None)  # the server stamps every status change
            actions.extend(store.set_status(status, task_id))
        else:
            actions.extend(store.move_status(status, task_id))
        actions.extend(leases.end())  # a status set by hand is no claim
    for key, val in fields.items():
        encoded, floats = codec.encode_top(key, val)
        actions.append(attr(key).set(encoded))
        if floats:
            actions.append(attr(codec.FLOATS, key).set({"L": [{"S": p} for p in floats]}))
        else:
            actions.append(attr(codec.FLOATS, key).remove())
    if "name" in body or "job_index" in body:
        name, job_index = body.get("name"), body.get("job_index")
        if name is None or job_index is None:
            current = store.document(store.get_item(task_id, [attr("name"), attr("job_index"), attr(codec.FLOATS)]))
            if name is None:
                name = current["name"]
                condition &= attr("name") == value(name)
            else:
                job_index = current["job_index"]
                condition &= attr("job_index") == value(job_index)
        actions.append(attr(NAME_KEY).set(value(name_key(name, job_index))))
    return actions, condition


@dataclass(frozen=True)
class StatusChange:
    """One kind of status write, as a route's protocol defines it: the new status, what else it
    sets, the statuses it may leave (None: any), the claim it must belong to (``instance_id``,
    when given), and whether it stamps ``status_changed``."""

    status: str
    sets: dict[str, Any] = field(default_factory=dict)
    allowed_from: frozenset[str] | None = None
    instance_id: str | None = None
    stamp: bool = True

    def to_payload(self) -> dict[str, Any]:
        """The change as a bulk job stores it (no instance_id: bulk changes name no claim)."""
        allowed = sorted(self.allowed_from) if self.allowed_from is not None else None
        return {"status": self.status, "sets": self.sets, "allowed_from": allowed, "stamp": self.stamp}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> StatusChange:
        if "sets" not in payload:  # a job written before changes were stored whole: IceProd 2's bulk rule
            return iceprod2_change(payload["status"], reset_clears_failures=True)
        allowed = payload.get("allowed_from")
        return cls(payload["status"], dict(payload["sets"]), frozenset(allowed) if allowed is not None else None,
                   stamp=payload.get("stamp", True))


def iceprod2_change(status: str, *, reset_clears_failures: bool) -> StatusChange:
    """IceProd 2's status writes: any status from any; ``reset`` zeroes ``failures`` on the dataset
    PUT and both bulk routes, not on the global PUT."""
    return StatusChange(status, {"failures": 0} if status == "reset" and reset_clears_failures else {})


def set_status(task_id: str, change: StatusChange, *, dataset_id: str | None = None) -> None:
    """IceProd 2's ``PUT .../status`` of one task; ``NotFound`` when it does not exist (in the dataset)."""
    if write_status(task_id, change, dataset_id=dataset_id) is None:
        raise NotFound("Task not found")


def set_status_checked(task_id: str, change: StatusChange, *, dataset_id: str | None = None) -> None:
    """IceProd 3's ``PUT .../status``: the write is conditioned on the transition (and the claim);
    when it does not happen, the task as it is decides: gone (or of another dataset) → 404, in
    another status → 400, already in the target status → success (repeats are idempotent)."""
    if write_status(task_id, change, dataset_id=dataset_id) is not None:
        return
    item = store.find_item(task_id, store.projection(["status", "dataset_id"]))
    if item is None or (dataset_id is not None and item.get("dataset_id", {}).get("S") != dataset_id):
        raise NotFound("Task not found")
    if item.get("status", {}).get("S") != change.status:
        raise Invalid("Bad state transition for status")


def change_condition(change: StatusChange, dataset_id: str | None = None,
                     unchanged_since: int | None = None) -> Condition:
    """What a status write requires of the task: it exists (in ``dataset_id``), the transition is
    allowed, the claim matches, and (bulk jobs) nothing wrote it since the request."""
    condition = store.exists()
    if dataset_id is not None:
        condition &= attr("dataset_id") == value(dataset_id)
    if change.allowed_from is not None:
        condition &= attr("status").is_in(*[value(s) for s in sorted(change.allowed_from)])
    if change.instance_id is not None:
        condition &= attr("instance_id") == value(change.instance_id)
    if unchanged_since is not None:
        condition &= store.unchanged_since(unchanged_since)
    return condition


def change_actions(task_id: str, change: StatusChange) -> list[Action]:
    actions = store.set_status(change.status, task_id) if change.stamp else store.move_status(change.status, task_id)
    return actions + leases.end() + [attr(key).set(value(val)) for key, val in change.sets.items()]


def write_status(task_id: str, change: StatusChange, *, dataset_id: str | None = None,
                 unchanged_since: int | None = None, return_values: str = "NONE") -> dict[str, Any] | None:
    """The one status write of the PUT and bulk routes of both protocols: one UpdateItem whose
    condition (:func:`change_condition`) carries every rule, so a transition is never checked by
    reading first. ``unchanged_since``: a bulk job that runs minutes later never undoes a change
    made after its request (a claim, a report). None: nothing written; else DynamoDB's answer."""
    try:
        condition = change_condition(change, dataset_id, unchanged_since)
        return store.update(task_id, change_actions(task_id, change), condition, return_values=return_values)
    except UpdateError as error:
        if db.is_condition_failure(error):
            return None
        raise


def bulk_set_status(ids: list[str], change: StatusChange, dataset_id: str | None = None, require_match: bool = True,
                    unchanged_since: int | None = None) -> int:
    """Apply ``change`` to many tasks: one batched read, then parallel conditional writes. The
    read narrows the ids to tasks that exist (in the dataset); each write is still conditioned,
    so a task deleted, moved, not allowed to move or (with ``unchanged_since``) changed meanwhile
    is not touched. Returns how many changed."""
    wanted = [i for i in dict.fromkeys(ids) if TASK_ID_RE.match(i)]
    found = db.batch_get(Task, wanted, ["task_id", "dataset_id"])
    if dataset_id is not None:
        found = [i for i in found if i.get("dataset_id", {}).get("S") == dataset_id]
    targets = [i["task_id"]["S"] for i in found]
    changed = sum(db.parallel(
        lambda task_id: write_status(task_id, change, dataset_id=dataset_id, unchanged_since=unchanged_since)
        is not None, targets))
    if not changed and require_match:
        raise NotFound("no matching tasks")
    return changed


def new_item(body: dict[str, Any], task_id: str) -> dict[str, Any]:
    """A new task's item exactly as it is stored: the client's keys, the server's defaults and
    fields, and the derived index keys. Shared with the benchmark, which seeds tables with items
    no different from the service's own; the caller has validated ``body``."""
    rules = protocol.CURRENT
    doc = {
        **rules.task_defaults,
        **body,
        "status": body.get("status", rules.initial_status),
        "priority": body.get("priority", 1.0),
        **SERVER_DEFAULTS,
        "task_id": task_id,
        "status_changed": store.now(),
    }
    return task_item(doc)


def task_item(doc: Doc) -> dict[str, Any]:
    """The stored item of a whole task: the codec's encoding plus the derived index keys.

    ``POST /tasks`` and the MongoDB importer (``iceprod_ops``) both store tasks through this, so
    an imported task is indistinguishable from one the API created.
    """
    item = _encode(doc)
    item[STATUS_KEY] = {"S": status_key(doc["status"], doc["task_id"])}
    item[NAME_KEY] = {"S": name_key(doc["name"], doc["job_index"])}
    return item
