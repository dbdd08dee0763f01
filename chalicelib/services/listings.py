"""Reads of many tasks: global listings, dataset listings, summaries and statistics.

A listing by status reads the status/priority index (one Query per status shard, highest
priority first); a dataset listing reads the dataset index. Only ``GET /tasks`` without a
status filter scans the table.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import config, db
from chalicelib.errors import Invalid
from chalicelib.models import Task
from chalicelib.models.tasks import NAME_KEY, STATUS_KEY, STATUSES, status_keys
from chalicelib.services import matching, pages, store
from chalicelib.services.store import Doc, attr, value

_TYPE_ORDER = {type(None): 0, int: 1, float: 1, str: 2, dict: 3, list: 4, bool: 5}


def _sort_value(val: Any) -> tuple[int, Any]:
    """Mixed-type sort key in MongoDB's spirit: missing/null, numbers, strings, objects, ..."""
    rank = _TYPE_ORDER.get(type(val), 6)
    if rank in (3, 4, 6):
        return rank, str(val)
    return rank, val if val is not None else 0


#: The keys the listings page by: the table's, and each index's with the table's.
TABLE_KEY = {"task_id": "S"}
STATUS_INDEX_KEY = {"task_id": "S", STATUS_KEY: "S", "priority": "N"}
DATASET_INDEX_KEY = {"task_id": "S", "dataset_id": "S", NAME_KEY: "S"}


def task_sources(status_filter: list[str], attributes: Any, condition: Condition | None = None) -> list[pages.Source]:
    """The reads of ``GET /tasks``: one Query per status shard (highest priority first), or a Scan."""
    if not status_filter:
        return [pages.source_of(db.scan, TABLE_KEY, model=Task, attributes_to_get=attributes,
                                filter_condition=condition)]
    return [
        pages.source_of(db.query, STATUS_INDEX_KEY, {STATUS_KEY: key}, model=Task, hash_key=key,
                        index_name=Task.by_status.Meta.index_name, scan_index_forward=False,
                        attributes_to_get=attributes, filter_condition=condition)
        for status in status_filter if status in STATUSES for key in status_keys(status)
    ]


@dataclass(frozen=True)
class Shape:
    """How a listing's tasks are shown: IceProd 2 takes ``keys`` as top-level names; IceProd 3 as
    dotted paths, and lists tasks in creation order (its "natural order") when no sort is given:
    service ids are time-ordered (:mod:`chalicelib.ids`), so that is id order."""

    dotted: bool = False
    creation_order: bool = False

    def read(self, keys: list[str] | None, extra: list[str] = ()) -> Any:
        """The attributes to read for ``keys`` (with ``extra``)."""
        if keys is None:
            return None
        return store.projection(store.top_keys([*keys, *extra]) if self.dotted else keys, extra)


IceProd2 = Shape()
IceProd3 = Shape(dotted=True, creation_order=True)


def _get(doc: Doc, key: str, dotted: bool) -> Any:
    for part in key.split(".") if dotted else [key]:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


def list_tasks(status_filter: list[str], keys: list[str] | None, sort: list[tuple[str, int]],
               request: pages.PageRequest, shape: Shape = IceProd2,
               site_prefix: str | None = None) -> tuple[list[Doc], str | None]:
    """``GET /tasks``: tasks by status (index) or all (scan), filtered by a ``site`` prefix
    (IceProd 3), projected, sorted, limited, paged.

    Without ``sort`` the listing pages (``limit`` and the returned cursor); a sorted listing is
    sorted over every task, so it reads them all and returns the first ``limit``.
    """
    if sort and request.cursor:
        raise Invalid("cursor cannot be combined with sort")
    fields = [k for k, _ in sort] + (["task_id"] if shape.creation_order else [])
    site = attr("site").startswith(site_prefix) if site_prefix else None
    sources = task_sources(status_filter, shape.read(keys, fields), site)
    page = pages.collect(sources, replace(request, limit=None) if sort else request)
    docs = [store.document(item) for item in page.items]
    if shape.creation_order and not sort:
        docs.sort(key=lambda d: d.get("task_id", ""))
    for key, direction in reversed(sort):
        docs.sort(key=lambda d, k=key: _sort_value(_get(d, k, shape.dotted)), reverse=direction < 0)
    if sort and request.limit:
        docs = docs[: request.limit]
    if keys is not None:
        docs = [store.project(d, keys, shape.dotted) for d in docs]
    return docs, page.cursor


def dataset_source(dataset_id: str, attributes: Any = None, filter_condition: Condition | None = None) -> pages.Source:
    """The dataset index's tasks of one dataset, as a pageable source."""
    return pages.source_of(db.query, DATASET_INDEX_KEY, {"dataset_id": dataset_id}, model=Task, hash_key=dataset_id,
                           index_name=Task.by_dataset.Meta.index_name,
                           attributes_to_get=attributes, filter_condition=filter_condition)


