"""Candidates from the status/priority index, highest priority first, across write shards.

The index is eventually consistent on AWS: what it returns is only a candidate list, and the
conditional write on the table decides. Each shard key (``"<status>#<s>"``) is read in pages
(``Limit`` small: a claim needs a handful of candidates, not a megabyte); the cursor keeps at
least one unread-or-pending page per live shard, so the best pending candidate is always the
best remaining candidate overall.

``Limit`` counts items read before the filter, so a filtered page may hold no match and still
have a ``LastEvaluatedKey``: the cursor pages on until a match or the end, within its budget
of items read (``scanned``) that the caller bounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib import db
from chalicelib.models import Task
from chalicelib.models.tasks import status_keys

Item = dict[str, Any]


class PriorityCursor:
    """Pending candidates of one status, merged over its shard keys by priority."""

    def __init__(self, status: str, page_size: int, filter_condition: Condition | None = None,
                 attributes: list[Any] | None = None) -> None:
        self._page_size = page_size
        self._filter = filter_condition
        self._attributes = attributes
        self._live: dict[str, Any] = dict.fromkeys(status_keys(status), None)  # shard key -> start key
        self._pending: dict[str, list[Item]] = {key: [] for key in self._live}
        self.scanned = 0
        self.requests = 0

    def _refill(self) -> None:
        """Read a page for every shard that has more to read and nothing pending."""
        for key in list(self._live):
            while not self._pending[key] and key in self._live:
                page = db.query(
                    Task,
                    key,
                    index_name=Task.by_status.Meta.index_name,
                    scan_index_forward=False,
                    limit=self._page_size,
                    filter_condition=self._filter,
                    exclusive_start_key=self._live[key],
                    attributes_to_get=self._attributes,
                )
                self.requests += 1
                self.scanned += page.get("ScannedCount", 0)
                self._pending[key] = page.get("Items", [])
                if page.get("LastEvaluatedKey"):
                    self._live[key] = page["LastEvaluatedKey"]
                else:
                    del self._live[key]
                if not self._pending[key]:
                    return  # an empty filtered page: let the caller check its budget

    def top(self) -> list[Item]:
        """The pending candidates of the highest priority (empty when none is left)."""
        self._refill()
        best: Decimal | None = None
        group: list[Item] = []
        for items in self._pending.values():
            for item in items:
                priority = Decimal(item["priority"]["N"])
                if best is None or priority > best:
                    best, group = priority, [item]
                elif priority == best:
                    group.append(item)
        return group

    def take(self, limit: int) -> list[Item]:
        """Up to ``limit`` candidates in priority order, removed from the pending set."""
        out: list[Item] = []
        while len(out) < limit:
            group = self.top()
            if not group:
                if self.exhausted:
                    break
                continue
            for item in group[: limit - len(out)]:
                self.discard(item)
                out.append(item)
        return out

    def pending(self) -> list[Item]:
        """Every candidate read and not yet taken (for reuse by later claims)."""
        return [item for items in self._pending.values() for item in items]

    def discard(self, item: Item) -> None:
        for items in self._pending.values():
            for i, pending in enumerate(items):
                if pending is item:
                    del items[i]
                    return

    @property
    def exhausted(self) -> bool:
        return not self._live and not any(self._pending.values())
