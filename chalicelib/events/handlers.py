"""The stream consumer that keeps the counters, and the scheduled jobs.

On AWS each is its own Lambda function whose handler is in this module, so Lambda imports this
module, not ``app.py``: it sets up the JSON logs itself. ``make run`` drives the same handlers
from background threads (:mod:`devserver.background`).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Rate

from chalicelib import config, observability, protocol
from chalicelib.events import replay
from chalicelib.services import counters, janitor, jobs, protocol_marker, queueing, scheduling

observability.setup_logging()
bp = Blueprint(__name__)


@bp.on_dynamodb_record(
    stream_arn=config.TASKS_STREAM_ARN,  # the template points it at the tasks table's stream
    batch_size=100,
    starting_position="TRIM_HORIZON",
    name="count_tasks",
)
def count_tasks(event: Any) -> None:
    """Apply a batch of task changes to the counters (idempotent: Lambda may redeliver)."""
    counters.apply_stream_records(event.to_dict().get("Records", []))


@bp.schedule(Rate(config.QUEUE_RATE_MINUTES, unit=Rate.MINUTES), name="queue_tasks")
def queue_tasks(event: Any) -> dict[str, Any]:
    """Keep the grid's queue topped up; does nothing unless ``QUEUE_SCHEDULE=on``, nor on tables
    of the other protocol. IceProd 2: waiting → queued; IceProd 3: idle → waiting."""
    if not config.QUEUE_SCHEDULE:
        return {"enabled": False, "queued": 0}
    refused = protocol_marker.refusal()
    if refused:
        return {"enabled": True, "refused": str(refused)}
    if protocol.CURRENT.version == "3":
        return {"enabled": True, "waiting": scheduling.scheduled_cycle()}
    return {"enabled": True, "queued": queueing.scheduled_queue()}


@bp.schedule(Rate(config.JANITOR_RATE_MINUTES, unit=Rate.MINUTES), name="janitor")
def run_janitor(event: Any) -> dict[str, Any]:
    """Take back expired claims and return ``reset`` tasks to the queue; does nothing unless
    ``JANITOR_SCHEDULE=on``, nor on tables of the other protocol (its moves follow this
    deployment's state machine; see :mod:`chalicelib.services.janitor`)."""
    if not config.JANITOR_SCHEDULE:
        return {"enabled": False}
    refused = protocol_marker.refusal()
    if refused:
        return {"enabled": True, "refused": str(refused)}
    return {"enabled": True, **janitor.run()}


@bp.schedule(Rate(config.JOBS_RATE_MINUTES, unit=Rate.MINUTES), name="run_jobs")
def run_jobs(event: Any) -> dict[str, Any]:
    """Finish bulk changes that did not fit in their request (not on the other protocol's tables)."""
    refused = protocol_marker.refusal()
    if refused:
        return {"chunks": 0, "refused": str(refused)}
    return {"chunks": jobs.run_jobs()}


@bp.schedule(Rate(config.RECONCILE_RATE_HOURS, unit=Rate.HOURS), name="reconcile_counters")
def reconcile_counters(event: Any) -> dict[str, Any]:
    """Repair any drift of the counters from the tasks table."""
    fixes = counters.reconcile()
    return {"fixed": len(fixes)}


@bp.lambda_function(name="replay_stream_failures")
def replay_stream_failures(event: Any, context: Any) -> dict[str, int]:
    """Apply the stream batches ``count_tasks`` gave up on, read back from the stream (invoked by
    an operator when the failure alarm fires; see README, Counters)."""
    return replay.replay_failures()