def dataset_items(dataset_id: str, attributes: Any = None, filter_condition: Condition | None = None,
                  **kwargs: Any) -> list[dict[str, Any]]:
    """Raw items of one dataset, from the dataset index, for the requests that need all of them
    at once. Their work is bounded: at most ``DATASET_READ_MAX`` index items read (filtered ones
    count), else ``Invalid`` before anything is written. ``kwargs`` are Query arguments other
    than ``limit`` (the bound sets it)."""
    items: list[dict[str, Any]] = []
    read, start = 0, None
    while True:
        page = db.query(Task, dataset_id, index_name=Task.by_dataset.Meta.index_name, attributes_to_get=attributes,
                        filter_condition=filter_condition, exclusive_start_key=start,
                        limit=config.DATASET_READ_MAX - read + 1, **kwargs)
        items += page.get("Items", [])
        read += page.get("ScannedCount", len(page.get("Items", [])))
        if read > config.DATASET_READ_MAX:
            raise Invalid(f"dataset {dataset_id} holds more than {config.DATASET_READ_MAX} tasks for one request "
                          "of this kind (DATASET_READ_MAX)")
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def dataset_tasks(dataset_id: str, status_filter: list[str], job_id: str | None, job_index: int | None,
                  keys: list[str] | None, request: pages.PageRequest, shape: Shape = IceProd2,
                  names: list[str] | None = None) -> tuple[dict[str, Doc], str | None]:
    """``GET /datasets/{id}/tasks``: ``{task_id: task}``, filtered (status, job, names), projected
    (``task_id`` always kept), paged."""
    clauses = []
    if status_filter:
        clauses.append(attr("status").is_in(*[value(s) for s in status_filter]))
    if job_id is not None:
        clauses.append(attr("job_id") == value(job_id))
    if job_index is not None:
        clauses.append(attr("job_index") == value(job_index))
    if names:  # IN takes 100 values: longer lists are ORed chunks
        chunks = [attr("name").is_in(*[value(n) for n in names[i : i + 100]]) for i in range(0, len(names), 100)]
        any_name = chunks[0]
        for chunk in chunks[1:]:
            any_name |= chunk
        clauses.append(any_name)
    source = dataset_source(dataset_id, shape.read(keys, ["task_id"]), matching.all_of(clauses))
    page = pages.collect([source], request)
    docs = [store.document(item) for item in page.items]
    if shape.creation_order:
        docs.sort(key=lambda d: d["task_id"])
    if keys is not None:
        docs = [{**store.project(d, keys, shape.dotted), "task_id": d["task_id"]} for d in docs]
    return {doc["task_id"]: doc for doc in docs}, page.cursor


def status_summary(dataset_id: str, request: pages.PageRequest,
                   creation_order: bool = False) -> tuple[dict[str, list[str]], str | None]:
    """``{status: [task_id]}`` for the statuses that occur, in display order (paged); IceProd 3
    lists each status's ids in creation order (id order)."""
    source = dataset_source(dataset_id, [attr("task_id"), attr("status")])
    page = pages.collect([source], request)
    groups: dict[str, list[str]] = {}
    for item in page.items:
        groups.setdefault(item["status"]["S"], []).append(item["task_id"]["S"])
    if creation_order:
        groups = {status: sorted(ids) for status, ids in groups.items()}
    return {s: groups[s] for s in STATUSES if s in groups}, page.cursor


def task_stats(dataset_id: str) -> dict[str, dict[str, Any]]:
    """Per task name over the dataset's complete tasks: counts, hours, efficiency."""
    fields = store.projection(["name", "task_index", "requirements", "walltime", "walltime_err"])
    items = dataset_items(dataset_id, fields, attr("status") == value("complete"))
    by_name: dict[str, dict[str, Any]] = {}
    for item in items:
        doc = store.document(item)
        entry = by_name.setdefault(doc.get("name"), {"index": doc.get("task_index"), "hrs": [], "err": 0.0, "gpu": 0})
        entry["index"] = _min_index(entry["index"], doc.get("task_index"))
        entry["hrs"].append(_number(doc.get("walltime")))
        entry["err"] += _number(doc.get("walltime_err"))
        gpu = (doc.get("requirements") or {}).get("gpu") if isinstance(doc.get("requirements"), dict) else None
        entry["gpu"] += gpu if isinstance(gpu, (int, float)) and not isinstance(gpu, bool) else 0
    ordered = sorted(by_name.items(), key=lambda kv: _sort_value(kv[1]["index"]))
    return {name: _stats(entry) for name, entry in ordered}


def _min_index(a: Any, b: Any) -> Any:
    if not isinstance(b, int):
        return a
    return b if not isinstance(a, int) or b < a else a


def _number(val: Any) -> float:
    return float(val) if isinstance(val, (int, float)) and not isinstance(val, bool) else 0.0


def _stats(entry: dict[str, Any]) -> dict[str, Any]:
    hrs = entry["hrs"]
    total, err = math.fsum(hrs), entry["err"]
    return {
        "count": len(hrs),
        "gpu": entry["gpu"],
        "total_hrs": total,
        "total_err_hrs": err,
        "avg_hrs": total / len(hrs),
        "stddev_hrs": statistics.stdev(hrs) if len(hrs) > 1 else None,
        "min_hrs": min(hrs),
        "max_hrs": max(hrs),
        "efficiency": total / (total + err) if total + err else 0.0,
    }
