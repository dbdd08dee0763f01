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
5. A page read for one claim holds candidates for the next ones: the candidates left after a
   claim are kept per offer (the same requirements and filters) for ``CLAIM_CACHE_SECONDS``,
   and the next claims of this process try them first, taking distinct ones; while one claimer
   reads fresh pages for an offer, the others wait for its left-overs. So concurrent claimers in
   one process do not race each other and most claims cost one UpdateItem. Stale candidates are
   harmless (the conditional write re-checks everything); a task queued meanwhile (at a higher
   priority, or into an empty queue) waits at most the cache's age to be seen.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib import codec, config, db, observability
from chalicelib.errors import NotFound
from chalicelib.ids import new_id
from chalicelib.services import leases, store
from chalicelib.services.candidates import PriorityCursor
from chalicelib.services.store import Doc, attr, value

QUERY_PARAMS = ("dataset_id", "job_id", "name", "site", "requirements.site")


@dataclass
class ClaimStats:
    """What one claim cost (for metrics and the benchmark)."""

    requests: int = 0
    conflicts: int = 0
    scanned: int = 0


def _absent(path: Any) -> Condition:
    return path.does_not_exist() | path.is_type("NULL")


def _equal_or_listed(path: Any, val: Any) -> Condition:
    return (path == value(val)) | (path.is_type("L") & path.contains(value(val)))


def requirement_matches(key: str, offered: Any) -> Condition:
    """The condition that a task's requirement ``key`` fits the offered value (IceProd 2's rules)."""
    path = attr("requirements", key)
    if key == "gpu" and codec.is_number(offered) and offered > 0:
        if offered < 1:
            raise NotFound("no task matches")  # 1 <= gpu <= offer cannot hold
        return path.is_type("N") & path.between(value(1), value(offered))
    if codec.is_number(offered):
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


class CandidateCache:
    """Candidates left over by recent claims, per offer, in priority order (per process).

    One search per offer at a time: while a thread reads fresh pages for an offer, the other
    claimers of that offer wait for its left-overs instead of reading the same page and racing
    for the same tasks. A search that found nothing is remembered as briefly, so a burst of
    claimers on an empty queue costs one search, not one each.
    """

    MAX_OFFERS = 256

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # offer -> (when, left-over candidates, or None: the last search found nothing)
        self._entries: OrderedDict[str, tuple[float, list[tuple[Decimal, str]] | None]] = OrderedDict()
        self._searching: set[str] = set()

    def take(self, key: str) -> str | None:
        """A cached candidate; None when the caller must search (it then calls ``done``).

        Raises ``NotFound`` when a search for this offer just found nothing.
        """
        deadline = time.monotonic() + config.CLAIM_MAX_SECONDS
        with self._cond:
            while True:
                entry = self._entries.get(key)
                if entry is not None and time.monotonic() - entry[0] > config.CLAIM_CACHE_SECONDS:
                    del self._entries[key]
                    entry = None
                if entry is not None:
                    if entry[1] is None:
                        raise NotFound("no queued task matches")
                    candidate = self._pop(entry[1])
                    if not entry[1]:
                        del self._entries[key]
                    if candidate is not None:
                        return candidate
                if key not in self._searching or time.monotonic() > deadline:
                    self._searching.add(key)
                    return None
                self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))

    def _pop(self, candidates: list[tuple[Decimal, str]]) -> str | None:
        if not candidates:
            return None
        top = candidates[0][0]
        equal = next((i for i, c in enumerate(candidates) if c[0] != top), len(candidates))
        return candidates.pop(random.randrange(equal) if config.CLAIM_SPREAD else 0)[1]

    def done(self, key: str, found: bool, candidates: list[tuple[Decimal, str]] | None) -> None:
        """The search for ``key`` ended: whether it found a task, and the candidates left over
        (None when it stopped at its bounds: nothing is known then)."""
        with self._cond:
            self._searching.discard(key)
            if candidates is None or (found and not candidates) or config.CLAIM_CACHE_SECONDS <= 0:
                self._entries.pop(key, None)
            else:
                ordered = sorted(candidates, key=lambda c: c[0], reverse=True) if found else None
                self._entries[key] = (time.monotonic(), ordered)
                self._entries.move_to_end(key)
                while len(self._entries) > self.MAX_OFFERS:
                    self._entries.popitem(last=False)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._entries.clear()
            self._searching.clear()


CACHE = CandidateCache()


def _offer_key(requirements: dict[str, Any], query_params: dict[str, Any]) -> str:
    return json.dumps([requirements, query_params], sort_keys=True)


def claim_task(requirements: dict[str, Any], query_params: dict[str, Any],
               stats: ClaimStats | None = None) -> Doc:
    """Claim the best queued task that fits the offer; ``NotFound`` when none does (in bounds)."""
    stats = stats if stats is not None else ClaimStats()
    match = match_condition(requirements, query_params)
    key = _offer_key(requirements, query_params)
    while (cached := CACHE.take(key)) is not None:
        task = _try_claim(cached, match, stats)
        if task is not None:
            return task
    task, left = None, None
    try:
        task, left = _search(match, stats)
    finally:
        CACHE.done(key, task is not None, left)
    if task is None:
        raise NotFound("no queued task matches")
    return task


def _search(match: Condition | None, stats: ClaimStats) -> tuple[Doc | None, list[tuple[Decimal, str]] | None]:
    """Claim from fresh index pages: (the task or None, the candidates read and left over).

    The left-overs are None when the search stopped at its bounds (nothing is known then).
    """
    # Candidates need only their id and priority: the claim's write returns the whole task.
    cursor = PriorityCursor("queued", config.CLAIM_PAGE_SIZE, match, [attr("task_id"), attr("priority")])
    deadline = time.monotonic() + config.CLAIM_MAX_SECONDS
    try:
        while cursor.scanned < config.CLAIM_MAX_SCANNED and time.monotonic() < deadline:
            group = cursor.top()
            if not group:
                if cursor.exhausted:
                    return None, []
                continue
            candidate = random.choice(group) if config.CLAIM_SPREAD else group[0]
            cursor.discard(candidate)
            task = _try_claim(candidate["task_id"]["S"], match, stats)
            if task is not None:
                return task, [(Decimal(i["priority"]["N"]), i["task_id"]["S"]) for i in cursor.pending()]
        return None, None
    finally:
        stats.requests += cursor.requests
        stats.scanned = cursor.scanned


def _try_claim(task_id: str, match: Condition | None, stats: ClaimStats) -> Doc | None:
    condition = attr("status") == value("queued")
    if match is not None:
        condition &= match
    stats.requests += 1
    try:
        answer = store.update(task_id, [*store.set_status("processing", task_id), *leases.start(task_id, new_id())],
                              condition, return_values="ALL_NEW")
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise
        stats.conflicts += 1
        observability.count("ClaimConflicts")
        return None
    observability.count("Claims")
    task = store.document(answer["Attributes"])
    leases.fit(task_id, task)
    return task
