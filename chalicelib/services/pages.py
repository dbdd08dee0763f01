"""Paging listings under the Lambda limits: opaque cursors, and answers that are whole or refused.

A listing reads one or more *sources* in order (a Scan, or Queries: one per status shard) and
returns up to ``limit`` items with a cursor for the rest. The cursor is the position after the
last item returned: which source, and DynamoDB's key to start after, base64url-encoded JSON. A
cursor from a client is checked field by field (key names and value types), so a forged one is a
400, never a malformed request to DynamoDB.

Without ``limit`` an answer is complete, or refused (400) once it cannot fit a Lambda response:
never silently partial. What "fits" depends on the client: an answer for one that accepts gzip
may gather more JSON (:func:`answer_budget`), because the 6 MB cap then applies to its
compressed form, which is checked again once compressed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from chalicelib import codec
from chalicelib.errors import Invalid

Item = dict[str, Any]
#: A source: (start key or None, max items or None) -> (items, last evaluated key or None).
Source = Callable[[dict[str, Any] | None, int | None], tuple[list[Item], dict[str, Any] | None]]
#: A synchronous Lambda answer is at most 6 MB; leave room for headers and the envelope.
MAX_ANSWER_BYTES = 5_500_000
#: The JSON bytes the current request's answer may hold (a request-scoped setting: it depends on
#: the client's Accept-Encoding, which the services below the routes do not see).
_budget: ContextVar[int] = ContextVar("answer_budget")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class AnswerTooLarge(Invalid):
    """The complete answer would not fit a Lambda response."""

    def __init__(self) -> None:
        super().__init__(
            "the answer exceeds the 6 MB a Lambda may return: page through it with ?limit=N "
            'and follow the Link: <...>; rel="next" header'
        )


@contextmanager
def answer_budget(json_bytes: int) -> Iterator[None]:
    """Let the answers made inside hold up to ``json_bytes`` of JSON."""
    token = _budget.set(json_bytes)
    try:
        yield
    finally:
        _budget.reset(token)


def check_size(json_bytes: int) -> None:
    """``AnswerTooLarge`` if an answer of ``json_bytes`` exceeds the current budget."""
    if json_bytes > _budget.get(MAX_ANSWER_BYTES):
        raise AnswerTooLarge()


@dataclass
class Page:
    items: list[Item]
    cursor: str | None


def encode_cursor(source: int, start: dict[str, Any]) -> str:
    raw = json.dumps({"s": source, "k": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sources: int, key_names: frozenset[str]) -> tuple[int, dict[str, Any] | None]:
    """(source index, start key) of a client's cursor, or ``Invalid``."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Invalid("malformed cursor") from None
    if not isinstance(data, dict) or set(data) != {"s", "k"}:
        raise Invalid("malformed cursor")
    source, start = data["s"], data["k"]
    if not isinstance(source, int) or isinstance(source, bool) or not 0 <= source < sources:
        raise Invalid("malformed cursor")
    if start is None:
        return source, None
    if not isinstance(start, dict) or not start or not set(start) <= key_names:
        raise Invalid("malformed cursor")
    for av in start.values():
        if not isinstance(av, dict) or len(av) != 1:
            raise Invalid("malformed cursor")
        (kind, val), = av.items()
        if not ((kind == "S" and isinstance(val, str) and 0 < len(val.encode()) <= 2048)
                or (kind == "N" and isinstance(val, str) and _NUMBER.match(val))):
            raise Invalid("malformed cursor")
    return source, start


def collect(sources: list[Source], key_names: frozenset[str], limit: int | None, cursor: str | None) -> Page:
    """Up to ``limit`` items (all without one) from ``sources``, starting at ``cursor``."""
    index, start = decode_cursor(cursor, len(sources), key_names) if cursor else (0, None)
    items: list[Item] = []
    size = 0
    while index < len(sources):
        wanted = None if limit is None else limit - len(items)
        page, start = sources[index](start, wanted)
        items.extend(page)
        if limit is None:
            size += sum(codec.item_size(i) for i in page)
            check_size(size)  # a lower bound of the JSON size: past the budget, it cannot fit
        if start is None:
            index, start = index + 1, None
        if limit is not None and len(items) >= limit:
            break
    more = index < len(sources)
    return Page(items, encode_cursor(index, start) if more and limit is not None else None)


def pages_of(read: Callable[..., dict[str, Any]], **kwargs: Any) -> Source:
    """A source over one Query or Scan call (``read(exclusive_start_key=, limit=, **kwargs)``, e.g.
    :func:`chalicelib.db.query` with ``model=`` and ``hash_key=``)."""

    def source(start: dict[str, Any] | None, limit: int | None) -> tuple[list[Item], dict[str, Any] | None]:
        page = read(exclusive_start_key=start, limit=limit, **kwargs)
        return page.get("Items", []), page.get("LastEvaluatedKey")

    return source
