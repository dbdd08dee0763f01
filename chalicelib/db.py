"""Thin helpers over PynamoDB's table connections: paging, batching, parallelism, errors.

Services call DynamoDB through these so that every Query follows ``LastEvaluatedKey``, every
batch retries its unprocessed keys, and every throttling error becomes one ``Unavailable``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PynamoDBException
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
    """One process-wide pool for parallel DynamoDB calls (bulk updates, queueing)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=config.DB_PARALLELISM, thread_name_prefix="db")
    return _POOL


def parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``fn`` over ``items`` on the pool, results in input order."""
    return list(pool().map(fn, items))


def query_pages(model: type[Model], hash_key: str, **kwargs: Any) -> Iterator[list[Item]]:
    """Raw item pages of a Query, following ``LastEvaluatedKey`` to the end."""
    conn = model._get_connection()
    start = kwargs.pop("exclusive_start_key", None)
    while True:
        with translated():
            page = conn.query(hash_key, exclusive_start_key=start, **kwargs)
        yield page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def query_all(model: type[Model], hash_key: str, **kwargs: Any) -> Iterator[Item]:
    for page in query_pages(model, hash_key, **kwargs):
        yield from page


def scan_all(model: type[Model], **kwargs: Any) -> Iterator[Item]:
    conn = model._get_connection()
    start = None
    while True:
        with translated():
            page = conn.scan(exclusive_start_key=start, **kwargs)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def batch_get(model: type[Model], hash_keys: list[str], attributes: list[str] | None = None) -> list[Item]:
    """Items by hash key, 100 a request, unprocessed keys retried with backoff."""
    conn = model._get_connection()
    table = model.Meta.table_name
    key_name = model._hash_keyname
    chunks = [hash_keys[i : i + 100] for i in range(0, len(hash_keys), 100)]

    def fetch(chunk: list[str]) -> list[Item]:
        items: list[Item] = []
        pending: list[Item] = [{key_name: {"S": k}} for k in chunk]
        for attempt in range(8):
            request: dict[str, Any] = {"Keys": pending}
            if attributes:
                names = {f"#a{i}": a for i, a in enumerate(attributes)}
                request["ProjectionExpression"] = ", ".join(names)
                request["ExpressionAttributeNames"] = names
            with translated():
                answer = conn.connection.dispatch("BatchGetItem", {"RequestItems": {table: request}})
            items.extend(answer.get("Responses", {}).get(table, []))
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            if not pending:
                return items
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise Unavailable("the database is busy, retry later")

    return [item for chunk_items in parallel(fetch, chunks) for item in chunk_items]


def batch_delete(model: type[Model], keys: list[Item]) -> None:
    """Delete items by full key, 25 a request, unprocessed ones retried."""
    conn = model._get_connection()
    table = model.Meta.table_name
    for i in range(0, len(keys), 25):
        pending = [{"DeleteRequest": {"Key": key}} for key in keys[i : i + 25]]
        for attempt in range(8):
            with translated():
                answer = conn.connection.dispatch("BatchWriteItem", {"RequestItems": {table: pending}})
            pending = answer.get("UnprocessedItems", {}).get(table, [])
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise Unavailable("the database is busy, retry later")
