"""Dataset file routes. The per-task routes do not check that the task exists (as upstream)."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import Paged, endpoint
from chalicelib.services import files

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}/files"
BY_JOB = {**s.FILE_BODY, "required": ["filename", "movement", "job_index", "task_name"],
          "properties": {**s.FILE_BODY["properties"], "job_index": s.INTEGER, "task_name": s.TASK_NAME}}
TASK = {"task_id": s.FILE_TASK_ID}


def _page(call, dataset_id, task_id=None):
    found, cursor = files.list_files(dataset_id, task_id, call.page())
    return Paged({"files": found}, cursor)


@endpoint(bp, PREFIX, "GET", Access.READ, summary="A dataset's files", query=s.PAGE_PARAMS, answer=s.FILES)
def dataset_files(call, dataset_id):
    return _page(call, dataset_id)


@endpoint(bp, PREFIX, "POST", Access.WRITE, status=201, summary="Attach a file to the task of a job and name",
          body_schema=BY_JOB,
          answer={"type": "object", "required": ["result"], "properties": {"result": {"type": "string"}}})
def add_dataset_file(call, dataset_id):
    return {"result": files.add_file_by_job(dataset_id, call.body)}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "GET", Access.READ, summary="A task's files", query=s.PAGE_PARAMS,
          answer=s.FILES, path_params=TASK)
def task_files(call, dataset_id, task_id):
    return _page(call, dataset_id, task_id)


@endpoint(bp, f"{PREFIX}/{{task_id}}", "POST", Access.WRITE, status=201, summary="Attach a file to a task",
          body_schema=s.FILE_BODY, path_params=TASK)
def add_task_file(call, dataset_id, task_id):
    files.add_file(dataset_id, task_id, files.file_record(call.body))
    return {}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "DELETE", Access.WRITE, summary="Delete a task's files", path_params=TASK)
def delete_task_files(call, dataset_id, task_id):
    files.delete_files(dataset_id, task_id)
    return {}
