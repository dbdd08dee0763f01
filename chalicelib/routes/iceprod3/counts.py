"""IceProd 3's count routes, read from the stream-kept counters: one GetItem (or one Query of a
dataset's names) each, whatever the number of tasks, with the ``status`` and ``gpu`` filters
IceProd 3 added (its ``queue_tasks`` reads ``?status=idle|waiting&gpu=True``)."""

from chalice import Blueprint

from chalicelib import schema as s
from chalicelib.auth import Access
from chalicelib.protocol import ICEPROD3
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import counters

bp = Blueprint(__name__)

#: Every counted status in IceProd 3's display order (another protocol's left-overs last).
ORDER = counters.display_order(ICEPROD3.statuses)
_WORD = "|".join(ICEPROD3.statuses)
QUERY = {
    "status": {"type": "string", "pattern": rf"^(({_WORD})(\|({_WORD}))*)?{s.END}", "x-parse": "pipe-list",
               "default": "", "description": "|-separated statuses to count (empty: all)",
               "errorMessage": "Unknown task status"},
    "gpu": {**s.BOOL_TEXT, "description": f"count only gpu tasks (requirements.gpu >= 1) or only the others "
                                          f"(none, or <= 0): {s.BOOL_TEXT['description']}",
            "errorMessage": 'Bad argument "gpu": must be a boolean (true: y|yes|t|true|on|1, '
                            'false: n|no|f|false|off|0, in any letter case)'},
}


def _counts(call, dataset_id: str | None) -> dict[str, int]:
    wanted = call.query["status"]
    statuses = [st for st in ICEPROD3.statuses if st in wanted] if wanted else ORDER
    return counters.counts_by_status(dataset_id, statuses, call.query.get("gpu"))


@endpoint(bp, "/task_counts/status", "GET", Access.SYSTEM, summary="Task counts by status (non-zero only)",
          query=QUERY, answer=s.COUNTS)
def status_counts(call):
    return _counts(call, None)


@endpoint(bp, "/datasets/{dataset_id}/task_counts/status", "GET", Access.READ,
          summary="A dataset's task counts by status (non-zero only)", query=QUERY, answer=s.COUNTS)
def dataset_status_counts(call, dataset_id):
    return _counts(call, dataset_id)


@endpoint(bp, "/datasets/{dataset_id}/task_counts/name_status", "GET", Access.READ,
          summary="A dataset's task counts by name (by task_index) and status",
          answer={"type": "object", "additionalProperties": s.COUNTS})
def dataset_name_status_counts(call, dataset_id):
    return counters.dataset_name_status_counts(dataset_id, ORDER)
