"""Dataset-scoped task routes (admin, system, or a user with a grant on the dataset)."""

from urllib.parse import quote

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib import validation as v
from chalicelib.auth import Access
from chalicelib.routes.api import Paged, body, bulk_answer, endpoint, param
from chalicelib.routes.tasks import BULK, JOB, JOB_ID
from chalicelib.services import jobs, listings, requirements, tasks

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}"
STATS = {"type": "object", "additionalProperties": {"type": "object", "properties": {
    "count": {"type": "integer"}, "gpu": {"type": "number"}, "total_hrs": {"type": "number"},
    "total_err_hrs": {"type": "number"}, "avg_hrs": {"type": "number"}, "stddev_hrs": {"type": ["number", "null"]},
    "min_hrs": {"type": "number"}, "max_hrs": {"type": "number"}, "efficiency": {"type": "number"}}}}
REQUIREMENT_CHANGES = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {"cpu": s.INTEGER, "gpu": s.INTEGER, "memory": s.NUMBER, "disk": s.NUMBER, "time": s.NUMBER,
                   "os": {"type": "array", "items": {"type": "string"}}, "site": {"type": "string"}},
}


@endpoint(bp, f"{PREFIX}/tasks", "GET", Access.READ, summary="A dataset's tasks by id",
          query={"status": s.STATUS_LIST, "job_id": {"type": "string"}, "job_index": s.INTEGER_TEXT,
                 "keys": s.KEY_LIST, **s.PAGE_PARAMS},
          answer={"type": "object", "additionalProperties": s.TASK})
def dataset_tasks(request, dataset_id):
    return Paged(*listings.dataset_tasks(
        v.dataset_id(dataset_id),
        v.statuses(param(request, "status") or ""),
        param(request, "job_id"),
        v.int_param(param(request, "job_index"), "job_index"),
        v.keys_param(param(request, "keys")),
        v.limit_param(param(request, "limit")),
        param(request, "cursor"),
    ))


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}", "GET", Access.READ, summary="A task of the dataset",
          query={"keys": s.KEY_LIST}, answer=s.TASK)
def dataset_task(request, dataset_id, task_id):
    keys = v.keys_param(param(request, "keys"))
    return tasks.get_task(task_id, keys, dataset_id=v.dataset_id(dataset_id))


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}/status", "PUT", Access.WRITE, summary="Set a task's status",
          body_schema=s.STATUS_BODY)
def dataset_put_status(request, dataset_id, task_id):
    status = v.status(body(request).get("status"))
    tasks.set_status(task_id, status, dataset_id=v.dataset_id(dataset_id))
    return {}


@endpoint(bp, f"{PREFIX}/task_summaries/status", "GET", Access.READ, summary="Task ids by status",
          query=s.PAGE_PARAMS,
          answer={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
def status_summary(request, dataset_id):
    limit, cursor = v.limit_param(param(request, "limit")), param(request, "cursor")
    return Paged(*listings.status_summary(v.dataset_id(dataset_id), limit, cursor))


@endpoint(bp, f"{PREFIX}/task_stats", "GET", Access.READ, summary="Statistics of complete tasks by name",
          answer=STATS)
def task_stats(request, dataset_id):
    return listings.task_stats(v.dataset_id(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_status/{{status}}", "POST", Access.WRITE,
          summary="Set the status of many tasks of the dataset", body_schema=BULK)
def dataset_bulk_status(request, dataset_id, status):
    v.dataset_id(dataset_id)
    v.status(status)
    outcome = jobs.bulk_status(tasks.bulk_ids(body(request)), status, dataset_id)
    return bulk_answer(outcome, f"/datasets/{quote(dataset_id, safe='')}/task_actions/jobs")


@endpoint(bp, f"{PREFIX}/task_actions/jobs/{{job_id}}", "GET", Access.READ, summary="Where a bulk job stands",
          answer=JOB, path_params=JOB_ID)
def dataset_job_state(request, dataset_id, job_id):
    return jobs.job_state(v.job_id(job_id), dataset_id=v.dataset_id(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_requirements/{{name}}", "PATCH", Access.WRITE,
          summary="Raise the requirements of every task of a name", body_schema=REQUIREMENT_CHANGES)
def bulk_requirements(request, dataset_id, name):
    """Answers {} when done; 202 and a job (``Location``) when the rest needs more than a request."""
    v.dataset_id(dataset_id)
    outcome = jobs.bulk_requirements(dataset_id, v.name(name), requirements.check_bulk_body(body(request)))
    return bulk_answer(outcome, f"/datasets/{quote(dataset_id, safe='')}/task_actions/jobs")
