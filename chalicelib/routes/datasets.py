"""Dataset-scoped task routes (admin, system, or a user with a grant on the dataset)."""

from urllib.parse import quote

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import Paged, bulk_answer, endpoint
from chalicelib.services import jobs, listings, tasks

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}"
REQUIREMENT_CHANGES = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {"cpu": s.INTEGER, "gpu": s.INTEGER, "memory": s.NUMBER, "disk": s.NUMBER, "time": s.NUMBER,
                   "os": {"type": "array", "items": {"type": "string"}}, "site": {"type": "string"}},
}


def _jobs_path(dataset_id: str) -> str:
    return f"/datasets/{quote(dataset_id, safe='')}/task_actions/jobs"


@endpoint(bp, f"{PREFIX}/tasks", "GET", Access.READ, summary="A dataset's tasks by id",
          query={"status": s.STATUS_LIST, "job_id": {"type": "string"}, "job_index": s.INTEGER_TEXT,
                 "keys": s.KEY_LIST, **s.PAGE_PARAMS},
          answer={"type": "object", "additionalProperties": s.TASK})
def dataset_tasks(call, dataset_id):
    q = call.query
    return Paged(*listings.dataset_tasks(dataset_id, q["status"], q.get("job_id"), q.get("job_index"),
                                         q.get("keys"), call.page()))


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}", "GET", Access.READ, summary="A task of the dataset",
          query={"keys": s.KEY_LIST}, answer=s.TASK)
def dataset_task(call, dataset_id, task_id):
    return tasks.get_task(task_id, call.query.get("keys"), dataset_id=dataset_id)


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}/status", "PUT", Access.WRITE, summary="Set a task's status",
          body_schema=s.STATUS_BODY)
def dataset_put_status(call, dataset_id, task_id):
    """IceProd 2's dataset PUT zeroes ``failures`` on ``reset``."""
    change = tasks.iceprod2_change(call.body["status"], reset_clears_failures=True)
    tasks.set_status(task_id, change, dataset_id=dataset_id)
    return {}


@endpoint(bp, f"{PREFIX}/task_summaries/status", "GET", Access.READ, summary="Task ids by status",
          query=s.PAGE_PARAMS,
          answer={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
def status_summary(call, dataset_id):
    return Paged(*listings.status_summary(dataset_id, call.page()))


@endpoint(bp, f"{PREFIX}/task_stats", "GET", Access.READ, summary="Statistics of complete tasks by name",
          answer=s.TASK_STATS)
def task_stats(call, dataset_id):
    return listings.task_stats(dataset_id)


@endpoint(bp, f"{PREFIX}/task_actions/bulk_status/{{status}}", "POST", Access.WRITE,
          summary="Set the status of many tasks of the dataset", body_schema=s.BULK)
def dataset_bulk_status(call, dataset_id, status):
    change = tasks.iceprod2_change(status, reset_clears_failures=True)
    return bulk_answer(jobs.bulk_status(call.body["tasks"], change, dataset_id), _jobs_path(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/jobs/{{job_id}}", "GET", Access.READ, summary="Where a bulk job stands",
          answer=s.JOB)
def dataset_job_state(call, dataset_id, job_id):
    return jobs.job_state(job_id, dataset_id=dataset_id)


@endpoint(bp, f"{PREFIX}/task_actions/bulk_requirements/{{name}}", "PATCH", Access.WRITE,
          summary="Raise the requirements of every task of a name", body_schema=REQUIREMENT_CHANGES)
def bulk_requirements(call, dataset_id, name):
    """Answers {} when done; 202 and a job (``Location``) when the rest needs more than a request."""
    return bulk_answer(jobs.bulk_requirements(dataset_id, name, call.body), _jobs_path(dataset_id))
