"""Dataset files: the input and output files attached to tasks."""

from __future__ import annotations

import os
import time
from typing import Any

from chalicelib import codec, db
from chalicelib.errors import Invalid
from chalicelib.models import DatasetFile
from chalicelib.models.tasks import NAME_KEY, name_key
from chalicelib.services import listings, pages, store
from chalicelib.services.store import attr

_HIDDEN = frozenset({"dataset_id", "task_id", "file_key"})


def file_record(body: dict[str, Any]) -> dict[str, Any]:
    """A file record from a (schema-checked) request body, with IceProd's defaults."""
    return {
        "remote": body["filename"],
        "local": body.get("local", ""),
        "type": "permanent",
        "movement": body["movement"],
        "transfer": body.get("transfer", True),
        "compression": body.get("compression", False),
    }


def _file_key(task_id: str) -> str:
    """``<task_id>#<time><random>``: a task's files sort in the order they were added."""
    return f"{task_id}#{time.time_ns():020d}{os.urandom(4).hex()}"


def add_file(dataset_id: str, task_id: str, record: dict[str, Any]) -> None:
    item = codec.encode_item(record)
    del item[codec.FLOATS]
    item.update(dataset_id={"S": dataset_id}, task_id={"S": task_id}, file_key={"S": _file_key(task_id)})
    db.put_item(DatasetFile, dataset_id, item["file_key"]["S"], attributes=item)


def add_file_by_job(dataset_id: str, body: dict[str, Any], not_found: str | None = None) -> str:
    """Attach a file to the dataset's task of a job index and name; its task id."""
    record = file_record(body)
    job_index, task_name = body["job_index"], body["task_name"]
    exact = attr(NAME_KEY) == store.value(name_key(task_name, job_index))
    items = listings.dataset_items(dataset_id, [attr("task_id")], range_key_condition=exact)
    task = next(iter(items), None)
    if task is None:
        raise Invalid(not_found or f"no task {task_name!r} with job_index {job_index} in dataset {dataset_id}")
    task_id = task["task_id"]["S"]
    add_file(dataset_id, task_id, record)
    return task_id


def _of_task(task_id: str | None) -> Any:
    """The key condition of one task's files (None: the whole dataset)."""
    return attr("file_key").startswith(f"{task_id}#") if task_id else None


def _items(dataset_id: str, task_id: str | None) -> list[dict[str, Any]]:
    return list(db.query_all(DatasetFile, dataset_id, range_key_condition=_of_task(task_id), consistent_read=True))


def list_files(dataset_id: str, task_id: str | None,
               request: pages.PageRequest) -> tuple[list[dict[str, Any]], str | None]:
    """The file records of a dataset, or of one of its tasks (paged)."""
    source = pages.source_of(db.query, {"dataset_id": "S", "file_key": "S"}, {"dataset_id": dataset_id},
                             {"file_key": f"{task_id}#"} if task_id else None, model=DatasetFile, hash_key=dataset_id,
                             range_key_condition=_of_task(task_id), consistent_read=True)
    page = pages.collect([source], request)
    return [codec.decode_item(item, _HIDDEN) for item in page.items], page.cursor


def delete_files(dataset_id: str, task_id: str) -> None:
    keys = [{"dataset_id": i["dataset_id"], "file_key": i["file_key"]} for i in _items(dataset_id, task_id)]
    db.batch_write(DatasetFile, deletes=keys)
