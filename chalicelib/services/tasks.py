"""The task record: create, read, merge, status changes (one and bulk)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import codec, db
from chalicelib.errors import Contended, Invalid, NotFound
from chalicelib.models import Task
from chalicelib.models.tasks import NAME_KEY, STATUS_KEY, name_key, status_key
from chalicelib.services import store
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
    task_id = uuid.uuid4().hex
    store.put_new(task_id, new_item(body, task_id))
    return task_id


def get_task(task_id: str, keys: list[str] | None = None, dataset_id: str | None = None) -> Doc:
    """One task (of ``dataset_id`` when given), projected to ``keys``; the dataset route keeps
    ``task_id`` in every projection, as IceProd 2 does on all its dataset routes."""
    extra = ("dataset_id", "task_id") if dataset_id is not None else ()
    item = store.get_item(task_id, store.projection(keys, extra))
    if dataset_id is not None and item.get("dataset_id", {}).get("S") != dataset_id:
        raise NotFound(f"task {task_id} not found in dataset {dataset_id}")
    return store.document(item, keys, keep_task_id=dataset_id is not None)


def patch_task(task_id: str, body: dict[str, Any]) -> Doc:
    """Merge top-level keys into a task and return the whole task.

    The index keys derived from the body are rewritten with it. The dataset index's key needs both
    ``name`` and ``job_index``: when the body has only one, the other is read and the write is
    conditioned on it being unchanged (retried if a concurrent PATCH changed it).
    """
    _encode(body)  # the same limits as a new task: the merged item may still exceed them (then 400)
    for _ in range(10):
        actions, condition = _patch_actions(task_id, body)
        try:
            answer = store.update(task_id, actions, condition, return_values="ALL_NEW")
        except UpdateError as error:
            if not db.is_condition_failure(error):
                raise
            store.get_item(task_id, [attr("task_id")])  # NotFound if it is gone
            continue
        return store.document(answer["Attributes"])
    raise Contended(task_id)


def _patch_actions(task_id: str, body: dict[str, Any]):
    actions = []
    condition = store.exists()
    fields = dict(body)
    if "status" in fields:
        fields.pop("status_changed", None)  # the server stamps every status change
        actions.extend(store.set_status(fields.pop("status"), task_id))
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


def set_status(task_id: str, status: str, *, dataset_id: str | None = None, reset_clears_failures: bool) -> None:
    """``PUT .../status`` of one task; ``NotFound`` when it does not exist (in the dataset)."""
    if not write_status(task_id, status, dataset_id=dataset_id, reset_clears_failures=reset_clears_failures):
        raise NotFound(f"task {task_id} not found")


def write_status(task_id: str, status: str, *, dataset_id: str | None, reset_clears_failures: bool,
                 unchanged_since: int | None = None) -> bool:
    """The one status write of the PUT and bulk routes: ``status``, its index key and
    ``status_changed``, conditioned on the task existing (in ``dataset_id`` when given), and, for
    a bulk change, on no write since the request was accepted (``unchanged_since``: a job that
    runs minutes later never undoes a claim made meanwhile). Whether ``reset`` also zeroes
    ``failures`` is the caller's rule, IceProd 2's: the global PUT leaves them alone; the dataset
    PUT and both bulk routes set them to 0. False: nothing written."""
    actions = store.set_status(status, task_id)
    if status == "reset" and reset_clears_failures:
        actions.append(attr("failures").set(value(0)))
    condition = store.exists()
    if dataset_id is not None:
        condition &= attr("dataset_id") == value(dataset_id)
    if unchanged_since is not None:
        condition &= store.unchanged_since(unchanged_since)
    try:
        store.update(task_id, actions, condition)
    except UpdateError as error:
        if db.is_condition_failure(error):
            return False
        raise
    return True


def bulk_set_status(ids: list[str], status: str, dataset_id: str | None = None, require_match: bool = True,
                    unchanged_since: int | None = None) -> int:
    """Set the status of many tasks (``reset`` zeroes ``failures``, as IceProd 2's bulk routes):
    one batched read, then parallel conditional writes. The read narrows the ids to tasks that
    exist (in the dataset); each write is still conditioned, so a task deleted, moved or (with
    ``unchanged_since``) changed meanwhile is not touched. Returns how many changed."""
    wanted = [i for i in dict.fromkeys(ids) if TASK_ID_RE.match(i)]
    found = db.batch_get(Task, wanted, ["task_id", "dataset_id"])
    if dataset_id is not None:
        found = [i for i in found if i.get("dataset_id", {}).get("S") == dataset_id]
    targets = [i["task_id"]["S"] for i in found]
    changed = sum(db.parallel(
        lambda task_id: write_status(task_id, status, dataset_id=dataset_id, reset_clears_failures=True,
                                     unchanged_since=unchanged_since), targets))
    if not changed and require_match:
        raise NotFound("no matching tasks")
    return changed


def new_item(body: dict[str, Any], task_id: str) -> dict[str, Any]:
    """A new task's item exactly as it is stored: the client's keys, the server's defaults and
    fields, and the derived index keys. Shared with the benchmark, which seeds tables with items
    no different from the service's own; the caller has validated ``body``."""
    doc = {
        **body,
        "status": body.get("status", "waiting"),
        "priority": body.get("priority", 1.0),
        **SERVER_DEFAULTS,
        "task_id": task_id,
        "status_changed": store.now(),
    }
    item = _encode(doc)
    item[STATUS_KEY] = {"S": status_key(doc["status"], task_id)}
    item[NAME_KEY] = {"S": name_key(doc["name"], doc["job_index"])}
    return item
