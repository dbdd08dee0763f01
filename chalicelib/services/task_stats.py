"""IceProd 3's task stats: what the grid reports about each attempt of a task, kept per dataset.

A record is ``{task_stat_id, task_id, dataset_id, create_date, stats}``. IceProd reads them back
three ways: one record, one task's records (or its latest), and a dataset's records as
newline-delimited JSON. Each is one GetItem or one Query (:mod:`chalicelib.models.task_stats`).
IceProd streams the dataset's records; this service's answers are buffered (Lambda's managed
Python runtime does not stream) and hold at most 6 MB, so :func:`bulk` returns pages of whole
lines and a cursor to the next page.

``keys`` projections follow MongoDB's inclusion projections, as IceProd's do (a dotted key
selects inside objects, and inside the objects of a list), with IceProd's forced keys.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from chalicelib import codec, config, db, ids
from chalicelib.errors import NotFound
from chalicelib.models.task_stats import KEY_ONLY, TaskStat, stat_key
from chalicelib.protocol import ICEPROD3
from chalicelib.services import pages
from chalicelib.services.store import attr, value

Record = dict[str, Any]
#: IceProd reads at most this many records of one task (``to_list(10000)``).
MAX_TASK_RECORDS = 10_000
#: The key a bulk page's cursor names (the table's: a page resumes after a record).
_KEY = {"dataset_id": "S", "stat_key": "S"}


def add(task_id: str, body: dict[str, Any]) -> str:
    """Store a stat of ``task_id`` (which need not exist, as in IceProd); its new id.

    ``stats`` is the body minus ``dataset_id``, with its ints and floats kept (:mod:`codec`).
    """
    task_stat_id = ids.new_id()
    stats = {k: v for k, v in body.items() if k != "dataset_id"}
    record = {"task_stat_id": task_stat_id, "task_id": task_id, "dataset_id": body["dataset_id"],
              "create_date": ICEPROD3.now(), "stats": stats}
    db.put_item(TaskStat, body["dataset_id"], stat_key(task_id, task_stat_id), attributes=stat_item(record))
    return task_stat_id


def stat_item(record: Record) -> dict[str, Any]:
    """A record's stored item: the codec's encoding plus its range key. ``POST`` and the MongoDB
    importer (``iceprod_ops``) both store through this, so an imported stat reads as a posted one."""
    return {**codec.encode_item(record), "stat_key": {"S": stat_key(record["task_id"], record["task_stat_id"])}}


def _record(item: dict[str, Any]) -> Record:
    return codec.decode_item(item, KEY_ONLY)


def get(dataset_id: str, task_id: str, task_stat_id: str) -> Record:
    """One record, or ``NotFound`` with IceProd's reason."""
    item = db.get_item(TaskStat, dataset_id, stat_key(task_id, task_stat_id), consistent_read=True)
    if item is None:
        raise NotFound("Task stat not found")
    return _record(item)


def of_task(dataset_id: str, task_id: str, last: bool, keys: list[str] | None) -> dict[str, Record]:
    """``{task_stat_id: record}`` of one task: all (oldest first, at most IceProd's 10,000) or
    only the latest; ``keys`` keeps ``task_stat_id`` always, and ``create_date`` with ``last``."""
    prefix = attr("stat_key").startswith(stat_key(task_id))
    if last:
        page = db.query(TaskStat, dataset_id, range_key_condition=prefix, scan_index_forward=False, limit=1,
                        consistent_read=True)
        items: Iterable[dict[str, Any]] = page.get("Items", [])
    else:
        items = islice(db.query_all(TaskStat, dataset_id, range_key_condition=prefix, consistent_read=True,
                                    limit=MAX_TASK_RECORDS), MAX_TASK_RECORDS)
    forced = ["task_stat_id", "create_date"] if last else ["task_stat_id"]
    records = (_record(item) for item in items)
    if keys is not None:
        records = (project(r, [*keys, *forced]) for r in records)
    return {r["task_stat_id"]: r for r in records}


# --- projections ------------------------------------------------------------------------------
def _paths(keys: Iterable[str]) -> dict[str, Any]:
    """Requested keys as a tree of dotted paths (``True``: the whole value); a key wins over the
    keys below it, as the broader of two colliding MongoDB projections would."""
    tree: dict[str, Any] = {}
    for key in keys:
        *parents, leaf = key.split(".")
        node = tree
        for part in parents:
            if node.get(part) is True:
                break
            node = node.setdefault(part, {})
        else:
            node[leaf] = True
    return tree


