"""MongoDB documents (decoded BSON or Extended JSON) as the items the service stores.

Every item is built by the function the service's own route stores through, so an imported
record is indistinguishable from one the API created: a task by
:func:`chalicelib.services.tasks.task_item` (``POST /tasks``), a task stat by
:func:`chalicelib.services.task_stats.stat_item`, an access record by
:func:`chalicelib.services.access.record_item`. ``_id`` is dropped. Values keep their types: BSON
int32/int64 become ints, doubles floats, dates IceProd's naive-UTC ISO strings, ObjectIds their
hex string. Anything else (Decimal128, binary, regex, timestamps, ...) is not IceProd data and
rejects the record rather than being guessed at.

What depends on the protocol (a task's statuses and defaults) comes from
:data:`chalicelib.protocol.CURRENT`, the protocol the process serves: the importer runs only
with ``CURRENT`` equal to the imported protocol (``iceprod-tasks import --protocol`` selects it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from chalicelib import codec, protocol, schema
from chalicelib.errors import Invalid
from chalicelib.models.task_stats import stat_key
from chalicelib.routes.iceprod3.tasks import NEW_TASK as ICEPROD3_NEW_TASK
from chalicelib.services import access, files, task_stats, tasks

#: What a task stat and an access record count as in the verification (tasks count by status).
TASK_STATS = "(task stats)"
ACCESS = "(access)"
#: A stored task: the route schema of a new task, which also allows ``task_id``.
STORED_TASK = {**schema.NEW_TASK, "propertyNames": {**schema.TASK_KEYS, "pattern": rf"^(task_id|{schema.KEY})$"}}
#: The keys of a stored IceProd 3 task that its ``POST /tasks`` checks. Not ``priority``: IceProd
#: 3's PATCH stores what it is given, and its ``queue_tasks`` PATCHes an int (0) where POST wants a
#: float (:data:`STORED_TASK` keeps it a number).
ICEPROD3_POSTED = (*tasks.REQUIRED, "status", "instance_id")
#: The keys of an IceProd 3 task stat (``POST /tasks/{id}/task_stats`` writes exactly these).
STAT_KEYS = ("task_stat_id", "task_id", "dataset_id", "create_date", "stats")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OBJECT = {"type": "object"}


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
    """One source record ready to store: its key (what a report names it by) and the item."""

    key: str
    item: dict[str, Any]
    dataset_id: str
    #: What it counts as in the verification: a task's status, :data:`TASK_STATS` or
    #: :data:`ACCESS` (None: a file, counted per dataset).
    status: str | None = None


def _task_id(value: Any) -> str:
    if not isinstance(value, str) or not tasks.TASK_ID_RE.match(value):
        raise Invalid(f"invalid task_id: {value!r}")
    return value


def _document(record: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(val, k) for k, val in record.items() if k != "_id"}


def _require(doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise Invalid(f"missing required keys: {', '.join(missing)}")


def _fits(item: dict[str, Any], what: str) -> dict[str, Any]:
    if codec.item_size(item) > tasks.MAX_ITEM_BYTES - 1024:
        raise Invalid(f"{what} too large for DynamoDB (400 KB)")
    return item


def _check_iceprod2(doc: dict[str, Any]) -> None:
    schema.check(STORED_TASK, doc, "task")


def _check_iceprod3(doc: dict[str, Any]) -> None:
    """IceProd 3's route schema on the keys its POST set (its messages, its seven statuses, a
    string ``instance_id``), then the service's limits on every key."""
    schema.check(ICEPROD3_NEW_TASK, {k: doc[k] for k in ICEPROD3_POSTED if k in doc}, "task")
    schema.check(STORED_TASK, doc, "task")


def _task(record: dict[str, Any], check: Callable[[dict[str, Any]], None]) -> Converted:
    """A ``tasks`` document as the task item; ``Invalid`` says why it cannot be imported. Keys
    the document lacks get what ``POST /tasks`` of the served protocol fills in (IceProd 3:
    ``instance_id`` "")."""
    doc = _document(record)
    task_id = _task_id(doc.get("task_id"))
    _require(doc, ("status",))
    check(doc)
    defaults = {**protocol.CURRENT.task_defaults, "priority": 1.0, **tasks.SERVER_DEFAULTS}
    doc = {**{k: val for k, val in defaults.items() if k not in doc}, **doc}
    return Converted(task_id, tasks.task_item(doc), doc["dataset_id"], doc["status"])


def task(record: dict[str, Any]) -> Converted:
    """An IceProd 2 task: the keys ``POST /tasks`` checks, checked by the same schema."""
    return _task(record, _check_iceprod2)


def task3(record: dict[str, Any]) -> Converted:
    """An IceProd 3 task: IceProd 3's statuses (no ``reset``), its ``instance_id`` kept."""
    return _task(record, _check_iceprod3)


