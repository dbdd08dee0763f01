"""IceProd 3's dataset routes (admin, system, or a user with access to the dataset): the
dataset's tasks, checked status changes, the bulk actions over a whole dataset or a list of jobs
or tasks, and requirements by task name."""

from urllib.parse import quote

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.protocol import ICEPROD3
from chalicelib.routes.endpoint import Paged, bulk_answer, endpoint
from chalicelib.routes.iceprod3.messages import KEY_LIST, STATUS_FILTER, STATUS_PATH, TASK_ID
from chalicelib.routes.iceprod3.tasks import BULK, STATUS_BODY
from chalicelib.services import bulk, jobs, listings, tasks

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}"
LIST_QUERY = {
    "status": STATUS_FILTER,
    "name": {"type": "string", "x-parse": "pipe-list", "description": "|-separated exact task names"},
    "job_id": {"type": "string"},
    "job_index": {**s.INTEGER_TEXT, "errorMessage": 'Bad argument "job_index": must be integer'},
    "keys": KEY_LIST, **s.PAGE_PARAMS,
}
#: A bulk action's selection: the whole dataset (no ``jobs``/``tasks``), or those jobs, or tasks.
SELECTION = {"type": ["object", "array", "null"], "properties": {
    "jobs": {"type": "array", "items": {"type": "string"}, "maxItems": tasks.MAX_BULK_IDS,
             "errorMessage": {"maxItems": "Too many jobs specified (limit: 100k)"}},
    "tasks": {"type": "array", "items": {"type": "string"}, "maxItems": tasks.MAX_BULK_IDS,
              "errorMessage": {"maxItems": "Too many tasks specified (limit: 100k)"}}},
    "errorMessage": {"type": "the body selects with a jobs or a tasks list of ids"}}
_INTS, _FLOATS = ("cpu", "gpu"), ("memory", "disk", "time")
REQUIREMENTS = {"allOf": [
    {"type": "object", "minProperties": 1, "errorMessage": "Missing body"},
    {"propertyNames": {"enum": [*_INTS, *_FLOATS, "os", "site"], "errorMessage": "Invalid resource types"}},
    {"properties": {
        **{k: {**s.INTEGER, "errorMessage": f"Bad type for {k}, should be int"} for k in _INTS},
        **{k: {**s.NUMBER, "errorMessage": f"Bad type for {k}, should be float"} for k in _FLOATS},
        "os": {"type": "array", "items": {"type": "string"}, "errorMessage": "Bad type for os, should be list"},
        "site": {"type": "string", "errorMessage": "Bad type for site, should be str"},
    }},
]}
NAME = {"name": s.PATH["name"]}


def _jobs_path(dataset_id: str) -> str:
    return f"/datasets/{quote(dataset_id, safe='')}/task_actions/jobs"


@endpoint(bp, f"{PREFIX}/tasks", "GET", Access.READ, summary="A dataset's tasks by id", query=LIST_QUERY,
          answer={"type": "object", "additionalProperties": s.TASK})
def dataset_tasks(call, dataset_id):
    q = call.query
    return Paged(*listings.dataset_tasks(dataset_id, q["status"], q.get("job_id") or None, q.get("job_index"),
                                         q.get("keys"), call.page(), listings.IceProd3, names=q.get("name")))


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}", "GET", Access.READ, summary="A task of the dataset",
          query={"keys": KEY_LIST}, answer=s.TASK, path_params={"task_id": TASK_ID})
def dataset_task(call, dataset_id, task_id):
    return tasks.get_task(task_id, call.query.get("keys"), dataset_id=dataset_id, dotted=True)


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}/status", "PUT", Access.WRITE, summary="Set a task's status (checked)",
          body_schema=STATUS_BODY, path_params={"task_id": TASK_ID})
def dataset_put_status(call, dataset_id, task_id):
    """Allowed only from ``prev(status)``; clears ``instance_id`` (a body's is ignored)."""
    status = call.body["status"]
    change = tasks.StatusChange(status, {"instance_id": ""}, allowed_from=ICEPROD3.allowed_from(status))
    tasks.set_status_checked(task_id, change, dataset_id=dataset_id)
    return {}


