"""Which IceProd protocol the tables hold, and the refusal to serve them under the other one.

One deployment serves one protocol on the same tables, and the two protocols read the same
statuses differently (IceProd 2's ``waiting`` is IceProd 3's ``idle``; ``reset`` does not exist
in IceProd 3). A service of the wrong protocol would quietly corrupt the tasks, so the tables
carry a marker, ``("protocol", "-")`` in the bookkeeping table, with the ``version`` that wrote
them:

* the first service to run on tables without a marker writes its own, with the condition that
  none exists, so two services of different protocols never both claim the tables;
* tables that hold tasks but no marker are IceProd 2's (every deployment before the marker
  existed served IceProd 2): a protocol 2 service claims them, a protocol 3 service refuses
  and asks for the conversion;
* a service whose protocol differs from the marker's, or that finds a conversion under way
  (``converting``), refuses.

``make run`` refuses to start. A Lambda cannot refuse to be imported without failing every cold
start on a DynamoDB call, so the API checks on its first request and answers every request 503
while it refuses; the scheduled functions that change tasks log and do nothing. An acceptance
is kept for the life of the process; a refusal only :data:`REFUSAL_SECONDS`, so containers
start serving soon after a conversion ends.
"""

from __future__ import annotations

import logging
import threading
import time

from pynamodb.exceptions import PutError

from chalicelib import db, protocol
from chalicelib.errors import DomainError, Unavailable
from chalicelib.models import Bookkeeping, Task, bookkeeping

log = logging.getLogger("iceprod_tasks.protocol")
#: Seconds a refusal is kept before the marker is read again.
REFUSAL_SECONDS = 10.0
VERSION = "version"
#: Set on the marker while a conversion runs: the protocol the tables are converted to.
CONVERTING = "converting"

_lock = threading.Lock()
_accepted = False
_refusal: tuple[float, Unavailable] | None = None


def marker() -> tuple[str | None, str | None]:
    """The tables' protocol and the conversion under way, if any ((None, None): no marker)."""
    item = db.get_item(Bookkeeping, *bookkeeping.PROTOCOL_MARKER, consistent_read=True)
    if item is None:
        return None, None
    return item[VERSION]["S"], item.get(CONVERTING, {}).get("S")


def claim(version: str) -> bool:
    """Write the marker unless one exists; whether this call wrote it."""
    try:
        db.put_item(Bookkeeping, *bookkeeping.PROTOCOL_MARKER, attributes={VERSION: {"S": version}},
                    condition=Bookkeeping.pk.does_not_exist())
    except PutError as error:
        if db.is_condition_failure(error):
            return False
        raise
    return True


def has_tasks() -> bool:
    """Whether the tasks table holds any task (one Scan of one item)."""
    page = db.scan(Task, limit=1, attributes_to_get=["task_id"])
    return bool(page.get("Items") or page.get("LastEvaluatedKey"))


def _mismatch(serving: str, version: str | None, converting: str | None) -> str | None:
    if converting is not None:
        return (f"this deployment serves IceProd {serving}'s protocol and its tables are being converted "
                f"from IceProd {version} to IceProd {converting} (make convert-protocol): retry when it is done")
    if version == serving:
        return None
    if serving == "3":
        return (f"this deployment serves IceProd 3's protocol but its tables hold IceProd {version} data: "
                "convert them first (see the README, make convert-protocol)")
    return (f"this deployment serves IceProd {serving}'s protocol but its tables hold IceProd {version} data: "
            f"serve them with ICEPROD_API_VERSION={version} (there is no conversion back)")


def decide(serving: str) -> str | None:
    """Why a service of protocol ``serving`` must not use these tables (None: it may), claiming
    tables without a marker as described in the module docstring."""
    version, converting = marker()
    if version is None:
        if serving == "3" and has_tasks():
            return _mismatch(serving, "2", None)
        if claim(serving):
            log.info("claimed the tables for IceProd %s's protocol", serving)
            return None
        version, converting = marker()  # another service claimed them meanwhile
    return _mismatch(serving, version, converting)


def refusal() -> Unavailable | None:
    """This process's answer, checked once (an acceptance is kept, a refusal briefly).

    Never raises a domain error: a database that cannot be read is a refusal of its own, not
    kept, so the next request tries again.
    """
    global _accepted, _refusal
    if _accepted:
        return None
    with _lock:
        if _accepted:
            return None
        if _refusal is not None and time.monotonic() < _refusal[0]:
            return _refusal[1]
        try:
            reason = decide(protocol.CURRENT.version)
        except DomainError as error:
            return Unavailable(str(error))
        if reason is None:
            _accepted, _refusal = True, None
            return None
        log.error("refusing to serve: %s", reason)
        _refusal = (time.monotonic() + REFUSAL_SECONDS, Unavailable(reason))
        return _refusal[1]


def forget() -> None:
    """Check again on the next call (tests: every test has fresh tables)."""
    global _accepted, _refusal
    with _lock:
        _accepted, _refusal = False, None
