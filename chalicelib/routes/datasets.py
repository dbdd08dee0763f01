"""Dataset-scoped task routes (admin, system, or a user with a grant on the dataset)."""

from chalice import Blueprint

from chalicelib import validation as v
from chalicelib.auth import Access
from chalicelib.routes.api import Paged, body, endpoint, param
from chalicelib.services import listings, requirements, tasks

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}"


@endpoint(bp, f"{PREFIX}/tasks", "GET", Access.READ)
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


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}", "GET", Access.READ)
def dataset_task(request, dataset_id, task_id):
    keys = v.keys_param(param(request, "keys"))
    return tasks.get_task(task_id, keys, dataset_id=v.dataset_id(dataset_id))


@endpoint(bp, f"{PREFIX}/tasks/{{task_id}}/status", "PUT", Access.WRITE)
def dataset_put_status(request, dataset_id, task_id):
    status = v.status(body(request).get("status"))
    tasks.set_status(task_id, status, dataset_id=v.dataset_id(dataset_id))
    return {}


@endpoint(bp, f"{PREFIX}/task_summaries/status", "GET", Access.READ)
def status_summary(request, dataset_id):
    limit, cursor = v.limit_param(param(request, "limit")), param(request, "cursor")
    return Paged(*listings.status_summary(v.dataset_id(dataset_id), limit, cursor))


@endpoint(bp, f"{PREFIX}/task_stats", "GET", Access.READ)
def task_stats(request, dataset_id):
    return listings.task_stats(v.dataset_id(dataset_id))


@endpoint(bp, f"{PREFIX}/task_actions/bulk_status/{{status}}", "POST", Access.WRITE)
def dataset_bulk_status(request, dataset_id, status):
    v.dataset_id(dataset_id)
    v.status(status)
    tasks.bulk_set_status(tasks.bulk_ids(body(request)), status, dataset_id=dataset_id)
    return {}


@endpoint(bp, f"{PREFIX}/task_actions/bulk_requirements/{{name}}", "PATCH", Access.WRITE)
def bulk_requirements(request, dataset_id, name):
    v.dataset_id(dataset_id)
    requirements.bulk_raise(dataset_id, v.name(name), requirements.check_bulk_body(body(request)))
    return {}