@endpoint(bp, f"{PREFIX}/task_summaries/status", "GET", Access.READ, summary="Task ids by status",
          query=s.PAGE_PARAMS,
          answer={"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
def status_summary(call, dataset_id):
    return Paged(*listings.status_summary(dataset_id, call.page(), creation_order=True))


@endpoint(bp, f"{PREFIX}/task_stats", "GET", Access.READ, summary="Statistics of complete tasks by name",
          answer=s.TASK_STATS)
def task_stats(call, dataset_id):
    return listings.task_stats(dataset_id)


@endpoint(bp, f"{PREFIX}/task_actions/bulk_status/{{status}}", "POST", Access.WRITE,
          summary="Set the status of many tasks of the dataset", body_schema=BULK,
          path_params={"status": STATUS_PATH}, order=("body", "path", "query"))
def dataset_bulk_status(call, dataset_id, status):
    """No transition check (IceProd 3); ``instance_id`` cleared."""
    change = tasks.StatusChange(status, {"instance_id": ""})
    return bulk_answer(jobs.bulk_status(call.body["tasks"], change, dataset_id, "Tasks not found"),
                       _jobs_path(dataset_id))


def _bulk_action(call, dataset_id: str, change: tasks.StatusChange):
    """A bulk action over the selection: always ``{}`` (IceProd 3), or 202 with its job."""
    outcome = jobs.bulk_status(bulk.selection(dataset_id, call.body), change, dataset_id, not_found=None)
    return bulk_answer(outcome, _jobs_path(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_suspend", "POST", Access.WRITE,
          summary="Suspend the dataset's (or the listed jobs' or tasks') tasks that may be", body_schema=SELECTION)
def bulk_suspend(call, dataset_id):
    return _bulk_action(call, dataset_id, tasks.StatusChange(
        "suspended", {"instance_id": ""}, allowed_from=ICEPROD3.allowed_from("suspended")))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_reset", "POST", Access.WRITE,
          summary="Move the selected tasks that may be back to idle", body_schema=SELECTION)
def bulk_reset(call, dataset_id):
    return _bulk_action(call, dataset_id, tasks.StatusChange(
        "idle", {"instance_id": ""}, allowed_from=ICEPROD3.allowed_from("idle")))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_hard_reset", "POST", Access.WRITE,
          summary="Move the selected tasks, complete ones included, back to idle with no failures",
          body_schema=SELECTION)
def bulk_hard_reset(call, dataset_id):
    return _bulk_action(call, dataset_id, tasks.StatusChange(
        "idle", {"instance_id": "", "failures": 0, "site": ""}))


@endpoint(bp, f"{PREFIX}/task_actions/jobs/{{job_id}}", "GET", Access.READ,
          summary="Where a bulk job stands (an extension)", answer=s.JOB)
def dataset_job_state(call, dataset_id, job_id):
    return jobs.job_state(job_id, dataset_id=dataset_id)


@endpoint(bp, f"{PREFIX}/task_actions/bulk_requirements/{{name}}", "PATCH", Access.WRITE,
          summary="Set requirements of every task of a name (a value may go down)", body_schema=REQUIREMENTS,
          path_params=NAME)
def bulk_requirements_overwrite(call, dataset_id, name):
    outcome = jobs.bulk_requirements(dataset_id, name, call.body, "overwrite", not_found="Tasks not found")
    return bulk_answer(outcome, _jobs_path(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_requirements/{{name}}", "POST", Access.WRITE,
          summary="Replace the requirements of every task of a name (numbers only go up)", body_schema=REQUIREMENTS,
          path_params=NAME)
def bulk_requirements_replace(call, dataset_id, name):
    outcome = jobs.bulk_requirements(dataset_id, name, call.body, "replace", not_found="Tasks not found")
    return bulk_answer(outcome, _jobs_path(dataset_id))
