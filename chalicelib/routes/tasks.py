"""Global task routes (admin and system tokens)."""

import dataclasses

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import Paged, bulk_answer, endpoint
from chalicelib.services import jobs, listings, tasks

bp = Blueprint(__name__)
LIST_QUERY = {"status": s.STATUS_LIST, "keys": s.KEY_LIST, "sort": s.SORT_LIST, **s.PAGE_PARAMS}


@endpoint(bp, "/tasks", "GET", Access.SYSTEM, summary="List tasks", query=LIST_QUERY,
          answer={"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "items": s.TASK}}})
def list_tasks(call):
    q = call.query
    found, cursor = listings.list_tasks(q["status"], q.get("keys"), q["sort"], call.page())
    return Paged({"tasks": found}, cursor)


@endpoint(bp, "/tasks", "POST", Access.SYSTEM, status=201, summary="Create a task", body_schema=s.NEW_TASK,
          answer={"type": "object", "required": ["result"], "properties": {"result": {"type": "string"}}})
def create_task(call):
    return {"result": tasks.create_task(call.body)}


@endpoint(bp, "/tasks/{task_id}", "GET", Access.SYSTEM, summary="Get a task", answer=s.TASK)
def get_task(call, task_id):
    return tasks.get_task(task_id)


@endpoint(bp, "/tasks/{task_id}", "PATCH", Access.SYSTEM, summary="Merge keys into a task",
          body_schema=s.TASK_CHANGES, answer=s.TASK)
def patch_task(call, task_id):
    return tasks.patch_task(task_id, call.body)


@endpoint(bp, "/tasks/{task_id}/status", "PUT", Access.SYSTEM, summary="Set a task's status",
          body_schema={**s.STATUS_BODY, "properties": {**s.STATUS_BODY["properties"],
                                                       "instance_id": {"type": "string", "maxLength": 64}}})
def put_status(call, task_id):
    """IceProd 2's global PUT leaves ``failures`` alone, also on ``reset``. With an ``instance_id``
    (an extension: the holder's change) it must be the claim's, else nothing changes (404)."""
    change = tasks.iceprod2_change(call.body["status"], reset_clears_failures=False)
    if "instance_id" in call.body:
        change = dataclasses.replace(change, instance_id=call.body["instance_id"])
    tasks.set_status(task_id, change)
    return {}



@endpoint(bp, "/task_actions/bulk_status/{status}", "POST", Access.SYSTEM, summary="Set the status of many tasks",
          body_schema=s.BULK)
def bulk_status(call, status):
    """Answers {} when done; 202 and a job (``Location``) when the rest needs more than a request."""
    change = tasks.iceprod2_change(status, reset_clears_failures=True)
    return bulk_answer(jobs.bulk_status(call.body["tasks"], change, None), "/task_actions/jobs")


@endpoint(bp, "/task_actions/jobs/{job_id}", "GET", Access.SYSTEM, summary="Where a bulk job stands", answer=s.JOB)
def job_state(call, job_id):
    return jobs.job_state(job_id)
