"""Task actions: queue, claim (process), and the pilot's reports (reset, failed, complete).

Their bodies may carry more than described (pilots send ``gridspec``, ``hostname``, ...):
unknown keys are ignored.
"""

from chalice import Blueprint

from chalicelib import config
from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.api import body, endpoint
from chalicelib.services import claims, lifecycle, queueing

bp = Blueprint(__name__)
SCALAR = {"anyOf": [{"type": ["string", "boolean"]}, s.NUMBER]}
TIME_USED = {"type": "number", "minimum": 0, "maximum": 1e12}
REPORT = {"type": "object", "properties": {
    "time_used": TIME_USED, "site": {"type": "string"}, "reason": {"type": "string"},
    "resources": {"type": "object", "properties": {
        k: {"anyOf": [{"type": "null"}, s.NUMBER]} for k in ("cpu", "gpu", "memory", "disk", "time")}}}}
OFFER = {"type": ["object", "null"], "propertyNames": {"pattern": r"^[^\[\]]{1,64}$"}, "additionalProperties": SCALAR}
FILTERS = {"type": ["object", "null"], "additionalProperties": False,
           "properties": {k: SCALAR for k in claims.QUERY_PARAMS}}


@endpoint(bp, "/task_actions/queue", "POST", Access.SYSTEM, summary="Queue the highest-priority waiting tasks",
          body_schema={"type": "object", "properties": {"num_tasks": {"type": "integer", "minimum": 0}}},
          answer={"type": "object", "required": ["queued"], "properties": {"queued": {"type": "integer"}}})
def queue(request):
    """At most ``QUEUE_MAX_PER_REQUEST`` tasks and ``REQUEST_WORK_SECONDS`` per call: the answer
    says how many moved, a scheduler asks again for the rest."""
    wanted = queueing.check_num_tasks(body(request, allow_empty=True))
    moved = queueing.queue_tasks(min(wanted, config.QUEUE_MAX_PER_REQUEST), seconds=config.REQUEST_WORK_SECONDS)
    return {"queued": moved}


@endpoint(bp, "/task_actions/process", "POST", Access.SYSTEM, summary="Claim one queued task for a pilot",
          body_schema={"type": "object", "properties": {
              "requirements": OFFER, "query_params": FILTERS}},
          answer=s.TASK)
def process(request):
    data = body(request, allow_empty=True)
    offer, filters = claims.check_offer(data.get("requirements"), data.get("query_params"))
    return claims.claim_task(offer, filters)


@endpoint(bp, "/tasks/{task_id}/task_actions/reset", "POST", Access.SYSTEM, summary="Report a task reset",
          body_schema=REPORT)
def reset(request, task_id):
    lifecycle.report_failure(task_id, "reset", body(request, allow_empty=True))
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/failed", "POST", Access.SYSTEM, summary="Report a task failed",
          body_schema=REPORT)
def failed(request, task_id):
    lifecycle.report_failure(task_id, "failed", body(request, allow_empty=True))
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/complete", "POST", Access.SYSTEM, summary="Report a task complete",
          body_schema={"type": "object", "properties": {"time_used": TIME_USED, "site": {"type": "string"}}})
def complete(request, task_id):
    lifecycle.report_complete(task_id, body(request, allow_empty=True))
    return {}
