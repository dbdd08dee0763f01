"""Task actions: queue, claim (process), and the pilot's reports (reset, failed, complete)."""

from chalice import Blueprint

from chalicelib.auth import Access
from chalicelib.routes.api import body, endpoint
from chalicelib.services import claims, lifecycle, queueing

bp = Blueprint(__name__)


@endpoint(bp, "/task_actions/queue", "POST", Access.SYSTEM)
def queue(request):
    return {"queued": queueing.queue_tasks(queueing.check_num_tasks(body(request, allow_empty=True)))}


@endpoint(bp, "/task_actions/process", "POST", Access.SYSTEM)
def process(request):
    data = body(request, allow_empty=True)
    offer, filters = claims.check_offer(data.get("requirements"), data.get("query_params"))
    return claims.claim_task(offer, filters)


@endpoint(bp, "/tasks/{task_id}/task_actions/reset", "POST", Access.SYSTEM)
def reset(request, task_id):
    lifecycle.report_failure(task_id, "reset", body(request, allow_empty=True))
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/failed", "POST", Access.SYSTEM)
def failed(request, task_id):
    lifecycle.report_failure(task_id, "failed", body(request, allow_empty=True))
    return {}


@endpoint(bp, "/tasks/{task_id}/task_actions/complete", "POST", Access.SYSTEM)
def complete(request, task_id):
    lifecycle.report_complete(task_id, body(request, allow_empty=True))
    return {}
