"""Task actions: queue, claim (process), and the pilot's reports (reset, failed, complete).

Their bodies may carry more than described (pilots send ``gridspec``, ``hostname``, ...):
unknown keys are ignored.
"""

from chalice import Blueprint

from chalicelib import config
from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import claims, lifecycle, queueing

bp = Blueprint(__name__)
SCALAR = {"anyOf": [{"type": ["string", "boolean"]}, s.NUMBER]}
TIME_USED = {"type": "number", "minimum": 0, "maximum": 1e12}
#: ``instance_id`` (an extension): the claim the report is about; a report of another claim
#: changes nothing (404). IceProd 2 pilots send none: their reports stay unfenced.
INSTANCE_ID = {"type": "string", "maxLength": 64}
REPORT = {"type": "object", "properties": {
    "instance_id": INSTANCE_ID, "time_used": TIME_USED, "site": {"type": "string"}, "reason": {"type": "string"},
    "resources": {"type": "object", "properties": {
        k: {"anyOf": [{"type": "null"}, s.NUMBER]} for k in ("cpu", "gpu", "memory", "disk", "time")}}}}
OFFER = {"type": ["object", "null"], "maxProperties": s.MAX_OFFER_KEYS,
         "propertyNames": {"pattern": r"^[^\[\]]{1,64}$", "maxBytes": s.MAX_KEY_BYTES}, "additionalProperties": SCALAR}
FILTERS = {"type": ["object", "null"], "additionalProperties": False,
           "properties": {k: SCALAR for k in claims.QUERY_PARAMS},
           "errorMessage": {"additionalProperties": "query_params may only filter on "
                                                    + ", ".join(claims.QUERY_PARAMS)}}
#: The actions answer 400 for a task they cannot act on, unknown ids included (IceProd 2).
ACTION_TASK = {"task_id": {"type": "string", "pattern": r"^[0-9a-f]{32}$", "errorMessage": "unknown task {value!r}"}}


@endpoint(bp, "/task_actions/queue", "POST", Access.SYSTEM, summary="Queue the highest-priority waiting tasks",
          body_schema={"type": "object", "properties": {"num_tasks": {"type": "integer", "minimum": 0}}},
          answer={"type": "object", "required": ["queued"], "properties": {"queued": {"type": "integer"}}})
def queue(call):
    """At most ``QUEUE_MAX_PER_REQUEST`` tasks and ``REQUEST_WORK_SECONDS`` per call: the answer
    says how many moved, a scheduler asks again for the rest."""
    wanted = call.body.get("num_tasks", queueing.DEFAULT_NUM_TASKS)
    moved = queueing.queue_tasks(min(wanted, config.QUEUE_MAX_PER_REQUEST), seconds=config.REQUEST_WORK_SECONDS)
    return {"queued": moved}


@endpoint(bp, "/task_actions/process", "POST", Access.SYSTEM, summary="Claim one queued task for a pilot",
          body_schema={"type": "object", "properties": {"requirements": OFFER, "query_params": FILTERS}},
          answer=s.TASK)
def process(call):
    return claims.claim_task(call.body.get("requirements") or {}, call.body.get("query_params") or {})


@endpoint(bp, "/tasks/{task_id}/task_actions/reset", "POST", Access.SYSTEM, summary="Report a task reset",
          body_schema=REPORT, path_params=ACTION_TASK)
def reset(call, task_id):
    lifecycle.report_failure(task_id, "reset", call.body)
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/failed", "POST", Access.SYSTEM, summary="Report a task failed",
          body_schema=REPORT, path_params=ACTION_TASK)
def failed(call, task_id):
    lifecycle.report_failure(task_id, "failed", call.body)
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/complete", "POST", Access.SYSTEM, summary="Report a task complete",
          body_schema={"type": "object", "properties": {"instance_id": INSTANCE_ID, "time_used": TIME_USED,
                                                         "site": {"type": "string"}}},
          path_params=ACTION_TASK)
def complete(call, task_id):
    lifecycle.report_complete(task_id, call.body)
    return {}
