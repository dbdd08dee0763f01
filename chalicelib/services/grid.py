"""IceProd 3's claims: the grid daemon takes ``waiting`` tasks into ``queued``, one
(``POST /task_actions/queue``) or a batch (``POST /task_actions/queue_many``).

As IceProd 2's claims (:mod:`chalicelib.services.claims`): candidates come from the
status/priority index (``waiting``, highest priority first) with the offer and the filters in
the Query's FilterExpression, and each task is taken by one conditional UpdateItem that re-checks
``status = waiting`` and every requirement and filter on the table, so two callers never get the
same task. A claim writes ``status = queued``, a new ``instance_id`` (one for every task of a
call) and ``site`` (the offer's, else ``"unknown"``), and, as IceProd 3, not ``status_changed``.

``queue_many`` claims in passes (IceProd 3's rule): with ``dataset_deprio = [L0, ..., Ln-1]``
(most de-prioritised first) the first pass leaves out every listed dataset, each next one lets in
one more from the end of the list, the last pass leaves out none. A batch of candidates is
claimed in parallel; a task lost to a concurrent caller is skipped and the search goes on, and
the answer lists only the tasks really claimed, pass by pass, by priority within a pass.
Bounded like every claim (``CLAIM_MAX_SCANNED`` index items, ``CLAIM_MAX_SECONDS``).

Matching (IceProd 3's, which differs from IceProd 2's in one point: a requirement stored as
``null`` counts as present, so it never matches an offer naming that key): a gpu offer > 0
needs a numeric task gpu between 1 and the offer; a number offer matches an absent requirement
or a number no larger; a string offer matches an absent requirement, an equal one, or a list
holding it. Filters match an equal field or a list holding the value.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition

from chalicelib import codec, config, db, observability
from chalicelib.errors import NotFound
from chalicelib.ids import new_id
from chalicelib.services import matching, store
from chalicelib.services.candidates import PriorityCursor
from chalicelib.services.store import Doc, attr, value

#: The filters ``query_params`` may name.
QUERY_PARAMS = ("dataset_id", "site", "instance_id", "priority", "requirements.site")
#: ``IN`` takes at most 100 operands: longer exclusion lists are split.
_IN_LIMIT = 100


def requirement_matches(key: str, offered: Any) -> Condition:
    """The condition that a task's requirement ``key`` fits the offered value (IceProd 3's rules)."""
    return matching.requirement_matches(key, offered, null_is_absent=False, nothing="Task not found")


def _filter(key: str, val: Any) -> Condition:
    path = attr("requirements", "site") if key == "requirements.site" else attr(key)
    return matching.listed_or_equal(path, val)


def match_condition(requirements: dict[str, Any], query_params: dict[str, Any]) -> Condition | None:
    """Every requirement and filter as one condition for the table's conditional write."""
    return matching.all_of([requirement_matches(k, o) for k, o in requirements.items()]
                           + [_filter(k, v) for k, v in query_params.items()])


def _search_condition(requirements: dict[str, Any], query_params: dict[str, Any],
                      excluded: list[str]) -> Condition | None:
    """The FilterExpression of the index Query: the match, less ``priority`` (the index's range
    key, which a filter may not name: candidates are narrowed to it after the read), less the
    excluded datasets."""
    clauses = [requirement_matches(k, o) for k, o in requirements.items()]
    clauses += [_filter(k, v) for k, v in query_params.items() if k != "priority"]
    for i in range(0, len(excluded), _IN_LIMIT):
        clauses.append(~attr("dataset_id").is_in(*[value(d) for d in excluded[i : i + _IN_LIMIT]]))
    return matching.all_of(clauses)


def _passes(dataset_deprio: list[str]) -> list[list[str]]:
    """The excluded datasets of each pass: all listed, then one fewer from the end, ..., none."""
    listed = list(dict.fromkeys(dataset_deprio))
    return [listed[:n] for n in range(len(listed), 0, -1)] + [[]]


