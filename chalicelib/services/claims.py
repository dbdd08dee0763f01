"""Claiming one task for a pilot, exactly once, best priority first.

The algorithm, and why:

1. Read candidates from the status/priority index (highest priority first) with the offer's
   requirements and the query params pushed into the Query's FilterExpression, so pages carry
   matching tasks only.
2. Pick a candidate at random among the pending ones of the top priority. Many pilots asking
   at once would otherwise all race for the same first item (a thundering herd where one wins
   and the rest retry); spreading them over equal-priority candidates keeps priority order and
   lets most claims succeed at the first write.
3. Claim it with one conditional UpdateItem whose condition re-checks the status AND every
   requirement and filter. The index is only a candidate list (eventually consistent on AWS);
   the table decides, atomically, so two pilots never get the same task. On
   ``ConditionalCheckFailed`` (someone else won, or the task changed) try the next candidate.
4. Bounded: at most ``CLAIM_MAX_SCANNED`` index items read per read and ``CLAIM_MAX_SECONDS``
   spent; past either bound the claim answers 404 as if nothing matched (the pilot asks again
   later), so a queue of tasks no pilot can run never makes a request run into API Gateway's 29 s.
5. No staleness of its own: a candidate is handed out only when a read sent after the claim
   began covers it (``candidates.CandidateCache``). Left-over candidates of a page still serve
   the next claims, after a Query bounded by the range key (``priority >`` the candidate) finds
   no better match; claims arriving together share that check. So a claim returns the best task
   the index showed when it began, as IceProd's ``find_one_and_update`` sorted by priority does.

``claim`` is the generic search and conditional claim (the status searched, the match
condition, the update actions); ``claim_task`` is IceProd 2's ``/task_actions/process``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib import config, db, observability
from chalicelib.errors import NotFound
from chalicelib.ids import new_id
from chalicelib.services import leases, matching, store
from chalicelib.services.candidates import Candidate, CandidateCache, PriorityCursor, Refresh
from chalicelib.services.store import Doc, attr, value

QUERY_PARAMS = ("dataset_id", "job_id", "name", "site", "requirements.site")


@dataclass
class ClaimStats:
    """What one claim cost (for metrics and the benchmark)."""

    requests: int = 0
    conflicts: int = 0
    scanned: int = 0


def requirement_matches(key: str, offered: Any) -> Condition:
    """The condition that a task's requirement ``key`` fits the offered value (IceProd 2's rules)."""
    return matching.requirement_matches(key, offered, null_is_absent=True, nothing="no task matches")


def match_condition(requirements: dict[str, Any], query_params: dict[str, Any]) -> Condition | None:
    """Every requirement and filter as one condition (None when there is nothing to check)."""
    clauses = [requirement_matches(k, o) for k, o in requirements.items()]
    for key, val in query_params.items():
        if key == "requirements.site":
            clauses.append(matching.listed_or_equal(attr("requirements", "site"), val))
        else:
            clauses.append(attr(key) == value(val))
    return matching.all_of(clauses)


#: Limit of a read bounded by the range key: it reads everything above its bound anyway, so a
#: larger page only saves round trips over the non-matching items there.
CHECK_PAGE_SIZE = 200

CACHE = CandidateCache()


def _offer_key(requirements: dict[str, Any], query_params: dict[str, Any]) -> str:
    return json.dumps([requirements, query_params], sort_keys=True)


def claim_task(requirements: dict[str, Any], query_params: dict[str, Any],
               stats: ClaimStats | None = None) -> Doc:
    """IceProd 2's claim: the best queued task that fits the offer, now ``processing``, leased to
    a new ``instance_id`` (returned with the task) until a deadline from its ``requirements.time``."""
    task = claim("queued", match_condition(requirements, query_params),
                 lambda task_id: [*store.set_status("processing", task_id), *leases.start(task_id, new_id())],
                 _offer_key(requirements, query_params), stats)
    leases.fit(task["task_id"], task)
    return task


def claim(status: str, match: Condition | None, actions: Callable[[str], list[Action]], offer: str,
          stats: ClaimStats | None = None) -> Doc:
    """Move the best task of ``status`` that satisfies ``match`` with ``actions(task_id)``;
    ``NotFound`` when none does (within the bounds).

    ``offer`` names the match for the candidate cache: claims with the same name must pass the
    same ``match``.
    """
    stats = stats if stats is not None else ClaimStats()
    key = f"{status}\n{offer}"
    began = time.monotonic()
    deadline = began + config.CLAIM_MAX_SECONDS
    while time.monotonic() < deadline:
        step = CACHE.next(key, began, deadline)
        if isinstance(step, Refresh):
            _read(key, step, status, match, stats, deadline)
            continue
        task = _try_claim(key, step, status, match, actions, stats)
        if task is not None:
            return task
    raise NotFound("no task matches")


def _read(key: str, step: Refresh, status: str, match: Condition | None, stats: ClaimStats,
          deadline: float) -> None:
    """Read the index for the claims waiting on ``key``: above the bound, or from the top until
    a page holds a match. Only ids and priorities: the claim's write returns the whole task."""
    page = config.CLAIM_PAGE_SIZE if step.above is None else CHECK_PAGE_SIZE
    cursor = PriorityCursor(status, page, match, [attr("task_id"), attr("priority")], above=step.above)
    try:
        if step.above is None:
            while not cursor.top() and not cursor.exhausted:
                if cursor.scanned >= config.CLAIM_MAX_SCANNED or time.monotonic() >= deadline:
                    break
            gave_up = not cursor.pending() and not cursor.exhausted
        else:
            gave_up = not cursor.read_all(config.CLAIM_MAX_SCANNED, deadline)
    except BaseException:
        CACHE.abandon(key, step)
        raise
    finally:
        stats.requests += cursor.requests
        stats.scanned += cursor.scanned
    found = [(Decimal(i["priority"]["N"]), i["task_id"]["S"]) for i in cursor.pending()]
    CACHE.refreshed(key, step, found, cursor.covered(), gave_up)


def _try_claim(key: str, candidate: Candidate, status: str, match: Condition | None,
               actions: Callable[[str], list[Action]], stats: ClaimStats) -> Doc | None:
    task_id = candidate[1]
    condition = attr("status") == value(status)
    if match is not None:
        condition &= match
    stats.requests += 1
    try:
        answer = store.update(task_id, actions(task_id), condition, return_values="ALL_NEW")
    except UpdateError as error:
        if not db.is_condition_failure(error):
            CACHE.give_back(key, candidate)
            raise
        CACHE.settled(key, candidate)
        stats.conflicts += 1
        observability.count("ClaimConflicts")
        return None
    except BaseException:
        CACHE.give_back(key, candidate)
        raise
    CACHE.settled(key, candidate)
    observability.count("Claims")
    return store.document(answer["Attributes"])
