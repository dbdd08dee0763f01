"""IceProd 3's task routes (admin, system): the task record, its status (checked against the
transition table), and the global bulk status change."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.protocol import ICEPROD3
from chalicelib.routes.endpoint import Paged, bulk_answer, endpoint
from chalicelib.routes.iceprod3.messages import KEY_LIST, LIMIT, PY_TYPES, SORT_LIST, STATUS_PATH, TASK_ID
from chalicelib.services import jobs, listings, tasks

bp = Blueprint(__name__)
STATUSES = list(ICEPROD3.statuses)


def _required(key: str, schema: s.Schema, kind: str) -> s.Schema:
    """A required key of a new task: present, then of its type, each with IceProd 3's message."""
    message = f"key {key} should be of type <class '{PY_TYPES[kind]}'>"
    return {"required": [key], "errorMessage": {"required": f"missing key: {key}"},
            "properties": {key: {"allOf": [{"type": kind, "errorMessage": message}, schema]}}}


#: ``POST /tasks``, checked in IceProd 3's order: each required key (presence, type), the optional
#: keys' types, unknown keys, the status value. ``priority`` must be a JSON float (``1.0``).
NEW_TASK = {"allOf": [
    {"type": "object", "errorMessage": "request body must be a JSON object"},
    _required("dataset_id", s.DATASET_ID, "string"),
    _required("job_id", {}, "string"),
    _required("task_index", s.INTEGER, "integer"),
    _required("job_index", s.INTEGER, "integer"),
    _required("name", s.TASK_NAME, "string"),
    _required("depends", {"items": {"type": "string"}}, "array"),
    _required("requirements", {"propertyNames": {"pattern": r"^.{1,64}$", "maxBytes": s.MAX_KEY_BYTES}}, "object"),
    {"properties": {
        "status": {"type": "string", "errorMessage": 'key "status" should be of type str'},
        "priority": {"allOf": [{"type": "number", "not": {"type": "integer"}}, s.NUMBER],
                     "errorMessage": 'key "priority" should be of type float'},
        "instance_id": {"type": "string", "errorMessage": 'key "instance_id" should be of type str'},
    }},
    {"additionalProperties": False, "errorMessage": {"additionalProperties": "invalid keys found"},
     "properties": {key: {} for key in [*tasks.REQUIRED, "status", "priority", "instance_id"]}},
    {"properties": {"status": {"enum": STATUSES, "errorMessage": "invalid status"}}},
]}
#: ``PATCH``: permissive as IceProd 3 (any key, dotted keys inside objects), but never ``task_id``
#: or ``_id`` or our internal attributes (nor a dotted path into them), and the fields the indexes
#: are built from keep their types (a listed deviation).
TASK_CHANGES = {"allOf": [
    {"type": "object", "minProperties": 1, "errorMessage": "Missing update data"},
    {"maxProperties": s.MAX_PATCH_KEYS,
     "propertyNames": {"pattern": rf"^(?!(task_id|_id)(\.|$)){s.KEY}$", "maxBytes": s.MAX_KEY_BYTES,
                       "errorMessage": "key {value!r} cannot be changed"},
     "properties": {**s.TASK_FIELDS, "status": {"enum": STATUSES, "errorMessage": "Bad status"}}},
]}
STATUS_BODY = {"allOf": [
    {"type": "object", "required": ["status"], "errorMessage": "Missing status in body"},
    {"properties": {"status": {"enum": STATUSES, "errorMessage": "Bad status"},
                    "instance_id": {"type": "string", "errorMessage": "instance_id must be a string"}}},
]}
BULK = {"allOf": [
    {"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "minItems": 1}},
     "errorMessage": "Missing tasks in body"},
    {"properties": {"tasks": {"maxItems": tasks.MAX_BULK_IDS, "items": {"type": "string"},
                              "errorMessage": {"maxItems": "Too many tasks specified (limit: 100k)"}}}},
]}
LIST_QUERY = {"status": {"type": "string", "x-parse": "pipe-list", "default": "",
                         "description": "|-separated statuses (unchecked: an unknown one matches nothing)"},
              "site": {"type": "string", "description": "the site's prefix (case-sensitive)"},
              "keys": KEY_LIST, "sort": SORT_LIST, "limit": LIMIT, "cursor": s.PAGE_PARAMS["cursor"]}


@endpoint(bp, "/tasks", "GET", Access.SYSTEM, summary="List tasks", query=LIST_QUERY,
          answer={"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "items": s.TASK}}})
def list_tasks(call):
    q = call.query
    found, cursor = listings.list_tasks(q["status"], q.get("keys"), q["sort"], call.page(), listings.IceProd3,
                                        site_prefix=(q.get("site") or "").strip() or None)
    return Paged({"tasks": found}, cursor)


@endpoint(bp, "/tasks", "POST", Access.SYSTEM, status=201, summary="Create a task", body_schema=NEW_TASK,
          answer={"type": "object", "required": ["result"], "properties": {"result": {"type": "string"}}})
def create_task(call):
    return {"result": tasks.create_task(call.body)}


@endpoint(bp, "/tasks/{task_id}", "GET", Access.SYSTEM, summary="Get a task", answer=s.TASK,
          path_params={"task_id": TASK_ID})
def get_task(call, task_id):
    return tasks.get_task(task_id)


@endpoint(bp, "/tasks/{task_id}", "PATCH", Access.SYSTEM, summary="Set fields of a task (dotted keys inside objects)",
          body_schema=TASK_CHANGES, answer=s.TASK, path_params={"task_id": TASK_ID})
def patch_task(call, task_id):
    """IceProd 3 does not stamp ``status_changed`` on a PATCH, even of ``status``."""
    return tasks.patch_task(task_id, call.body, dotted=True, stamp_status=False)


@endpoint(bp, "/tasks/{task_id}/status", "PUT", Access.SYSTEM, summary="Set a task's status (checked transition)",
          body_schema=STATUS_BODY, path_params={"task_id": TASK_ID})
def put_status(call, task_id):
    """Allowed only from ``prev(status)`` and, with a non-empty ``instance_id``, for that claim;
    ``instance_id`` is kept. A task already in the status answers success."""
    status, instance_id = call.body["status"], call.body.get("instance_id") or None
    change = tasks.StatusChange(status, allowed_from=ICEPROD3.allowed_from(status), instance_id=instance_id)
    tasks.set_status_checked(task_id, change)
    return {}


@endpoint(bp, "/task_actions/bulk_status/{status}", "POST", Access.SYSTEM, summary="Set the status of many tasks",
          body_schema=BULK, path_params={"status": STATUS_PATH}, order=("body", "path", "query"))
def bulk_status(call, status):
    """No transition check (IceProd 3); ``instance_id`` cleared. {} when done; 202 and a job
    (``Location``) when the rest needs more than a request."""
    change = tasks.StatusChange(status, {"instance_id": ""})
    return bulk_answer(jobs.bulk_status(call.body["tasks"], change, None, "Tasks not found"), "/task_actions/jobs")


@endpoint(bp, "/task_actions/jobs/{job_id}", "GET", Access.SYSTEM, summary="Where a bulk job stands (an extension)",
          answer=s.JOB)
def job_state(call, job_id):
    return jobs.job_state(job_id)
