"""IceProd 3's dataset file routes: IceProd 2's, with IceProd 3's reason strings. The per-task
routes do not check that the task exists (as IceProd)."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import Paged, endpoint
from chalicelib.routes.iceprod3.messages import PY_TYPES
from chalicelib.services import files

bp = Blueprint(__name__)
PREFIX = "/datasets/{dataset_id}/files"
TASK = {"task_id": s.FILE_TASK_ID}


def _required(key: str, kind: str, schema: s.Schema | None = None) -> s.Schema:
    message = f"key {key} should be of type <class '{PY_TYPES[kind]}'>"
    return {"required": [key], "errorMessage": {"required": f"missing key: {key}"},
            "properties": {key: {"allOf": [{"type": kind, "errorMessage": message}, schema or {}]}}}


_TEXT = "key {key} should be of type <class 'str'>"
#: The optional keys' types, then the values IceProd knows ("invalid file data").
OPTIONAL = [
    {"properties": {"local": {"type": "string", "errorMessage": _TEXT},
                    "transfer": {"type": ["string", "boolean"], "errorMessage": _TEXT},
                    "compression": {"type": ["string", "boolean"], "errorMessage": _TEXT}}},
    {"properties": {"movement": s.FILE["properties"]["movement"], "compression": s.FILE["properties"]["compression"]},
     "errorMessage": "invalid file data"},
]
BODY = {"type": "object", "errorMessage": {"type": "request body must be a JSON object"}}
BY_JOB = {"allOf": [BODY, _required("filename", "string", {"minLength": 1}), _required("movement", "string"),
                    _required("job_index", "integer", s.INTEGER), _required("task_name", "string", s.TASK_NAME),
                    *OPTIONAL]}
FOR_TASK = {"allOf": [BODY, _required("filename", "string", {"minLength": 1}), _required("movement", "string"),
                      *OPTIONAL]}


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
    return {"result": files.add_file_by_job(dataset_id, call.body, not_found="task referred to not found")}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "GET", Access.READ, summary="A task's files", query=s.PAGE_PARAMS,
          answer=s.FILES, path_params=TASK)
def task_files(call, dataset_id, task_id):
    return _page(call, dataset_id, task_id)


@endpoint(bp, f"{PREFIX}/{{task_id}}", "POST", Access.WRITE, status=201, summary="Attach a file to a task",
          body_schema=FOR_TASK, path_params=TASK)
def add_task_file(call, dataset_id, task_id):
    files.add_file(dataset_id, task_id, files.file_record(call.body))
    return {}


@endpoint(bp, f"{PREFIX}/{{task_id}}", "DELETE", Access.WRITE, summary="Delete a task's files", path_params=TASK)
def delete_task_files(call, dataset_id, task_id):
    files.delete_files(dataset_id, task_id)
    return {}
