"""Candidates from the status/priority index, highest priority first, across write shards.

The index is eventually consistent on AWS: what it returns is only a candidate list, and the
conditional write on the table decides. Each shard key (``"<status>#<s>"``) is read in pages
(``Limit`` small: a claim needs a handful of candidates, not a megabyte); the cursor keeps at
least one unread-or-pending page per live shard, so the best pending candidate is always the
best remaining candidate overall.

``Limit`` counts items read before the filter, so a filtered page may hold no match and still
have a ``LastEvaluatedKey``: the cursor pages on until a match or the end, within its budget
of items read (``scanned``) that the caller bounds.

``CandidateCache`` keeps what one process read for the next claims of the same offer, without
ever serving a candidate from a read older than the claim (see its docstring).
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path

from chalicelib import config, db
from chalicelib.errors import NotFound
from chalicelib.models import Task
from chalicelib.models.tasks import status_keys

Item = dict[str, Any]
#: A candidate as a claim needs it: (priority, task_id).
Candidate = tuple[Decimal, str]
#: "Every match was read" and "nothing is known", as priorities a candidate is compared with.
EVERYTHING, NOTHING = Decimal("-Infinity"), Decimal("Infinity")


class PriorityCursor:
    """Pending candidates of one status, merged over its shard keys by priority."""

    def __init__(self, status: str, page_size: int, filter_condition: Condition | None = None,
                 attributes: list[Any] | None = None, above: Decimal | None = None) -> None:
        self._page_size = page_size
        self._filter = filter_condition
        self._attributes = attributes
        # A range-key condition reads only the items above ``above``: checking the head of the
        # index above a known candidate costs the items above it (usually none), not a page.
        self._range = Path(["priority"]) > {"N": str(above)} if above is not None else None
        self._live: dict[str, Any] = dict.fromkeys(status_keys(status), None)  # shard key -> start key
        self._pending: dict[str, list[Item]] = {key: [] for key in self._live}
        self.scanned = 0
        self.requests = 0

    def _read_page(self, key: str) -> None:
        page = db.query(
            Task,
            key,
            index_name=Task.by_status.Meta.index_name,
            range_key_condition=self._range,
            scan_index_forward=False,
            limit=self._page_size,
            filter_condition=self._filter,
            exclusive_start_key=self._live[key],
            attributes_to_get=self._attributes,
        )
        self.requests += 1
        self.scanned += page.get("ScannedCount", 0)
        self._pending[key].extend(page.get("Items", []))
        if page.get("LastEvaluatedKey"):
            self._live[key] = page["LastEvaluatedKey"]
        else:
            del self._live[key]

    def _refill(self) -> None:
        """Read a page for every shard that has more to read and nothing pending."""
        for key in list(self._live):
            while not self._pending[key] and key in self._live:
                self._read_page(key)
                if not self._pending[key]:
                    return  # an empty filtered page: let the caller check its budget

    def read_all(self, max_scanned: int, deadline: float) -> bool:
        """Read every shard to its end (the range bound makes that short); False when the
        budget ran out first."""
        while self._live:
            if self.scanned >= max_scanned or time.monotonic() >= deadline:
                return False
            for key in list(self._live):
                self._read_page(key)
        return True

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

    def covered(self) -> Decimal:
        """Every match above this priority has been read (``EVERYTHING``: down to the bound).

        A live shard's ``LastEvaluatedKey`` holds the priority of the last item it read: what it
        has not read yet is at or below that. A shard not read at all covers nothing.
        """
        marks = [NOTHING if start is None else Decimal(start["priority"]["N"]) for start in self._live.values()]
        return max(marks, default=EVERYTHING)


@dataclass
class Refresh:
    """A read of the index a claimer must do, for itself and the claims waiting with it: every
    match above ``above`` (None: from the top, until a page holds a match), sent at ``sent``."""

    above: Decimal | None
    sent: float


@dataclass
class _Offer:
    """What this process knows of one offer's matches."""

    created: float
    candidates: list[Candidate] = field(default_factory=list)  # best first
    #: Handed to claims: None while the write is in flight, then when it settled (monotonic).
    taken: dict[str, float | None] = field(default_factory=dict)
    claiming: dict[str, Decimal] = field(default_factory=dict)  # handed out, write not settled yet
    read_at: float = float("-inf")  # when the last read was sent
    covered: Decimal = NOTHING  # as of read_at, every match above this is cached or taken
    gave_up: bool = False  # the last read stopped at its bounds
    reading: list[float] = field(default_factory=list)  # when the reads in flight were sent


