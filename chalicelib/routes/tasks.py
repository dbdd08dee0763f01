"""Global task routes (admin and system tokens)."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib import validation as v
from chalicelib.auth import Access
from chalicelib.routes.api import Paged, body, bulk_answer, endpoint, param
from chalicelib.services import jobs, listings, tasks

bp = Blueprint(__name__)
LIST_QUERY = {"status": s.STATUS_LIST, "keys": s.KEY_LIST, "sort": s.SORT_LIST, **s.PAGE_PARAMS}
BULK = {"type": "object", "required": ["tasks"], "properties": {
    "tasks": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": tasks.MAX_BULK_IDS}}}


@endpoint(bp, "/tasks", "GET", Access.SYSTEM, summary="List tasks", query=LIST_QUERY,
          answer={"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "items": s.TASK}}})
def list_tasks(request):
    found, cursor = listings.list_tasks(
        v.statuses(param(request, "status") or ""),
        v.keys_param(param(request, "keys")),
        v.sort_param(param(request, "sort")),
        v.limit_param(param(request, "limit")),
        param(request, "cursor"),
    )
    return Paged({"tasks": found}, cursor)


@endpoint(bp, "/tasks", "POST", Access.SYSTEM, status=201, summary="Create a task", body_schema=s.NEW_TASK,
          answer={"type": "object", "required": ["result"], "properties": {"result": {"type": "string"}}})
def create_task(request):
    return {"result": tasks.create_task(body(request))}


@endpoint(bp, "/tasks/{task_id}", "GET", Access.SYSTEM, summary="Get a task", answer=s.TASK)
def get_task(request, task_id):
    return tasks.get_task(task_id)


@endpoint(bp, "/tasks/{task_id}", "PATCH", Access.SYSTEM, summary="Merge keys into a task",
          body_schema=s.TASK_CHANGES, answer=s.TASK)
def patch_task(request, task_id):
    return tasks.patch_task(task_id, body(request))


@endpoint(bp, "/tasks/{task_id}/status", "PUT", Access.SYSTEM, summary="Set a task's status",
          body_schema=s.STATUS_BODY)
def put_status(request, task_id):
    tasks.set_status(task_id, v.status(body(request).get("status")))
    return {}


JOB = {"type": "object", "required": ["job", "state", "total", "changed", "remaining_chunks"], "properties": {
    "job": {"type": "string"}, "state": {"type": "string", "enum": ["running", "done"]},
    "total": {"type": "integer"}, "changed": {"type": "integer"}, "remaining_chunks": {"type": "integer"}}}
JOB_ID = {"job_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}


@endpoint(bp, "/task_actions/bulk_status/{status}", "POST", Access.SYSTEM, summary="Set the status of many tasks",
          body_schema=BULK)
def bulk_status(request, status):
    """Answers {} when done; 202 and a job (``Location``) when the rest needs more than a request."""
    v.status(status)
    return bulk_answer(jobs.bulk_status(tasks.bulk_ids(body(request)), status, None), "/task_actions/jobs")


@endpoint(bp, "/task_actions/jobs/{job_id}", "GET", Access.SYSTEM, summary="Where a bulk job stands",
          answer=JOB, path_params=JOB_ID)
def job_state(request, job_id):
    return jobs.job_state(v.job_id(job_id))
