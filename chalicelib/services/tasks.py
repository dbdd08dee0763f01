"""The task record: create, read, merge, status changes (one and bulk)."""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib import codec, db
from chalicelib import validation as v
from chalicelib.errors import Invalid, NotFound
from chalicelib.models import Task
from chalicelib.models.tasks import NAME_KEY, STATUS_KEY, name_key, status_key
from chalicelib.services import store
from chalicelib.services.store import Doc, attr, value

MAX_ITEM_BYTES = 400 * 1024
MAX_BULK_IDS = 100_000

REQUIRED: dict[str, tuple[type, ...]] = {
    "dataset_id": (str,),
    "job_id": (str,),
    "task_index": (int,),
    "job_index": (int,),
    "name": (str,),
    "depends": (list,),
    "requirements": (dict,),
}
SERVER_DEFAULTS: dict[str, Any] = {
    "failures": 0,
    "evictions": 0,
    "walltime": 0.0,
    "walltime_err": 0.0,
    "walltime_err_n": 0,
    "site": "",
}


def _check_type(key: str, val: Any, types: tuple[type, ...]) -> None:
    if (int in types and not v.is_int(val)) or (int not in types and not isinstance(val, types)):
        raise Invalid(f"{key} must be of type {types[0].__name__}")


def check_known_keys(doc: dict[str, Any]) -> None:
    """Type rules for the keys the service relies on, wherever they appear (POST, PATCH)."""
    for key in doc:
        v.attribute_name(key)
    for key, types in REQUIRED.items():
        if key in doc:
            _check_type(key, doc[key], types)
    if "dataset_id" in doc:
        v.dataset_id(doc["dataset_id"])
    if "name" in doc:
        v.name(doc["name"])
    if "status" in doc:
        v.status(doc["status"])
    if "priority" in doc and not v.is_number(doc["priority"]):
        raise Invalid("priority must be a number")


def _encode(doc: Doc) -> dict[str, Any]:
    item = codec.encode_item(doc)
    if codec.item_size(item) > MAX_ITEM_BYTES - 1024:
        raise Invalid("task too large for DynamoDB (400 KB)")
    return item


def create_task(body: dict[str, Any]) -> str:
    """Store a new task; the server sets its id, status time and counters."""
    missing = [k for k in REQUIRED if k not in body]
    if missing:
        raise Invalid(f"missing required keys: {', '.join(missing)}")
    check_known_keys(body)
    task_id = uuid.uuid4().hex
    doc = {
        **body,
        "status": body.get("status", "waiting"),
        "priority": body.get("priority", 1.0),
        **SERVER_DEFAULTS,
        "task_id": task_id,
        "status_changed": store.now(),
    }
    store.put_new(task_id, task_item(doc))
    return task_id


def task_item(doc: Doc) -> dict[str, Any]:
    """The stored item of a whole task: the codec's encoding plus the derived index keys.

    ``POST /tasks`` and the MongoDB importer (``iceprod_ops``) both store tasks through this, so
    an imported task is indistinguishable from one the API created.
    """
    item = _encode(doc)
    item[STATUS_KEY] = {"S": status_key(doc["status"], doc["task_id"])}
    item[NAME_KEY] = {"S": name_key(doc["name"], doc["job_index"])}
    return item


def get_task(task_id: str, keys: list[str] | None = None, dataset_id: str | None = None) -> Doc:
    """One task (of ``dataset_id`` when given), projected to ``keys``."""
    v.task_id_or_404(task_id)
    extra = ("dataset_id",) if dataset_id is not None else ()
    item = store.get_item(task_id, store.projection(keys, extra))
    if dataset_id is not None and item.get("dataset_id", {}).get("S") != dataset_id:
        raise NotFound(f"task {task_id} not found in dataset {dataset_id}")
    return store.decode(item, keys, keep_task_id=False)


def patch_task(task_id: str, body: dict[str, Any]) -> Doc:
    """Merge top-level keys into a task and return the whole task.

    The index keys derived from the body are rewritten with it. ``_name_key`` needs both
    ``name`` and ``job_index``: when the body has only one, the other is read and the write is
    conditioned on it being unchanged (retried if a concurrent PATCH changed it).
    """
    v.task_id_or_404(task_id)
    if not body:
        raise Invalid("empty body")
    if "task_id" in body:
        raise Invalid("task_id cannot be changed")
    check_known_keys(body)
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
        return store.decode(answer["Attributes"])
    raise Invalid("task changed concurrently, retry")


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
            current = store.decode(store.get_item(task_id, [attr("name"), attr("job_index"), attr(codec.FLOATS)]))
            if name is None:
                name = current["name"]
                condition &= attr("name") == value(name)
            else:
                job_index = current["job_index"]
                condition &= attr("job_index") == value(job_index)
        actions.append(attr(NAME_KEY).set(value(name_key(name, job_index))))
    return actions, condition


def set_status(task_id: str, status: str, dataset_id: str | None = None) -> None:
    """Set one task's status (``reset`` in a dataset also clears ``failures``)."""
    v.task_id_or_404(task_id)
    actions = store.set_status(status, task_id)
    condition = store.exists()
    if dataset_id is not None:
        condition &= attr("dataset_id") == value(dataset_id)
        if status == "reset":
            actions.append(attr("failures").set(value(0)))
    try:
        store.update(task_id, actions, condition)
    except UpdateError as error:
        if db.is_condition_failure(error):
            raise NotFound(f"task {task_id} not found") from None
        raise


def bulk_ids(body: dict[str, Any]) -> list[str]:
    """The ``tasks`` list of a bulk request: 1 to 100,000 strings, duplicates dropped."""
    ids = body.get("tasks")
    if not isinstance(ids, list) or not ids:
        raise Invalid("tasks must be a non-empty list of task ids")
    if len(ids) > MAX_BULK_IDS:
        raise Invalid(f"at most {MAX_BULK_IDS} task ids at once")
    if not all(isinstance(i, str) for i in ids):
        raise Invalid("task ids must be strings")
    return list(dict.fromkeys(ids))


def bulk_set_status(ids: list[str], status: str, dataset_id: str | None = None, require_match: bool = True) -> int:
    """Set the status of many tasks: one batched read, then parallel conditional updates.

    The read narrows the ids to tasks that exist (in the dataset); each update is still
    conditioned, so a task deleted or moved meanwhile is not touched. Returns how many changed.
    """
    wanted = [i for i in ids if v.TASK_ID_RE.match(i)]
    found = db.batch_get(Task, wanted, ["task_id", "dataset_id"])
    if dataset_id is not None:
        found = [i for i in found if i.get("dataset_id", {}).get("S") == dataset_id]
    targets = [i["task_id"]["S"] for i in found]

    def change(task_id: str) -> bool:
        actions = store.set_status(status, task_id)
        condition = store.exists()
        if status == "reset":
            actions.append(attr("failures").set(value(0)))
        if dataset_id is not None:
            condition &= attr("dataset_id") == value(dataset_id)
        try:
            store.update(task_id, actions, condition)
        except UpdateError as error:
            if db.is_condition_failure(error):
                return False
            raise
        return True

    changed = sum(db.parallel(change, targets))
    if not changed and require_match:
        raise NotFound("no matching tasks")
    return changed
