"""Ids the service issues: 32 lowercase hex digits that sort in the order they were made.

IceProd's ids are time-based (UUID1) and IceProd relies on creation order where it lists
without a sort ("natural order"). These ids put the time first (milliseconds since the epoch,
then a per-process counter for ids made in the same millisecond) and randomness last, so
sorting by id gives creation order, and the last digits, which pick a task's status-index
shard, stay uniformly spread.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last = (0, 0)


def new_id() -> str:
    """A new id: 12 hex digits of milliseconds, 4 of a counter, 16 random."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        counter = _last[1] + 1 if millis <= _last[0] else 0
        millis = max(millis, _last[0])
        if counter > 0xFFFF:  # more than 65,536 ids in one millisecond: borrow the next one
            millis, counter = millis + 1, 0
        _last = (millis, counter)
    return f"{millis:012x}{counter:04x}{os.urandom(8).hex()}"