def _apply(tree: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, sub in tree.items():
        if key not in doc:
            continue
        if sub is True:
            out[key] = doc[key]
        elif isinstance(doc[key], (dict, list)):
            out[key] = _inside(sub, doc[key])
    return out


def _inside(tree: dict[str, Any], val: Any) -> Any:
    """A dotted projection below a key: into an object, or into each object of a list (MongoDB
    drops a list's other elements)."""
    if isinstance(val, dict):
        return _apply(tree, val)
    return [_inside(tree, v) for v in val if isinstance(v, (dict, list))]


def project(record: Record, keys: Iterable[str]) -> Record:
    """``record`` reduced to ``keys`` (dotted keys select inside values), as MongoDB projects."""
    return _apply(_paths(keys), record)


# --- the dataset's records, as NDJSON pages ------------------------------------------------------
@dataclass(frozen=True)
class BulkRequest:
    """``GET /datasets/{id}/bulk/task_stats``: IceProd's options, and the page asked for."""

    last: bool
    keys: list[str] | None
    after: str | None
    cursor: str | None
    max_bytes: int


@dataclass
class BulkPage:
    lines: list[str]
    cursor: str | None


def line(record: Record) -> str:
    """One NDJSON line as IceProd writes it: compact JSON, ``</`` escaped, a newline."""
    return json.dumps(record, separators=(",", ":")).replace("</", "<\\/") + "\n"


def _source(dataset_id: str, after: str | None) -> pages.Source:
    """The dataset's partition in key order (by task, oldest first), ``after`` applied by DynamoDB."""
    newer = attr("create_date") >= value(after) if after else None
    return pages.source_of(db.query, _KEY, {"dataset_id": dataset_id}, model=TaskStat, hash_key=dataset_id,
                           filter_condition=newer, consistent_read=True)


def _shaped(item: dict[str, Any], request: BulkRequest) -> Record:
    """A record as the bulk answer writes it: with ``keys``, projected to them plus the forced
    ``task_stat_id``, ``task_id`` and ``create_date``; with ``last`` too, then cut to exactly the
    requested top-level keys (IceProd's quirk: a dotted key removes its parent)."""
    record = _record(item)
    if request.keys is None:
        return record
    record = project(record, [*request.keys, "task_stat_id", "task_id", "create_date"])
    if request.last:
        record = {k: v for k, v in record.items() if k in request.keys}
    return record


class _Bulk:
    """One page of the bulk answer: lines up to ``max_bytes``, read within the request's bounds.

    ``resume`` is always a position the next page can start after without losing or repeating a
    line. With ``last``, a task's line is written once its next task shows (its newest record is
    its last), so until then ``resume`` stays before the pending record; a page cut by the bounds
    is cut only once ``resume`` has moved, so that every page makes progress.
    """

    def __init__(self, source: pages.Source, request: BulkRequest, start: dict[str, Any] | None) -> None:
        self.source, self.request = source, request
        self.start = self.resume = start
        self.lines: list[str] = []
        self.size = 0
        self.latest: dict[str, Any] | None = None  # with ``last``: the pending record of the current task
        self.before_latest = start

    def run(self) -> BulkPage:
        deadline = time.monotonic() + config.REQUEST_WORK_SECONDS
        position, scanned = self.start, 0
        while True:
            page = self.source.read(exclusive_start_key=position, limit=config.LIST_PAGE_SIZE)
            scanned += page.get("ScannedCount", len(page.get("Items", [])))
            for item in page.get("Items", []):
                if not self._take(item, position):
                    return self._cut()
            position = page.get("LastEvaluatedKey")
            if position is None:
                if self.latest is not None and not self._write(self.latest):
                    return self._cut()
                return BulkPage(self.lines, None)
            if self.latest is None:
                self.resume = position
            elif self.request.last:
                self.resume = self.before_latest
            bounded = time.monotonic() > deadline or scanned >= config.LIST_MAX_READ
            if bounded and self.resume != self.start:
                return self._cut()

    def _take(self, item: dict[str, Any], page_start: dict[str, Any] | None) -> bool:
        """Handle one record (``page_start``: where its page began); False when the page is full."""
        if not self.request.last:
            return self._write(item)
        if self.latest is not None and self.latest["task_id"] != item["task_id"] and not self._write(self.latest):
            return False
        self.before_latest = self.source.position(self.latest) if self.latest is not None else page_start
        self.latest = item
        return True

    def _write(self, item: dict[str, Any]) -> bool:
        """Add ``item``'s line unless it would overflow a page that already holds one."""
        text = line(_shaped(item, self.request))
        length = len(text.encode())
        if self.lines and self.size + length > self.request.max_bytes:
            return False
        self.lines.append(text)
        self.size += length
        self.resume = self.source.position(item)
        return True

    def _cut(self) -> BulkPage:
        return BulkPage(self.lines, pages.encode_cursor(0, self.resume))


def bulk(dataset_id: str, request: BulkRequest) -> BulkPage:
    """A page of the dataset's records as NDJSON lines (whole lines, at least one when any remain,
    at most ``max_bytes``) and the cursor of the next page (None: this is the last)."""
    source = _source(dataset_id, request.after)
    start = pages.decode_cursor(request.cursor, [source])[1] if request.cursor else None
    return _Bulk(source, request, start).run()
