"""Offers against task requirements, as conditions DynamoDB evaluates (both protocols' claims).

A claim's match is one condition: the index Query filters candidates with it and the claim's
conditional write checks it again on the table, so a task changed since the read never goes to
an offer it does not fit. IceProd 2 and 3 share the rules but one: IceProd 2 reads a ``null``
requirement as absent (it fits every offer), IceProd 3 does not (it fits no offer of that key).
"""

from __future__ import annotations

from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import codec
from chalicelib.errors import NotFound
from chalicelib.services.store import attr, value


def listed_or_equal(path: Any, val: Any) -> Condition:
    """The attribute is ``val``, or a list that holds it (``os: ["RHEL_7", "RHEL_8"]``)."""
    return (path == value(val)) | (path.is_type("L") & path.contains(value(val)))


def requirement_matches(key: str, offered: Any, *, null_is_absent: bool, nothing: str) -> Condition:
    """The condition that a task's requirement ``key`` fits the offered value. A GPU offer takes
    tasks needing 1 to ``offered`` GPUs (``NotFound(nothing)`` when no count can fit); another
    number takes tasks needing at most it; a string takes tasks needing it (or one of a list)."""
    path = attr("requirements", key)
    absent = path.does_not_exist() | path.is_type("NULL") if null_is_absent else path.does_not_exist()
    if key == "gpu" and codec.is_number(offered) and offered > 0:
        if offered < 1:
            raise NotFound(nothing)  # 1 <= gpu <= offer cannot hold
        return path.is_type("N") & path.between(value(1), value(offered))
    if codec.is_number(offered):
        # The type test first: a stored string never fits a number (and moto would crash on it).
        return absent | (path.is_type("N") & (path <= value(offered)))
    return absent | listed_or_equal(path, offered)


def all_of(clauses: list[Condition]) -> Condition | None:
    """The clauses joined by AND (None when there is nothing to check)."""
    condition = None
    for clause in clauses:
        condition = clause if condition is None else condition & clause
    return condition
