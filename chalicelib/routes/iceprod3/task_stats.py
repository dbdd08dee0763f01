"""IceProd 3's task stats routes: the grid posts a stat per attempt, operators read them back.

The bulk route answers newline-delimited JSON in pages (see :mod:`chalicelib.services.task_stats`
and the README's "Task stats"): each answer is whole lines, and a ``Link: <...>; rel="next"``
header names the next page, as the JSON listings do.
"""

from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import task_stats

bp = Blueprint(__name__)
PER_TASK = "/datasets/{dataset_id}/tasks/{task_id}/task_stats"
_HEX_ID = r"^[0-9a-f]{32}$"
#: Both ids of ``GET .../task_stats/{task_stat_id}``: a malformed one names no stat.
STAT_IDS = {name: {"type": "string", "pattern": _HEX_ID, "x-status": 404, "errorMessage": "Task stat not found"}
            for name in ("task_id", "task_stat_id")}
NEW_STAT = {"type": "object", "required": ["dataset_id"], "properties": {"dataset_id": s.DATASET_ID},
            "errorMessage": {"required": "Missing dataset_id in body"},
            "description": "the stat; it must name its dataset_id (stored as the record's, the rest as stats)"}
RECORD = {"type": "object", "properties": {
    "task_stat_id": {"type": "string"}, "task_id": {"type": "string"}, "dataset_id": {"type": "string"},
    "create_date": {"type": "string"}, "stats": {"type": "object"}}}
#: IceProd's true values of ``last``; anything else is false.
_TRUE = ("true", "t", "1", "yes", "y")
LAST = {"type": "string", "default": "f", "description": "true|t|1|yes|y (any case): only the latest record"}
KEYS = {"type": "string", "maxLength": 8192,
        "description": "|-separated keys to keep (dotted keys select inside values); task_stat_id is kept"}


def _last(call) -> bool:
    return call.query["last"].lower() in _TRUE


def _keys(call) -> list[str] | None:
    """IceProd's ``keys``: a projection when given and not empty (empty parts are skipped)."""
    text = call.query.get("keys")
    return [k for k in text.split("|") if k] if text else None


@endpoint(bp, "/tasks/{task_id}/task_stats", "POST", Access.SYSTEM, status=201,
          summary="Store a task stat (the task need not exist)", body_schema=NEW_STAT,
          answer={"type": "object", "required": ["result"], "properties": {"result": {"type": "string"}}})
def add_task_stat(call, task_id):
    return {"result": task_stats.add(task_id, call.body)}


@endpoint(bp, PER_TASK, "GET", Access.READ, summary="A task's stats by id (oldest first)",
          query={"last": LAST, "keys": KEYS}, answer={"type": "object", "additionalProperties": RECORD})
def task_task_stats(call, dataset_id, task_id):
    return task_stats.of_task(dataset_id, task_id, _last(call), _keys(call))


@endpoint(bp, f"{PER_TASK}/{{task_stat_id}}", "GET", Access.READ, summary="One task stat", answer=RECORD,
          path_params=STAT_IDS)
def task_stat(call, dataset_id, task_id, task_stat_id):
    return task_stats.get(dataset_id, task_id, task_stat_id)


@endpoint(bp, "/datasets/{dataset_id}/bulk/task_stats", "GET", Access.READ,
          summary="A dataset's stats as newline-delimited JSON (application/x-ndjson), by task, oldest first",
          query={"last": {**LAST, "description": "true|t|1|yes|y (any case): only each task's latest record"},
                 "keys": {**KEYS, "description": "|-separated keys; task_stat_id, task_id and create_date are "
                                                 "kept, except with last, which keeps exactly these keys"},
                 "after": {"type": "string", "description": "only records with create_date >= this (as strings)"},
                 "buffer_size": {**s.INTEGER_TEXT, "default": "1000", "description": (
                     "IceProd flushes its stream every buffer_size tasks; an answer here is one page, sent "
                     "whole, so it changes nothing (accepted for IceProd's clients)")},
                 "cursor": {"type": "string", "maxLength": 8192,
                            "description": 'the next page, as a Link: <...>; rel="next" header gave it'}},
          answer={"type": "string", "description": "one JSON record per line"})
def bulk_task_stats(call, dataset_id):
    q = call.query
    request = task_stats.BulkRequest(_last(call), _keys(call), q.get("after") or None, q.get("cursor"),
                                     call.answer_bytes)
    page = task_stats.bulk(dataset_id, request)
    headers = {"Content-Type": "application/x-ndjson"}
    if page.cursor is not None:
        query = {**(bp.current_request.query_params or {}), "cursor": page.cursor}
        headers["Link"] = f'<?{urlencode(query)}>; rel="next"'
    return Response(body="".join(page.lines), status_code=200, headers=headers)
