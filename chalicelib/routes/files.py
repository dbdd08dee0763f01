"""Dataset file routes. The per-task routes do not check that the task exists (as upstream)."""

from chalice import Blueprint

from chalicelib import validation as v
from chalicelib.auth import Access
from chalicelib.routes.api import Paged, body, endpoint, param
from chalicelib.services import files

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}/files"


def _page(request, dataset_id, task_id=None):
    found, cursor = files.list_files(dataset_id, task_id, v.limit_param(param(request, "limit")),
                                     param(request, "cursor"))
    return Paged({"files": found}, cursor)


@endpoint(bp, PREFIX, "GET", Access.READ)
def dataset_files(request, dataset_id):
    return _page(request, v.dataset_id(dataset_id))


@endpoint(bp, PREFIX, "POST", Access.WRITE, status=201)
def add_dataset_file(request, dataset_id):
    return {"result": files.add_file_by_job(v.dataset_id(dataset_id), body(request))}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "GET", Access.READ)
def task_files(request, dataset_id, task_id):
    return _page(request, v.dataset_id(dataset_id), v.task_id_or_400(task_id))


@endpoint(bp, f"{PREFIX}/{{task_id}}", "POST", Access.WRITE, status=201)
def add_task_file(request, dataset_id, task_id):
    v.dataset_id(dataset_id)
    v.task_id_or_400(task_id)
    files.add_file(dataset_id, task_id, files.file_record(body(request)))
    return {}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "DELETE", Access.WRITE)
def delete_task_files(request, dataset_id, task_id):
    files.delete_files(v.dataset_id(dataset_id), v.task_id_or_400(task_id))
    return {}
