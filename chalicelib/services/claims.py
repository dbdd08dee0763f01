"""Claiming one queued task for a pilot: ``queued`` → ``processing``, exactly once.

The algorithm, and why:

1. Read candidates from the status/priority index (``queued``, highest priority first) with the
   offer's requirements and the query params pushed into the Query's FilterExpression, so pages
   carry matching tasks only.
2. Pick a candidate at random among the pending ones of the top priority. Many pilots asking
   at once would otherwise all race for the same first item (a thundering herd where one wins
   and the rest retry); spreading them over equal-priority candidates keeps priority order and
   lets most claims succeed at the first write.
3. Claim it with one conditional UpdateItem whose condition re-checks ``status = queued`` AND
   every requirement and filter. The index is only a candidate list (eventually consistent on
   AWS); the table decides, atomically, so two pilots never get the same task. On
   ``ConditionalCheckFailed`` (someone else won, or the task changed) try the next candidate.
4. Bounded: at most ``CLAIM_MAX_SCANNED`` index items read and ``CLAIM_MAX_SECONDS`` spent; past
   either bound the claim answers 404 as if nothing matched (the pilot asks again later), so a
   queue full of tasks no pilot can run never makes a request run into API Gateway's 29 s.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib import config, db
from chalicelib import validation as v
from chalicelib.errors import Invalid, NotFound
from chalicelib.services import store
from chalicelib.services.candidates import PriorityCursor
from chalicelib.services.store import Doc, attr, value

QUERY_PARAMS = ("dataset_id", "job_id", "name", "site", "requirements.site")


@dataclass
class ClaimStats:
    """What one claim cost (for metrics and the benchmark)."""

    requests: int = 0
    conflicts: int = 0
    scanned: int = 0


def _scalar(val: Any) -> bool:
    return isinstance(val, (str, bool)) or v.is_number(val)


def check_offer(requirements: Any, query_params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pilot's offer and filters, strictly typed (400 otherwise)."""
    requirements = {} if requirements is None else requirements
    query_params = {} if query_params is None else query_params
    if not isinstance(requirements, dict):
        raise Invalid("requirements must be an object")
    if not isinstance(query_params, dict):
        raise Invalid("query_params must be an object")
    for key, val in requirements.items():
        v.attribute_name(key)
        if not _scalar(val):
            raise Invalid(f"requirement {key!r} must be a number, string or boolean")
    for key, val in query_params.items():
        if key not in QUERY_PARAMS:
            raise Invalid(f"query_params may only filter on {', '.join(QUERY_PARAMS)}; not {key!r}")
        if not _scalar(val):
            raise Invalid(f"query_params {key!r} must be a scalar")
    return requirements, query_params


def _absent(path: Any) -> Condition:
    return path.does_not_exist() | path.is_type("NULL")


def _equal_or_listed(path: Any, val: Any) -> Condition:
    return (path == value(val)) | (path.is_type("L") & path.contains(value(val)))


def requirement_matches(key: str, offered: Any) -> Condition:
    """The condition that a task's requirement ``key`` fits the offered value (SEMANTICS.md)."""
    path = attr("requirements", key)
    if key == "gpu" and v.is_number(offered) and offered > 0:
        if offered < 1:
            raise NotFound("no task matches")  # 1 <= gpu <= offer cannot hold
        return path.is_type("N") & path.between(value(1), value(offered))
    if v.is_number(offered):
        # The type test first: a stored string never fits a number (and moto would crash on it).
        return _absent(path) | (path.is_type("N") & (path <= value(offered)))
    return _absent(path) | _equal_or_listed(path, offered)


def match_condition(requirements: dict[str, Any], query_params: dict[str, Any]) -> Condition | None:
    """Every requirement and filter as one condition (None when there is nothing to check)."""
    clauses = [requirement_matches(k, o) for k, o in requirements.items()]
    for key, val in query_params.items():
        if key == "requirements.site":
            clauses.append(_equal_or_listed(attr("requirements", "site"), val))
        else:
            clauses.append(attr(key) == value(val))
    condition = None
    for clause in clauses:
        condition = clause if condition is None else condition & clause
    return condition


def claim_task(requirements: dict[str, Any], query_params: dict[str, Any],
               stats: ClaimStats | None = None) -> Doc:
    """Claim the best queued task that fits the offer; ``NotFound`` when none does (in bounds)."""
    stats = stats if stats is not None else ClaimStats()
    match = match_condition(requirements, query_params)
    # Candidates need only their id and priority: the claim's write returns the whole task.
    cursor = PriorityCursor("queued", config.CLAIM_PAGE_SIZE, match, [attr("task_id"), attr("priority")])
    deadline = time.monotonic() + config.CLAIM_MAX_SECONDS
    try:
        while cursor.scanned < config.CLAIM_MAX_SCANNED and time.monotonic() < deadline:
            group = cursor.top()
            if not group:
                if cursor.exhausted:
                    break
                continue
            candidate = random.choice(group)
            cursor.discard(candidate)
            task = _try_claim(candidate["task_id"]["S"], match, stats)
            if task is not None:
                return task
    finally:
        stats.requests += cursor.requests
        stats.scanned = cursor.scanned
    raise NotFound("no queued task matches")


def _try_claim(task_id: str, match: Condition | None, stats: ClaimStats) -> Doc | None:
    condition = attr("status") == value("queued")
    if match is not None:
        condition &= match
    stats.requests += 1
    try:
        answer = store.update(task_id, store.set_status("processing", task_id), condition, return_values="ALL_NEW")
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise
        stats.conflicts += 1
        return None
    return store.decode(answer["Attributes"])
