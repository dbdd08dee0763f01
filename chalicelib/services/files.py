"""Dataset files: the input and output files attached to tasks."""

from __future__ import annotations

import os
import time
from typing import Any

from chalicelib import codec, db
from chalicelib import validation as v
from chalicelib.errors import Invalid
from chalicelib.models import DatasetFile
from chalicelib.models.tasks import name_key
from chalicelib.services import listings, pages, store
from chalicelib.services.store import attr

MOVEMENTS = ("input", "output", "both")
COMPRESSIONS = ("none", "gzip", "gz", "bzip", "bz2", "lzma")
_HIDDEN = frozenset({"dataset_id", "task_id", "file_key"})


def file_record(body: dict[str, Any]) -> dict[str, Any]:
    """A file record from a request body, with IceProd's defaults; ``Invalid`` on bad input."""
    remote = body.get("filename")
    if not isinstance(remote, str) or not remote:
        raise Invalid("filename must be a non-empty string")
    movement = body.get("movement")
    if movement not in MOVEMENTS:
        raise Invalid(f"movement must be one of {', '.join(MOVEMENTS)}")
    local = body.get("local", "")
    if not isinstance(local, str):
        raise Invalid("local must be a string")
    transfer = body.get("transfer", True)
    if not isinstance(transfer, (bool, str)):
        raise Invalid("transfer must be a boolean or a string")
    compression = body.get("compression", False)
    if not (isinstance(compression, bool) or compression in COMPRESSIONS):
        raise Invalid(f"compression must be a boolean or one of {', '.join(COMPRESSIONS)}")
    return {
        "remote": remote,
        "local": local,
        "type": "permanent",
        "movement": movement,
        "transfer": transfer,
        "compression": compression,
    }


def _file_key(task_id: str) -> str:
    """``<task_id>#<time><random>``: a task's files sort in the order they were added."""
    return f"{task_id}#{time.time_ns():020d}{os.urandom(4).hex()}"


def file_item(dataset_id: str, task_id: str, record: dict[str, Any], file_key: str) -> dict[str, Any]:
    """The stored item of a file record (also what the MongoDB importer writes)."""
    item = codec.encode_item(record)
    del item[codec.FLOATS]
    item.update(dataset_id={"S": dataset_id}, task_id={"S": task_id}, file_key={"S": file_key})
    return item


def add_file(dataset_id: str, task_id: str, record: dict[str, Any]) -> None:
    item = file_item(dataset_id, task_id, record, _file_key(task_id))
    with db.translated():
        DatasetFile._get_connection().put_item(dataset_id, item["file_key"]["S"], attributes=item)


def add_file_by_job(dataset_id: str, body: dict[str, Any]) -> str:
    """Attach a file to the dataset's task of a job index and name; its task id."""
    record = file_record(body)
    job_index, task_name = body.get("job_index"), body.get("task_name")
    if not v.is_int(job_index):
        raise Invalid("job_index must be an integer")
    v.name(task_name, "task_name")
    exact = attr("_name_key") == store.value(name_key(task_name, job_index))
    items = listings.dataset_items(dataset_id, [attr("task_id")], range_key_condition=exact)
    task = next(iter(items), None)
    if task is None:
        raise Invalid(f"no task {task_name!r} with job_index {job_index} in dataset {dataset_id}")
    task_id = task["task_id"]["S"]
    add_file(dataset_id, task_id, record)
    return task_id


def _of_task(task_id: str | None) -> Any:
    """The key condition of one task's files (None: the whole dataset)."""
    return attr("file_key").startswith(f"{task_id}#") if task_id else None


def _items(dataset_id: str, task_id: str | None) -> list[dict[str, Any]]:
    return list(db.query_all(DatasetFile, dataset_id, range_key_condition=_of_task(task_id), consistent_read=True))


def list_files(dataset_id: str, task_id: str | None = None, limit: int | None = None,
               cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """The file records of a dataset, or of one of its tasks (paged)."""
    source = pages.pages_of(DatasetFile._get_connection().query, hash_key=dataset_id,
                            range_key_condition=_of_task(task_id), consistent_read=True)
    page = pages.collect([source], frozenset({"dataset_id", "file_key"}), limit, cursor)
    return [codec.decode_item(item, _HIDDEN) for item in page.items], page.cursor


def delete_files(dataset_id: str, task_id: str) -> None:
    keys = [{"dataset_id": i["dataset_id"], "file_key": i["file_key"]} for i in _items(dataset_id, task_id)]
    db.batch_delete(DatasetFile, keys)
