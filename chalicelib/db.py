"""The one adapter between the services and DynamoDB: PynamoDB's table connections, raw items.

Services call DynamoDB only through these functions (``db.<operation>(Model, ...)``), with
PynamoDB's conditions and update actions, so that every call translates throttling into one
``Unavailable``, every Query follows ``LastEvaluatedKey`` and every batch retries its
unprocessed keys. Items are raw attribute maps (see :func:`table` for why), converted to
documents by :mod:`chalicelib.codec`. Only this module and the tasks repository
(:mod:`chalicelib.services.store`) know that connections exist.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import TableConnection
from pynamodb.constants import ITEM
from pynamodb.exceptions import PynamoDBException, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib import config
from chalicelib.errors import Invalid, Unavailable

T = TypeVar("T")
R = TypeVar("R")
Item = dict[str, Any]

_THROTTLED = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
#: botocore's adaptive retry mode: exponential backoff with jitter, and a client-side rate
#: limiter that slows down under throttling; 6 attempts in all, then the caller answers 503.
RETRIES = {"mode": "adaptive", "total_max_attempts": 6}


class RetryingModel(Model):
    """The base of our models: their connections retry with :data:`RETRIES`.

    PynamoDB takes a retry configuration only from a global settings file, not from ``Meta``, so
    it is set on each model's connection before its client exists; PynamoDB's private
    ``_get_connection`` is the one place every connection of a model passes through (the
    model's own class methods, such as ``exists`` and ``create_table``, included).
    """

    @classmethod
    def _get_connection(cls) -> TableConnection:  # type: ignore[override]
        connection = super()._get_connection()
        connection.connection._retry_configuration = RETRIES
        return connection


def _cause(error: BaseException) -> BaseException:
    return error.cause if isinstance(error, PynamoDBException) and error.cause is not None else error


def error_code(error: BaseException) -> str | None:
    """The DynamoDB error code behind a PynamoDB or botocore exception."""
    cause = _cause(error)
    return cause.response.get("Error", {}).get("Code") if isinstance(cause, ClientError) else None


def _error_message(error: BaseException) -> str:
    cause = _cause(error)
    return cause.response.get("Error", {}).get("Message", "") if isinstance(cause, ClientError) else ""


def is_condition_failure(error: Exception) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Turn throttling (after botocore's retries) into 503 and size limits into 400."""
    try:
        yield
    except (PynamoDBException, ClientError, BotoCoreError) as error:
        code = error_code(error)
        if code in _THROTTLED or isinstance(_cause(error), BotoCoreError):
            raise Unavailable("the database is busy or unreachable, retry later") from error
        if code == "ValidationException" and "size" in _error_message(error).lower():
            raise Invalid("item too large for DynamoDB (400 KB)") from error
        raise


def pool() -> ThreadPoolExecutor:
    """One process-wide pool for parallel DynamoDB calls (bulk updates, queueing).

    Made on first use (a Lambda that never fans out never starts threads), under a lock: two
    requests of ``make run``'s threaded server may ask at once, and a second pool would double
    the connections the models' pools are sized for.
    """
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=config.DB_PARALLELISM, thread_name_prefix="db")
    return _POOL


def parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn`` over ``items`` on the pool, results in input order."""
    return list(pool().map(fn, items))


def table(model: type[Model]) -> TableConnection:
    """The model's table connection; the only call of PynamoDB's private ``_get_connection``.

    A PynamoDB ``Model`` drops the attributes it does not declare, and tasks carry arbitrary
    client keys, so items are read and written as raw attribute maps through the public
    ``TableConnection`` API. PynamoDB offers no public way to get the model's own connection,
    and it must be that one: it knows the table's key schema and carries our retry
    configuration (:class:`RetryingModel`).
    """
    return model._get_connection()


def get_item(model: type[Model], hash_key: str, range_key: str | None = None, *, consistent_read: bool = False,
             attributes: list[Any] | None = None) -> Item | None:
    """One raw item (projected to ``attributes`` when given), or None."""
    with translated():
        answer = table(model).get_item(hash_key, range_key, consistent_read=consistent_read,
                                       attributes_to_get=attributes)
    return answer.get("Item") or None


def put_item(model: type[Model], hash_key: str, range_key: str | None = None, *, attributes: Item,
             condition: Condition | None = None) -> None:
    """Write a whole raw item; raises PynamoDB's ``PutError`` when ``condition`` fails."""
    with translated():
        table(model).put_item(hash_key, range_key, attributes=attributes, condition=condition)


def update_item(model: type[Model], hash_key: str, range_key: str | None = None, *, actions: list[Action],
                condition: Condition | None = None, return_values: str = "NONE") -> Item:
    """One UpdateItem; raises PynamoDB's ``UpdateError`` when ``condition`` fails."""
    with translated():
        return table(model).update_item(hash_key, range_key, actions=actions, condition=condition,
                                        return_values=return_values)


def update_if(model: type[Model], hash_key: str, range_key: str | None = None, *, actions: list[Action],
              condition: Condition) -> bool:
    """:func:`update_item` for the many writes where a refused condition is an answer, not an
    error: whether the write happened (False: the item changed since it was read, someone else won)."""
    try:
        update_item(model, hash_key, range_key, actions=actions, condition=condition)
    except UpdateError as error:
        if is_condition_failure(error):
            return False
        raise
    return True


def delete_item(model: type[Model], hash_key: str, range_key: str | None = None) -> None:
    with translated():
        table(model).delete_item(hash_key, range_key)


