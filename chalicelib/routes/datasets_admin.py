"""Extensions shared by both protocols: the janitor's per-dataset settings, a dataset's failures
by reason class, and the pilot's heartbeat that extends a claim's lease (see README, Operations)."""

from chalice import Blueprint

from chalicelib.auth import Access
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import counters, janitor, leases

bp = Blueprint(__name__)
SETTINGS = {"type": "object", "required": ["debug"], "additionalProperties": False,
            "properties": {"debug": {"type": "boolean"}},
            "errorMessage": {"required": "debug is required", "additionalProperties": "only debug may be set"}}
TASK_ID = {"type": "string", "pattern": r"^[0-9a-f]{32}$", "errorMessage": "Task not found", "x-status": 404}
HEARTBEAT = {"type": "object", "required": ["instance_id"], "properties": {"instance_id": {"type": "string"}},
             "errorMessage": {"required": "instance_id is required"}}


@endpoint(bp, "/datasets/{dataset_id}/janitor_settings", "GET", Access.READ,
          summary="A dataset's janitor settings (debug: reset tasks are suspended, not retried)", answer=SETTINGS)
def get_settings(call, dataset_id):
    return janitor.get_settings(dataset_id)


@endpoint(bp, "/datasets/{dataset_id}/janitor_settings", "PUT", Access.SYSTEM,
          summary="Set a dataset's janitor settings", body_schema=SETTINGS, answer=SETTINGS)
def put_settings(call, dataset_id):
    return janitor.set_settings(dataset_id, call.body["debug"])


@endpoint(bp, "/datasets/{dataset_id}/task_counts/failure_reasons", "GET", Access.READ,
          summary="A dataset's failed tasks by the class of their last failure",
          answer={"type": "object", "additionalProperties": {"type": "integer"}})
def failure_reasons(call, dataset_id):
    return counters.dataset_failure_counts(dataset_id)


@endpoint(bp, "/tasks/{task_id}/task_actions/heartbeat", "POST", Access.SYSTEM,
          summary="Extend the lease of a claim (fenced by instance_id)", body_schema=HEARTBEAT,
          path_params={"task_id": TASK_ID},
          answer={"type": "object", "properties": {"task_id": {"type": "string"}, "instance_id": {"type": "string"},
                                                   "lease_until": {"type": "integer"}}})
def heartbeat(call, task_id):
    return leases.heartbeat(task_id, call.body["instance_id"])
