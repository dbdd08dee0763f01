"""What IceProd 3's bulk actions (suspend, reset, hard reset) act on: a whole dataset, the tasks
of some of its jobs, or some of its tasks."""

from __future__ import annotations

from typing import Any

from chalicelib.services import listings
from chalicelib.services.store import attr


def selection(dataset_id: str, body: Any) -> list[str]:
    """The ids a bulk action's body selects (IceProd 3's rules): ``jobs`` wins over ``tasks``; an
    empty list selects nothing; no list (``{}``, or a body that is not an object) selects the
    whole dataset. Listed tasks of other datasets are dropped by the writes' dataset condition."""
    if isinstance(body, dict) and "jobs" in body:
        jobs = set(body["jobs"])
        if not jobs:
            return []
        items = listings.dataset_items(dataset_id, [attr("task_id"), attr("job_id")])
        return [i["task_id"]["S"] for i in items if i.get("job_id", {}).get("S") in jobs]
    if isinstance(body, dict) and "tasks" in body:
        return list(body["tasks"])
    return [i["task_id"]["S"] for i in listings.dataset_items(dataset_id, [attr("task_id")])]
