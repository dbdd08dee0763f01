"""Datasets' access records (IceProd 3): which groups and users may read and change a dataset.

IceProd 3 keeps one record per dataset (its ``attr_auths``): ``read_groups``, ``write_groups``,
``read_users``, ``write_users``, lists of strings. A ``user`` token may call a dataset's read routes
when one of its groups is in ``read_groups`` or its username in ``read_users``, and the routes that
change data against the ``write_`` lists (:func:`chalicelib.auth.authorize` decides). The records
live in the bookkeeping table under ``("access#<dataset_id>", "-")``
(:func:`chalicelib.models.bookkeeping.dataset_access`), set by ``PUT /datasets/{id}/access`` or
written by the importer in the same shape.

Every ``user`` call of a dataset route needs its dataset's record, so records (and their absence)
are kept per process for ``ACCESS_CACHE_SECONDS``: at most one GetItem per dataset and period,
and the process that sets a record sees it at once. Records are stored as read, unchecked: a
malformed one (as an import may bring) is refused at use, as IceProd refuses it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from chalicelib import codec, config, db
from chalicelib.models import Bookkeeping, bookkeeping

#: The four lists of a record, in the order they are shown.
FIELDS = ("read_groups", "write_groups", "read_users", "write_users")
#: IceProd 3's default ``auth_groups_read`` of a new dataset: every IceCube member reads it.
DEFAULT_READ_GROUPS = ("users",)

Record = dict[str, Any]

#: The clock of the cache (tests move it instead of sleeping).
_clock = time.monotonic


class _RecordCache:
    """Records by dataset id (None: the dataset has none), each kept ``ACCESS_CACHE_SECONDS``;
    the least recently used are dropped beyond ``size``."""

    def __init__(self, size: int = 10000) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._records: OrderedDict[str, tuple[Record | None, float]] = OrderedDict()

    def fresh(self, dataset_ids: Iterable[str]) -> dict[str, Record | None]:
        now = _clock()
        found = {}
        with self._lock:
            for dataset_id in dataset_ids:
                kept = self._records.get(dataset_id)
                if kept is not None and now - kept[1] < config.ACCESS_CACHE_SECONDS:
                    self._records.move_to_end(dataset_id)
                    found[dataset_id] = kept[0]
        return found

    def put(self, records: dict[str, Record | None]) -> None:
        now = _clock()
        with self._lock:
            for dataset_id, record in records.items():
                self._records[dataset_id] = (record, now)
                self._records.move_to_end(dataset_id)
            while len(self._records) > self._size:
                self._records.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


CACHE = _RecordCache()


def new_dataset_record(group: str, owner: str, auth_groups_read: Sequence[str] = DEFAULT_READ_GROUPS) -> Record:
    """The record IceProd 3's ``POST /datasets`` gives a new dataset of ``group`` and ``owner``."""
    return {
        "read_groups": _unique(["admin", group, *auth_groups_read]),
        "write_groups": ["admin"] if group == "users" else _unique(["admin", group]),
        "read_users": [owner],
        "write_users": [owner],
    }


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def put_record(dataset_id: str, record: Record) -> Record:
    """Store (replace) a dataset's record; this process uses it at once."""
    stored = {name: _unique(record.get(name, [])) for name in FIELDS}
    db.put_item(Bookkeeping, *bookkeeping.dataset_access(dataset_id), attributes=_attributes(stored))
    CACHE.put({dataset_id: stored})
    return stored


def record_item(dataset_id: str, record: Record) -> dict[str, Any]:
    """A record's whole item as it is stored, for batched writes (the MongoDB importer writes
    IceProd's ``attr_auths`` records through this, as they are)."""
    pk, sk = bookkeeping.dataset_access(dataset_id)
    return {"pk": {"S": pk}, "sk": {"S": sk}, **_attributes(record)}


def _attributes(record: Record) -> dict[str, Any]:
    """The lists the record has, unchecked; a list it lacks stays missing (IceProd answers "role
    not found" for a missing ``<right>_groups``)."""
    return {name: codec.encode(record[name]) for name in FIELDS if name in record}


def stored_record(dataset_id: str) -> Record | None:
    """A dataset's record as stored now (a consistent read, not the cache): what an admin sees."""
    item = db.get_item(Bookkeeping, *bookkeeping.dataset_access(dataset_id), consistent_read=True)
    return _record(item)


def record(dataset_id: str) -> Record | None:
    """A dataset's record for an access decision (cached), or None when it has none."""
    return records([dataset_id])[dataset_id]


def records(dataset_ids: Sequence[str]) -> dict[str, Record | None]:
    """The records of ``dataset_ids`` for access decisions: cached ones, the others read in one
    GetItem (one dataset) or BatchGetItem (more, 100 a request) and cached."""
    found = CACHE.fresh(dataset_ids)
    missing = [d for d in dict.fromkeys(dataset_ids) if d not in found]
    if not missing:
        return found
    if len(missing) == 1:
        items = [db.get_item(Bookkeeping, *bookkeeping.dataset_access(missing[0]))]
    else:
        items = db.batch_get(Bookkeeping, [bookkeeping.dataset_access(d) for d in missing])
    read: dict[str, Record | None] = dict.fromkeys(missing)
    by_key = {bookkeeping.dataset_access(d)[0]: d for d in missing}
    for item in items:
        if item is not None:
            read[by_key[item["pk"]["S"]]] = _record(item)
    CACHE.put(read)
    return {**found, **read}


def _record(item: dict[str, Any] | None) -> Record | None:
    """The record's lists as stored (whatever their types), or None for no item."""
    if item is None:
        return None
    doc = codec.decode_item(item)
    return {name: doc[name] for name in FIELDS if name in doc}
