"""IceProd 3's scheduling actions (admin, system): ``waiting``, ``queue``, ``queue_many``, and
the grid's reports on one task (``processing``, ``reset``, ``failed``, ``complete``), each fenced
by the claim's ``instance_id`` and answered with the task as it was before.

Bodies may carry more than described (the grid sends ``reason``, ``resources`` keys such as
``gpumem``): unknown keys are ignored.
"""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import endpoint
from chalicelib.routes.iceprod3.messages import INSTANCE_ID, MISSING_INSTANCE, TASK_ID
from chalicelib.services import grid, lifecycle, queueing

bp = Blueprint(__name__)
MAX_WAITING_IDS = 100
#: The numeric resources IceProd knows: an offer gives numbers for them, strings for the others.
RESOURCES = ("cpu", "gpu", "memory", "disk", "time")
OFFER = {
    "type": ["object", "null"], "maxProperties": s.MAX_OFFER_KEYS,
    "propertyNames": {"pattern": r"^[^\[\]]{1,64}$", "maxBytes": s.MAX_KEY_BYTES},
    "properties": {k: {**s.NUMBER, "errorMessage": f"requirement {k} must be a number"} for k in RESOURCES},
    "additionalProperties": {"type": "string", "errorMessage": "requirement {key} must be a string"},
}
FILTERS = {
    "type": ["object", "null"],
    "propertyNames": {"enum": list(grid.QUERY_PARAMS), "errorMessage": "param {value} is not allowed"},
    "additionalProperties": {"anyOf": [{"type": ["string", "boolean"]}, s.NUMBER],
                             "errorMessage": "param {key} must be a scalar value"},
}
CLAIM = {"type": ["object", "null"], "properties": {"requirements": OFFER, "query_params": FILTERS}}
TIME_USED = {"type": "number", "minimum": 0, "maximum": 1e12}
RESOURCE_USE = {"type": "object", "properties": {k: {"anyOf": [{"type": "null"}, s.NUMBER]} for k in RESOURCES}}
REPORT = {"allOf": [MISSING_INSTANCE, {"type": "object", "properties": {
    "instance_id": INSTANCE_ID, "time_used": TIME_USED, "site": {"type": "string"}, "reason": {"type": "string"},
    "resources": RESOURCE_USE}}]}
COMPLETE = {"allOf": [MISSING_INSTANCE, {"type": "object", "properties": {
    "instance_id": INSTANCE_ID, "time_used": TIME_USED, "site": {"type": "string"}}}]}
PROCESSING = {"allOf": [MISSING_INSTANCE, {"type": "object", "properties": {
    "instance_id": INSTANCE_ID, "site": {"type": "string"}}}]}
TASKS = {"type": "array", "items": s.TASK}


@endpoint(bp, "/task_actions/waiting", "POST", Access.SYSTEM, summary="Move idle tasks to waiting",
          body_schema={"type": "object", "properties": {"task_ids": {
              "type": "array", "items": {"type": "string"}, "maxItems": MAX_WAITING_IDS,
              "errorMessage": {"maxItems": f"too many tasks. must be <= {MAX_WAITING_IDS}"}}}},
          answer={"type": "object", "required": ["waiting"], "properties": {"waiting": {"type": "integer"}}})
def waiting(call):
    """Only listed ``idle`` tasks move (not ``status_changed``, not ``instance_id``); others and
    unknown ids are skipped: the answer counts what this call moved."""
    return {"waiting": queueing.to_waiting(call.body.get("task_ids", []))}


@endpoint(bp, "/task_actions/queue", "POST", Access.SYSTEM, summary="Claim one waiting task", body_schema=CLAIM,
          answer=s.TASK)
def queue(call):
    body = call.body or {}
    return grid.queue_one(body.get("requirements") or {}, body.get("query_params") or {})


@endpoint(bp, "/task_actions/queue_many", "POST", Access.SYSTEM, summary="Claim up to num waiting tasks",
          body_schema={"type": ["object", "null"], "properties": {
              "num": {"type": "integer", "minimum": -(10**9), "maximum": 10**4,
                      "errorMessage": "num must be an integer of at most 10000"},
              "requirements": OFFER, "query_params": FILTERS,
              "dataset_deprio": {"type": "array", "items": s.DATASET_ID, "maxItems": 1000}}},
          answer=TASKS)
def queue_many(call):
    body = call.body or {}
    return grid.queue_many(body.get("num", 1), body.get("requirements") or {}, body.get("query_params") or {},
                           body.get("dataset_deprio") or [])


@endpoint(bp, "/tasks/{task_id}/task_actions/processing", "POST", Access.SYSTEM, summary="The task started running",
          body_schema=PROCESSING, path_params={"task_id": TASK_ID}, answer=s.TASK)
def processing(call, task_id):
    return lifecycle.report_processing3(task_id, call.body)


@endpoint(bp, "/tasks/{task_id}/task_actions/reset", "POST", Access.SYSTEM,
          summary="Report a task reset: back to waiting", body_schema=REPORT, path_params={"task_id": TASK_ID},
          answer=s.TASK)
def reset(call, task_id):
    return lifecycle.report_failure3(task_id, "waiting", call.body)


@endpoint(bp, "/tasks/{task_id}/task_actions/failed", "POST", Access.SYSTEM, summary="Report a task failed",
          body_schema=REPORT, path_params={"task_id": TASK_ID}, answer=s.TASK)
def failed(call, task_id):
    return lifecycle.report_failure3(task_id, "failed", call.body)


@endpoint(bp, "/tasks/{task_id}/task_actions/complete", "POST", Access.SYSTEM, summary="Report a task complete",
          body_schema=COMPLETE, path_params={"task_id": TASK_ID}, answer=s.TASK)
def complete(call, task_id):
    return lifecycle.report_complete3(task_id, call.body)