class CandidateCache:
    """Candidates of recent reads, per offer (status and match condition), in this process.

    A candidate is handed to a claim only when a read of the index **sent after the claim
    began** covers it: that read saw every match above the candidate's priority, and each is
    cached or already handed out. So a claim never passes over a better match the index showed
    when it began (equal priorities may go either way: any top-priority task is right, and the
    random pick among them spreads concurrent pilots). ``CLAIM_STALENESS_SECONDS`` opts into
    reads sent that long before the claim began (bounded staleness, fewer reads).

    A claim waits for a read in flight only if that read was sent after it began (it will cover
    the claim); otherwise it sends the next read when none is in flight (``PARALLEL_READS``),
    and the claims arriving meanwhile share it. That read checks the index head only above the
    candidates the waiting claims will take: a Query bounded by the range key that reads the few
    items above them (usually none). So one read serves the claims of a round and most claims
    cost one conditional write, without ever trusting a read older than the claim.
    Left-overs are kept ``CLAIM_CACHE_SECONDS``; after that the next read starts from the top
    again (stale candidates cost failed writes, never a wrong answer: the write re-checks).
    """

    MAX_OFFERS = 256
    #: Reads in flight per offer. A second one would spare the claims that arrive during the
    #: first the wait for it (it cannot serve them), but measured in process it raised the
    #: requests per claim from 1.70 to 1.96 (K=4) and 1.39 to 1.81 (K=16) for no clear gain.
    PARALLEL_READS = 1

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._offers: OrderedDict[str, _Offer] = OrderedDict()
        self._waiting: dict[str, int] = {}

    def next(self, key: str, began: float, deadline: float) -> Candidate | Refresh:
        """The candidate a claim that began at ``began`` tries next, or the read it must do
        first (then ``refreshed`` or ``abandon``). ``NotFound`` when a read recent enough for
        this claim found nothing or stopped at its bounds."""
        with self._cond:
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                while True:
                    offer = self._offer(key)
                    settling = False
                    if offer.read_at >= began - config.CLAIM_STALENESS_SECONDS:
                        if offer.candidates and offer.candidates[0][0] >= offer.covered:
                            # A better candidate whose write is in flight may yet stay queued
                            # (that write can lose to a claim that begins later): wait for it.
                            if offer.candidates[0][0] >= max(offer.claiming.values(), default=EVERYTHING):
                                return self._pick(offer)
                            settling = True
                        elif offer.gave_up or (not offer.candidates and offer.covered == EVERYTHING):
                            raise NotFound("no task matches")
                    covering = settling or any(sent >= began for sent in offer.reading)
                    if not covering and len(offer.reading) < self.PARALLEL_READS:
                        read = Refresh(self._bound(key, offer), time.monotonic())
                        offer.reading.append(read.sent)
                        return read
                    if time.monotonic() >= deadline:
                        raise NotFound("no task matches")
                    self._cond.wait(deadline - time.monotonic())
            finally:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]

    def _offer(self, key: str) -> _Offer:
        offer = self._offers.get(key)
        if offer is None:
            offer = self._offers[key] = _Offer(time.monotonic())
            while len(self._offers) > self.MAX_OFFERS:
                self._offers.popitem(last=False)
        self._offers.move_to_end(key)
        return offer

    def _bound(self, key: str, offer: _Offer) -> Decimal | None:
        """Where the next read may stop: above the candidates the waiting claims will take
        (None: from the top, when nothing is cached or the left-overs are too old)."""
        if time.monotonic() - offer.created > config.CLAIM_CACHE_SECONDS:
            # Forget what the old reads covered too: it is no longer cached.
            offer.created, offer.candidates, offer.taken = time.monotonic(), [], {}
            offer.read_at, offer.covered, offer.gave_up = float("-inf"), NOTHING, False
        if not offer.candidates:
            return None
        return offer.candidates[min(self._waiting[key], len(offer.candidates)) - 1][0]

    def _pick(self, offer: _Offer) -> Candidate:
        top = offer.candidates[0][0]
        equal = next((i for i, c in enumerate(offer.candidates) if c[0] != top), len(offer.candidates))
        candidate = offer.candidates.pop(random.randrange(equal) if config.CLAIM_SPREAD else 0)
        offer.taken[candidate[1]] = None
        offer.claiming[candidate[1]] = candidate[0]
        return candidate

    def refreshed(self, key: str, read: Refresh, found: list[Candidate], covered: Decimal, gave_up: bool) -> None:
        """A read ended: the matches it ``found`` replace the cached ones above its bound, and
        it covers everything above ``covered`` (or its bound) as of when it was sent. A read
        overtaken by a later one only adds what it found: the later one knows better."""
        with self._cond:
            offer = self._offer(key)
            self._ended(offer, read)
            fresh = [c for c in found if not self._hidden(offer, c[1], read.sent)]
            self._forget_settled(offer, read.sent)
            if read.sent < offer.read_at:
                cached = {c[1] for c in offer.candidates}
                fresh = [c for c in fresh if c[1] not in cached]
                kept = offer.candidates
            else:
                kept = [c for c in offer.candidates if read.above is not None and c[0] <= read.above]
                offer.read_at = read.sent
                offer.covered = covered if read.above is None else max(covered, read.above)
                offer.gave_up = gave_up
            offer.candidates = sorted(fresh + kept, key=lambda c: c[0], reverse=True)
            self._cond.notify_all()

    def abandon(self, key: str, read: Refresh) -> None:
        """A read failed: another claimer may try."""
        with self._cond:
            self._ended(self._offer(key), read)
            self._cond.notify_all()

    @staticmethod
    def _ended(offer: _Offer, read: Refresh) -> None:
        if read.sent in offer.reading:
            offer.reading.remove(read.sent)

    @staticmethod
    def _hidden(offer: _Offer, task_id: str, sent: float) -> bool:
        """Whether a read sent at ``sent`` may show ``task_id`` in the state before its claim: the
        claim's write is in flight, or settled after the read was sent. A read sent after it
        settled is trusted: if it shows the task, the task was queued again (a reset, the
        janitor) and must be offered at once."""
        if task_id not in offer.taken:
            return False
        settled = offer.taken[task_id]
        return settled is None or sent < settled

    @staticmethod
    def _forget_settled(offer: _Offer, sent: float) -> None:
        """Drop the settled claims no read in flight (nor this one, sent at ``sent``) predates."""
        oldest = min([sent, *offer.reading])
        for task_id in [t for t, at in offer.taken.items() if at is not None and at < oldest]:
            del offer.taken[task_id]

    def settled(self, key: str, candidate: Candidate) -> None:
        """A claim's write on ``candidate`` succeeded or lost its condition: the task is no longer a
        candidate. Reads sent before this moment may still show it as it was and do not offer it;
        later ones do (:meth:`_hidden`). On AWS a GSI lags its table by a fraction of a second, so
        a read sent within that lag may still offer it: one refused conditional write each."""
        with self._cond:
            offer = self._offer(key)
            offer.claiming.pop(candidate[1], None)
            if candidate[1] in offer.taken:
                offer.taken[candidate[1]] = time.monotonic()
            self._cond.notify_all()

    def give_back(self, key: str, candidate: Candidate) -> None:
        """A claim's write failed for another reason than its condition: the task is still a
        candidate, and the best one for the next claim if it was the best for this one."""
        with self._cond:
            offer = self._offer(key)
            offer.claiming.pop(candidate[1], None)
            offer.taken.pop(candidate[1], None)
            offer.candidates = sorted([*offer.candidates, candidate], key=lambda c: c[0], reverse=True)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._offers.clear()
