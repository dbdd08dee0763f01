"""MongoDB documents (decoded BSON or Extended JSON) as the items the service stores.

A task keeps every key and its own values; ``_id`` is dropped and only the service's derived
attributes (index keys, the float sidecar) are computed, by the same function ``POST /tasks``
stores through (:func:`chalicelib.services.tasks.task_item`). Values keep their types: BSON
int32/int64 become ints, doubles floats, dates IceProd's naive-UTC ISO strings, ObjectIds their
hex string. Anything else (Decimal128, binary, regex, timestamps, ...) is not IceProd data and
rejects the record rather than being guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from chalicelib import codec, schema
from chalicelib.errors import Invalid
from chalicelib.services import files, tasks

#: What ``POST /tasks`` fills in for a task that lacks it; an IceProd 2 task normally has all.
TASK_DEFAULTS: dict[str, Any] = {"priority": 1.0, **tasks.SERVER_DEFAULTS}
#: Collections an IceProd export may hold that this importer knowingly does not read.
NOT_YET = {
    "task_stats": "task_stats is IceProd 3 data; this importer reads IceProd 2 exports only so far",
}


def iso(moment: datetime) -> str:
    """A BSON date as IceProd writes dates: naive UTC, ISO 8601."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat()


def plain(value: Any, where: str) -> Any:
    """A decoded BSON value as the JSON value IceProd's API would have returned."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return int(value)  # bson.Int64 too
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(item, f"{where}/{k}") for k, item in value.items()}
    if isinstance(value, list):
        return [plain(item, f"{where}/{i}") for i, item in enumerate(value)]
    raise Invalid(f"{where}: unsupported BSON type {type(value).__name__}")


@dataclass(frozen=True)
class Converted:
    """One source record ready to store: its key and the item."""

    key: str
    item: dict[str, Any]
    dataset_id: str
    status: str | None = None


def _task_id(value: Any) -> str:
    if not isinstance(value, str) or not tasks.TASK_ID_RE.match(value):
        raise Invalid(f"invalid task_id: {value!r}")
    return value


def task(record: dict[str, Any]) -> Converted:
    """A ``tasks`` document as the task item; ``Invalid`` says why it cannot be imported. The
    keys ``POST /tasks`` checks are checked by the same schema (with ``status`` required)."""
    doc = {k: plain(val, k) for k, val in record.items() if k != "_id"}
    task_id = _task_id(doc.get("task_id"))
    if "status" not in doc:
        raise Invalid("missing required keys: status")
    schema.check({**schema.NEW_TASK, "propertyNames": {**schema.TASK_KEYS, "pattern": rf"^(task_id|{schema.KEY})$"}},
                 doc, "task")
    doc = {**{k: val for k, val in TASK_DEFAULTS.items() if k not in doc}, **doc}
    return Converted(task_id, tasks.task_item(doc), doc["dataset_id"], doc["status"])


def dataset_file(record: dict[str, Any]) -> Converted:
    """A ``dataset_files`` document as the file item.

    Its key comes from the document's ObjectId (creation time, then its counter bytes), so a
    file keeps its place among its task's files and importing it twice writes the same item.
    """
    oid = record.get("_id")
    if not isinstance(oid, ObjectId):
        raise Invalid("_id missing or not an ObjectId (a file's order and identity come from it)")
    doc = {k: plain(val, k) for k, val in record.items() if k != "_id"}
    dataset_id, task_id = doc.pop("dataset_id", None), doc.pop("task_id", None)
    schema.check(schema.DATASET_ID, dataset_id, "dataset_id")
    _task_id(task_id)
    stamp = int(oid.generation_time.timestamp()) * 1_000_000_000
    file_key = f"{task_id}#{stamp:020d}{oid.binary[-4:].hex()}"
    item = files.file_item(dataset_id, task_id, doc, file_key)
    if codec.item_size(item) > tasks.MAX_ITEM_BYTES - 1024:
        raise Invalid("file record too large for DynamoDB (400 KB)")
    return Converted(file_key, item, dataset_id)


@dataclass(frozen=True)
class Protocol:
    """What one IceProd generation's data looks like: the collections it imports, and how.

    Only IceProd 2 exists in the service today. IceProd 3 adds task states and the
    ``task_stats`` collection; it becomes another entry here, with its converters, when the
    service speaks protocol 3.
    """

    name: str
    converters: dict[str, Callable[[dict[str, Any]], Converted]]

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self.converters)


PROTOCOLS = {"2": Protocol("IceProd 2", {"tasks": task, "dataset_files": dataset_file})}