def queue_one(requirements: dict[str, Any], query_params: dict[str, Any]) -> Doc:
    """``POST /task_actions/queue``: the claimed task after the claim; ``NotFound`` when none matches."""
    claimed = _claim(1, requirements, query_params, [], return_values="ALL_NEW")
    if not claimed:
        raise NotFound("Task not found")
    return claimed[0]


def queue_many(num: int, requirements: dict[str, Any], query_params: dict[str, Any],
               dataset_deprio: list[str]) -> list[Doc]:
    """``POST /task_actions/queue_many``: up to ``num`` claimed tasks as they were before, with
    ``status`` queued and the call's ``instance_id``; ``NotFound`` when none was claimed."""
    claimed = _claim(num, requirements, query_params, dataset_deprio, return_values="ALL_OLD") if num > 0 else []
    if not claimed:
        raise NotFound("Task not found")
    return claimed


class _Budget:
    """One call's bounds, over all its passes: index items read and seconds spent."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + config.CLAIM_MAX_SECONDS
        self.scanned = 0

    def left(self, cursor: PriorityCursor) -> bool:
        return self.scanned + cursor.scanned < config.CLAIM_MAX_SCANNED and time.monotonic() < self.deadline


def _claim(num: int, requirements: dict[str, Any], query_params: dict[str, Any], dataset_deprio: list[str],
           return_values: str) -> list[Doc]:
    match = match_condition(requirements, query_params)
    instance_id = new_id()
    site = requirements.get("site") if isinstance(requirements.get("site"), str) else "unknown"
    budget = _Budget()
    claimed: list[Doc] = []
    for excluded in _passes(dataset_deprio):
        cursor = PriorityCursor("waiting", max(config.CLAIM_PAGE_SIZE, min(num - len(claimed), 1000)),
                                _search_condition(requirements, query_params, excluded),
                                attributes=[attr("task_id"), attr("priority")])
        while len(claimed) < num and budget.left(cursor):
            batch = _eligible(_candidates(cursor, num - len(claimed), budget), query_params)
            if not batch and cursor.exhausted:
                break
            won = db.parallel(lambda item: _take(item["task_id"]["S"], match, instance_id, site, return_values), batch)
            claimed += [doc for doc in won if doc is not None]
        budget.scanned += cursor.scanned
        if len(claimed) >= num:
            break
    observability.count("Claims", len(claimed))
    if return_values == "ALL_OLD":
        return [{**doc, "status": "queued", "instance_id": instance_id} for doc in claimed]
    return claimed


def _candidates(cursor: PriorityCursor, wanted: int, budget: _Budget) -> list[dict[str, Any]]:
    """Up to ``wanted`` candidates in priority order, reading no further than the budget allows."""
    out: list[dict[str, Any]] = []
    while len(out) < wanted and budget.left(cursor):
        group = cursor.top()
        if not group:
            if cursor.exhausted:
                break
            continue
        for item in group[: wanted - len(out)]:
            cursor.discard(item)
            out.append(item)
    return out


def _eligible(items: list[dict[str, Any]], query_params: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidates of the asked ``priority`` (the filter the index Query could not apply)."""
    if "priority" not in query_params:
        return items
    wanted = query_params["priority"]
    return [i for i in items if codec.is_number(wanted) and Decimal(i["priority"]["N"]) == Decimal(str(wanted))]


def _take(task_id: str, match: Condition | None, instance_id: str, site: str, return_values: str) -> Doc | None:
    """One conditional claim; None when another caller won the task or it no longer matches."""
    condition = attr("status") == value("waiting")
    if match is not None:
        condition &= match
    actions = [*store.move_status("queued", task_id), attr("instance_id").set(value(instance_id)),
               attr("site").set(value(site))]
    try:
        answer = store.update(task_id, actions, condition, return_values=return_values)
    except UpdateError as error:
        if not db.is_condition_failure(error):
            raise
        observability.count("ClaimConflicts")
        return None
    return store.document(answer["Attributes"])
