"""Paging listings under the Lambda limits: opaque cursors, and answers that are whole or refused.

A listing reads one or more *sources* in order (a Scan, or Queries: one per status shard) and
returns up to ``limit`` items with a cursor for the rest. The cursor is the position after the
last item returned: which source, and DynamoDB's key to start after, base64url-encoded JSON. A
cursor from a client is checked field by field (key names and value types), so a forged one is a
400, never a malformed request to DynamoDB.

Without ``limit`` an answer is complete, or refused (``AnswerTooLarge``) once it cannot fit the
caller's ``max_bytes`` of JSON: never silently partial. The routes choose that budget (what a
Lambda may return depends on the client's encoding, which services do not see).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib import codec
from chalicelib.errors import AnswerTooLarge, Invalid

Item = dict[str, Any]
#: A source: (start key or None, max items or None) -> (items, last evaluated key or None).
Source = Callable[[dict[str, Any] | None, int | None], tuple[list[Item], dict[str, Any] | None]]
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class PageRequest:
    """What a listing may return: ``limit`` items (None: all) from ``cursor`` on, and at most
    ``max_bytes`` of JSON when it is complete."""

    limit: int | None
    cursor: str | None
    max_bytes: int


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


def collect(sources: list[Source], key_names: frozenset[str], request: PageRequest) -> Page:
    """Up to ``limit`` items (all without one) from ``sources``, starting at ``cursor``; without a
    limit, ``AnswerTooLarge`` as soon as the items read exceed ``max_bytes`` (their stored size
    is a lower bound of their JSON size)."""
    limit, cursor, max_bytes = request.limit, request.cursor, request.max_bytes
    index, start = decode_cursor(cursor, len(sources), key_names) if cursor else (0, None)
    items: list[Item] = []
    size = 0
    while index < len(sources):
        wanted = None if limit is None else limit - len(items)
        page, start = sources[index](start, wanted)
        items.extend(page)
        if limit is None:
            size += sum(codec.item_size(i) for i in page)
            if size > max_bytes:
                raise AnswerTooLarge()
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
