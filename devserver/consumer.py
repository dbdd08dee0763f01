"""A local stand-in for Lambda's DynamoDB stream event source (``make run``).

A background thread follows the tasks table's stream the way the Lambda service does:
DescribeStream (every shard, parents before children), GetShardIterator, GetRecords; it builds
Lambda-shaped events of at most 100 records and calls the same handler a deployment runs.
It polls every ``poll`` seconds when idle, so counts follow changes well within a second.

Where it stopped is saved per shard in the bookkeeping table
(:func:`chalicelib.models.bookkeeping.consumer_checkpoint`) after each batch, so a restart resumes
after the last batch it finished; a batch it applied but did not checkpoint is delivered again and
skipped by the handler's exactly-once markers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from chalicelib import config, db
from chalicelib.models import Bookkeeping, Task, bookkeeping

log = logging.getLogger("iceprod_tasks.consumer")
Handler = Callable[[dict[str, Any], Any], Any]
BATCH = 100


class StreamConsumer:
    """Follows the tasks stream and feeds ``handler`` Lambda-shaped events."""

    def __init__(self, handler: Handler, poll: float = 0.1) -> None:
        self._handler = handler
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stream-consumer", daemon=True)
        self._streams = boto3.client("dynamodbstreams", region_name=config.REGION,
                                     endpoint_url=config.STREAMS_ENDPOINT)
        self._iterators: dict[str, str | None] = {}  # shard id -> iterator (None: closed)
        self._arn: str | None = None
        self.records = 0

    def start(self) -> StreamConsumer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.poll_once()
            except Exception:
                log.exception("stream consumer error; retrying")
                self._arn = None
                busy = False
            if not busy:
                self._stop.wait(self._poll)

    def drain(self, max_rounds: int = 50) -> int:
        """Apply everything the stream holds now (tests, ``make reconcile``); records applied."""
        total = 0
        for _ in range(max_rounds):
            before = self.records
            self.poll_once()
            total += self.records - before
            if self.records == before:
                break
        return total

    def poll_once(self) -> bool:
        """One round over the open shards; True if any record was delivered."""
        arn = self._stream_arn()
        if arn is None:
            return False
        busy = False
        shards = self._shards(arn)
        known = {s["ShardId"] for s in shards}
        for shard in shards:
            shard_id = shard["ShardId"]
            if self._iterators.get(shard_id, "") is None:
                continue  # closed and fully read
            parent = shard.get("ParentShardId")
            if parent in known and self._iterators.get(parent, "") is not None:
                continue  # parents first: per-item order must hold across a split
            busy |= self._read_shard(arn, shard_id)
        return busy

    def _stream_arn(self) -> str | None:
        if self._arn is None:
            description = Task.describe_table()
            self._arn = description.get("LatestStreamArn")
            self._iterators.clear()
        return self._arn

    def _shards(self, arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start = None
        while True:
            kwargs = {"StreamArn": arn, **({"ExclusiveStartShardId": start} if start else {})}
            description = self._streams.describe_stream(**kwargs)["StreamDescription"]
            shards += description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                return shards

    def _iterator(self, arn: str, shard_id: str) -> str:
        saved = _load_checkpoint(arn, shard_id)
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        if saved:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=saved)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        try:
            return self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "TrimmedDataAccessException":
                raise
            kwargs.pop("SequenceNumber", None)
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            return self._streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def _read_shard(self, arn: str, shard_id: str) -> bool:
        iterator = self._iterators.get(shard_id) or self._iterator(arn, shard_id)
        try:
            answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                self._iterators.pop(shard_id, None)
                return False
            raise
        records = answer.get("Records", [])
        for i in range(0, len(records), BATCH):
            batch = [{**r, "eventSourceARN": arn} for r in records[i : i + BATCH]]
            self._handler({"Records": batch}, None)
            _save_checkpoint(arn, shard_id, batch[-1]["dynamodb"]["SequenceNumber"])
            self.records += len(batch)
        self._iterators[shard_id] = answer.get("NextShardIterator")
        return bool(records)


def _load_checkpoint(arn: str, shard_id: str) -> str | None:
    key = bookkeeping.consumer_checkpoint(arn, shard_id)
    item = db.get_item(Bookkeeping, *key, consistent_read=True)
    return item["sequence"]["S"] if item else None


def _save_checkpoint(arn: str, shard_id: str, sequence: str) -> None:
    key = bookkeeping.consumer_checkpoint(arn, shard_id)
    db.put_item(Bookkeeping, *key, attributes={"sequence": {"S": sequence}})