def stat_id(task_stat_id: Any, create_date: Any) -> str:
    """The id an imported stat is stored under: its ``create_date`` (12 hex digits of
    milliseconds, 4 of the microseconds within them), then 16 of a hash of IceProd's id.

    The shape of :func:`chalicelib.ids.new_id`, so a task's stats are in key order as they were
    created and ``last`` reads the newest, as IceProd sorts by ``create_date``; IceProd's own ids
    (UUID1 hex) do not sort by time. The same record always gets the same id, so a second
    import finds it.
    """
    if not isinstance(task_stat_id, str) or not task_stat_id:
        raise Invalid(f"invalid task_stat_id: {task_stat_id!r}")
    try:
        moment = datetime.fromisoformat(create_date)
    except (TypeError, ValueError):
        raise Invalid(f"create_date is not an ISO 8601 time: {create_date!r}") from None
    micros = (moment.replace(tzinfo=moment.tzinfo or UTC) - _EPOCH) // timedelta(microseconds=1)
    if micros < 0:
        raise Invalid(f"create_date before 1970: {create_date!r}")
    millis, within = divmod(micros, 1000)
    return f"{millis:012x}{within:04x}{hashlib.sha256(task_stat_id.encode()).hexdigest()[:16]}"


def task_stat(record: dict[str, Any]) -> Converted:
    """A ``task_stats`` document as the item ``POST /tasks/{id}/task_stats`` stores, under the id
    :func:`stat_id` gives it; the rest of the record as it is."""
    doc = _document(record)
    _require(doc, STAT_KEYS)
    if set(doc) - set(STAT_KEYS):
        raise Invalid(f"keys a task stat does not have: {', '.join(sorted(set(doc) - set(STAT_KEYS)))}")
    schema.check(schema.DATASET_ID, doc["dataset_id"], "dataset_id")
    schema.check(_OBJECT, doc["stats"], "stats")
    task_id = _task_id(doc["task_id"])
    stored = {**doc, "task_stat_id": stat_id(doc["task_stat_id"], doc["create_date"])}
    item = _fits(task_stats.stat_item(stored), "task stat")
    return Converted(stat_key(task_id, stored["task_stat_id"]), item, doc["dataset_id"], TASK_STATS)


def access_record(record: dict[str, Any]) -> Converted:
    """An ``attr_auths`` document (IceProd 3's ``auth`` database) as the dataset's access record:
    its lists as they are, unchecked (a malformed one is refused at use, as IceProd refuses it)."""
    doc = _document(record)
    _require(doc, ("dataset_id",))
    schema.check(schema.DATASET_ID, doc["dataset_id"], "dataset_id")
    unknown = set(doc) - {"dataset_id", *access.FIELDS}
    if unknown:
        raise Invalid(f"keys an access record does not have: {', '.join(sorted(unknown))}")
    dataset_id = doc["dataset_id"]
    return Converted(dataset_id, access.record_item(dataset_id, doc), dataset_id, ACCESS)


def dataset_file(record: dict[str, Any]) -> Converted:
    """A ``dataset_files`` document as the file item.

    Its key comes from the document's ObjectId (creation time, then its counter bytes), so a
    file keeps its place among its task's files and importing it twice writes the same item.
    """
    oid = record.get("_id")
    if not isinstance(oid, ObjectId):
        raise Invalid("_id missing or not an ObjectId (a file's order and identity come from it)")
    doc = _document(record)
    dataset_id, task_id = doc.pop("dataset_id", None), doc.pop("task_id", None)
    schema.check(schema.DATASET_ID, dataset_id, "dataset_id")
    _task_id(task_id)
    stamp = int(oid.generation_time.timestamp()) * 1_000_000_000
    file_key = f"{task_id}#{stamp:020d}{oid.binary[-4:].hex()}"
    item = _fits(files.file_item(dataset_id, task_id, doc, file_key), "file record")
    return Converted(file_key, item, dataset_id)


@dataclass(frozen=True)
class Protocol:
    """What one IceProd generation's data looks like: the collections it imports, and how, and
    the collections of the other generation, named when they are skipped."""

    name: str
    converters: dict[str, Callable[[dict[str, Any]], Converted]]
    not_read: dict[str, str]

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self.converters)


PROTOCOLS = {
    "2": Protocol("IceProd 2", {"tasks": task, "dataset_files": dataset_file},
                  {name: f"{name} is IceProd 3 data: import it with --protocol 3"
                   for name in ("task_stats", "attr_auths")}),
    "3": Protocol("IceProd 3", {"tasks": task3, "dataset_files": dataset_file, "task_stats": task_stat,
                                "attr_auths": access_record}, {}),
}