def query(model: type[Model], hash_key: str, **kwargs: Any) -> Item:
    """One page of a Query (PynamoDB's ``TableConnection.query`` arguments), as DynamoDB answers it."""
    with translated():
        return table(model).query(hash_key, **kwargs)


def scan(model: type[Model], **kwargs: Any) -> Item:
    """One page of a Scan, as DynamoDB answers it."""
    with translated():
        return table(model).scan(**kwargs)


def query_pages(model: type[Model], hash_key: str, **kwargs: Any) -> Iterator[list[Item]]:
    """Raw item pages of a Query, following ``LastEvaluatedKey`` to the end."""
    start = kwargs.pop("exclusive_start_key", None)
    while True:
        page = query(model, hash_key, exclusive_start_key=start, **kwargs)
        yield page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def query_all(model: type[Model], hash_key: str, **kwargs: Any) -> Iterator[Item]:
    for page in query_pages(model, hash_key, **kwargs):
        yield from page


def scan_all(model: type[Model], **kwargs: Any) -> Iterator[Item]:
    start = None
    while True:
        page = scan(model, exclusive_start_key=start, **kwargs)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def _retried(send: Callable[[], list[Any]]) -> None:
    """Call ``send`` (which answers what is still unprocessed) until nothing is left, with backoff."""
    for attempt in range(8):
        if not send():
            return
        time.sleep(min(1.0, 0.05 * 2**attempt))
    raise Unavailable("the database is busy, retry later")


def batch_get(model: type[Model], keys: Sequence[str | tuple[str, str]],
              attributes: list[str] | None = None) -> list[Item]:
    """Items by key (a hash key, or (hash, range) on a table with both), 100 a request in
    parallel, unprocessed keys retried with backoff; missing items are left out."""
    conn = table(model)
    name = model.Meta.table_name
    key_names = (model._hash_keyname, model._range_keyname)
    projection = [Path([a]) for a in attributes] if attributes else None

    def key_map(key: str | tuple[str, str]) -> Item:
        parts = (key,) if isinstance(key, str) else key
        return {key_name: {"S": part} for key_name, part in zip(key_names, parts, strict=False)}

    def fetch(chunk: Sequence[str | tuple[str, str]]) -> list[Item]:
        items: list[Item] = []
        pending: list[Item] = [key_map(k) for k in chunk]

        def send() -> list[Item]:
            nonlocal pending
            with translated():
                answer = conn.batch_get_item(pending, attributes_to_get=projection)
            items.extend(answer.get("Responses", {}).get(name, []))
            pending = answer.get("UnprocessedKeys", {}).get(name, {}).get("Keys", [])
            return pending

        _retried(send)
        return items

    if len(keys) <= 100:  # at most one request: sent from this thread, not handed to the pool
        return fetch(keys) if keys else []
    chunks = [keys[i : i + 100] for i in range(0, len(keys), 100)]
    return [item for chunk_items in parallel(fetch, chunks) for item in chunk_items]


def batch_write(model: type[Model], puts: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
    """Put whole raw items and delete items by full key, 25 a request, unprocessed ones retried."""
    conn = table(model)
    name = model.Meta.table_name
    requests = [("put", item) for item in puts] + [("delete", key) for key in deletes]
    for i in range(0, len(requests), 25):
        pending = requests[i : i + 25]

        def send() -> list[tuple[str, Item]]:
            nonlocal pending
            with translated():
                answer = conn.batch_write_item(put_items=[r for kind, r in pending if kind == "put"],
                                               delete_items=[r for kind, r in pending if kind == "delete"])
            pending = [("put", r["PutRequest"]["Item"]) if "PutRequest" in r else ("delete", r["DeleteRequest"]["Key"])
                       for r in answer.get("UnprocessedItems", {}).get(name, [])]
            return pending

        _retried(send)


def put_request(model: type[Model], hash_key: str, range_key: str | None = None, *, attributes: Item,
                condition: Condition | None = None) -> Item:
    """A Put of a transaction, built as PynamoDB's own ``TransactWrite`` builds it."""
    return table(model).get_operation_kwargs(hash_key, range_key, key=ITEM, attributes=attributes,
                                             condition=condition)


def update_request(model: type[Model], hash_key: str, range_key: str | None = None, *,
                   actions: list[Action], condition: Condition | None = None) -> Item:
    """An Update of a transaction, built as PynamoDB's own ``TransactWrite`` builds it."""
    return table(model).get_operation_kwargs(hash_key, range_key, actions=actions, condition=condition)


def check_request(model: type[Model], hash_key: str, range_key: str | None = None, *,
                  condition: Condition) -> Item:
    """A ConditionCheck of a transaction: the transaction fails unless ``condition`` holds."""
    return table(model).get_operation_kwargs(hash_key, range_key, condition=condition)


def delete_request(model: type[Model], hash_key: str, range_key: str | None = None) -> Item:
    """A Delete of a transaction."""
    return table(model).get_operation_kwargs(hash_key, range_key)


def transact_write(model: type[Model], puts: Sequence[Item] = (), updates: Sequence[Item] = (),
                   checks: Sequence[Item] = (), deletes: Sequence[Item] = ()) -> None:
    """One TransactWriteItems: all or nothing.

    The items are sent in PynamoDB's order: checks, deletes, puts, then updates; so without
    checks and deletes the i-th cancellation reason of a failed transaction is the i-th put's.
    Raises PynamoDB's ``TransactWriteError``.
    """
    with translated():
        table(model).connection.transact_write_items(condition_check_items=list(checks), delete_items=list(deletes),
                                                     put_items=list(puts), update_items=list(updates))
