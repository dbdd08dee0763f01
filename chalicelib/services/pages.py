"""Paging listings under the Lambda limits: bounded work per request, strict cursors, and answers
that are whole or refused.

A listing reads one or more *sources* in order (a Scan, or Queries: one per status shard). The
page size asked of DynamoDB is the service's (``LIST_PAGE_SIZE``), never the client's ``limit``:
``Limit`` counts items before a FilterExpression, so a client's ``limit=1`` would otherwise cost
one request per stored item.

With ``limit``, an answer holds up to ``limit`` items and a cursor for the rest; it may come back
short, even empty, with a cursor when the request's budget runs out (``LIST_MAX_READ`` items read,
``REQUEST_WORK_SECONDS``) or when its items approach half the answer budget. Without ``limit``
(IceProd's clients never page) the answer is whole, or refused (400) once it is sure not to fit
``max_bytes`` of JSON, or once reading it takes more than ``REQUEST_WORK_SECONDS``: never silently
partial. The routes choose ``max_bytes`` (what a Lambda may return depends on the client's
encoding, which services do not see).

The cursor is the position after the last item returned: which source, and the key to start
after, base64url-encoded JSON. A cursor from a client must have exactly the key attributes its
source pages by, with their types, the source's own hash key, and a range key inside the source's
key condition; anything else is a 400, never a malformed request to DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib import codec, config
from chalicelib.errors import AnswerTooLarge, Invalid

Item = dict[str, Any]
#: Stored size is a lower bound of JSON size: a page with a limit stops at this share of the budget.
PAGED_SHARE = 0.5


class ListingTooSlow(Invalid):
    """A whole listing that takes more than a request may (400: page it)."""

    def __init__(self) -> None:
        super().__init__("the listing needs more than one request's time: page through it with ?limit=N "
                         'and follow the Link: <...>; rel="next" header')


@dataclass(frozen=True)
class Source:
    """One Query or Scan of a listing, and the shape of the keys it pages by.

    ``read(exclusive_start_key=, limit=)`` answers a DynamoDB page; ``key`` names the attributes
    of its ``LastEvaluatedKey`` with their types; ``fixed`` the ones every item it reads shares
    (the Query's hash key); ``prefix`` a range key's ``begins_with`` condition.
    """

    read: Callable[..., dict[str, Any]]
    key: dict[str, str]
    fixed: dict[str, str] = field(default_factory=dict)
    prefix: dict[str, str] = field(default_factory=dict)

    def position(self, item: Item) -> dict[str, Any]:
        """The start key that resumes after ``item``."""
        return {name: item[name] for name in self.key}


def source_of(read: Callable[..., dict[str, Any]], key: dict[str, str], fixed: dict[str, str] | None = None,
              prefix: dict[str, str] | None = None, **kwargs: Any) -> Source:
    """A source over one Query or Scan call (e.g. :func:`chalicelib.db.query` with ``model=`` and
    ``hash_key=``); a projection (``attributes_to_get``) is widened to the key attributes, which
    the cursor needs."""
    projection = kwargs.get("attributes_to_get")
    if projection is not None:
        from pynamodb.expressions.operand import Path

        named = {tuple(p.path) for p in projection}
        kwargs["attributes_to_get"] = [*projection, *(Path([n]) for n in key if (n,) not in named)]

    def page(exclusive_start_key: dict[str, Any] | None = None, limit: int | None = None) -> dict[str, Any]:
        return read(exclusive_start_key=exclusive_start_key, limit=limit, **kwargs)

    return Source(page, key, fixed or {}, prefix or {})


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


def decode_cursor(cursor: str, sources: list[Source]) -> tuple[int, dict[str, Any]]:
    """(source index, start key) of a client's cursor, or ``Invalid``."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise Invalid("malformed cursor") from None
    if not isinstance(data, dict) or set(data) != {"s", "k"}:
        raise Invalid("malformed cursor")
    index, start = data["s"], data["k"]
    if not codec.is_int(index) or not 0 <= index < len(sources) or not _fits(sources[index], start):
        raise Invalid("malformed cursor")
    return index, start


def _fits(source: Source, start: Any) -> bool:
    """Whether ``start`` is a key this source could have issued."""
    if not isinstance(start, dict) or set(start) != set(source.key):
        return False
    for name, kind in source.key.items():
        av = start[name]
        if not isinstance(av, dict) or list(av) != [kind] or not isinstance(av[kind], str):
            return False
        text = av[kind]
        if kind == "S" and not (0 < len(text.encode("utf-8", "surrogatepass")) <= 2048 and _is_text(text)):
            return False
        if kind == "N" and not _is_dynamodb_number(text):
            return False
        if name in source.fixed and text != source.fixed[name]:
            return False
        if name in source.prefix and not text.startswith(source.prefix[name]):
            return False
    return True


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_dynamodb_number(text: str) -> bool:
    """A number DynamoDB accepts: finite, 38 significant digits, magnitude 1e-130 to 1e126."""
    if len(text) > 64:
        return False
    try:
        number = Decimal(text)
    except InvalidOperation:
        return False
    if not number.is_finite() or len(number.as_tuple().digits) > 38:
        return False
    return number == 0 or Decimal("1e-130") <= abs(number) < Decimal("1e126")


def collect(sources: list[Source], request: PageRequest) -> Page:
    """Up to ``limit`` items (all without one) from ``sources``, starting at ``cursor``, within the
    request's bounds (see the module docstring)."""
    index, start = decode_cursor(request.cursor, sources) if request.cursor else (0, None)
    reader = _Reader(request)
    while index < len(sources):
        start = reader.read(sources[index], start)
        if reader.stopped:
            break
        index, start = index + 1, None
    if reader.stopped and index < len(sources):
        return Page(reader.items, encode_cursor(index, start))
    return Page(reader.items, None)


class _Reader:
    """Reads pages of sources into one answer, and says when the request's bounds stop it."""

    def __init__(self, request: PageRequest) -> None:
        self.limit = request.limit
        self.max_bytes = request.max_bytes
        self.items: list[Item] = []
        self.size = 0
        self.scanned = 0
        self.stopped = False
        self.deadline = time.monotonic() + config.REQUEST_WORK_SECONDS

    def read(self, source: Source, start: dict[str, Any] | None) -> dict[str, Any] | None:
        """Read ``source`` from ``start`` until it ends (None) or the answer stops (its position)."""
        taken = None
        while True:
            if self._full():
                self.stopped = True
                return start
            page = source.read(exclusive_start_key=start, limit=config.LIST_PAGE_SIZE)
            self.scanned += page.get("ScannedCount", len(page.get("Items", [])))
            for item in page.get("Items", []):
                if not self._take(item):
                    self.stopped = True
                    return source.position(taken) if taken is not None else start
                taken = item
            start = page.get("LastEvaluatedKey")
            if start is None:
                return None
            if self._out_of_budget():
                self.stopped = True
                return start

    def _full(self) -> bool:
        return self.limit is not None and len(self.items) >= self.limit

    def _take(self, item: Item) -> bool:
        """Add ``item`` unless the answer is full; without a limit, refuse what cannot fit."""
        size = codec.item_size(item)
        if self.limit is None:
            self.size += size
            if self.size > self.max_bytes:
                raise AnswerTooLarge()
            self.items.append(item)
            return True
        if self._full() or (self.items and self.size + size > self.max_bytes * PAGED_SHARE):
            return False
        self.size += size
        self.items.append(item)
        return True

    def _out_of_budget(self) -> bool:
        """Whether to stop reading: a paged answer stops short, a whole one is refused."""
        over_time = time.monotonic() > self.deadline
        if self.limit is None:
            if over_time:
                raise ListingTooSlow()
            return False
        return over_time or self.scanned >= config.LIST_MAX_READ
