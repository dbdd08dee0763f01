"""Count routes, read from the stream-maintained counters (one GetItem or Query each)."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import counters

bp = Blueprint(__name__)


@endpoint(bp, "/task_counts/status", "GET", Access.SYSTEM, summary="Task counts by status", answer=s.COUNTS)
def status_counts(call):
    return counters.status_counts()


@endpoint(bp, "/datasets/{dataset_id}/task_counts/status", "GET", Access.READ,
          summary="A dataset's task counts by status", answer=s.COUNTS)
def dataset_status_counts(call, dataset_id):
    return counters.dataset_status_counts(dataset_id)


@endpoint(bp, "/datasets/{dataset_id}/task_counts/name_status", "GET", Access.READ,
          summary="A dataset's task counts by name and status",
          answer={"type": "object", "additionalProperties": s.COUNTS})
def dataset_name_status_counts(call, dataset_id):
    return counters.dataset_name_status_counts(dataset_id)
