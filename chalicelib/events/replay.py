"""Recovery of stream batches the counters function gave up on.

When ``count_tasks`` fails a batch past its retries (or the batch's records grow older than the
event source's maximum age), Lambda sends the batch's *metadata* to the failure queue, not its
records: the stream ARN, the shard, the first and last sequence numbers (``DDBStreamBatchInfo``).
The records themselves stay in the stream for 24 h from when they were written. Within that
time :func:`replay_failures` reads each reported range back from the stream and applies it with
the same exactly-once path as ``count_tasks`` (per-record markers, which live longer than the
stream), so records of the batch that had been counted before it failed are not counted twice.
A range already trimmed from the stream cannot be read: it is logged, and the daily
reconciliation (or ``ReconcileCounters`` invoked at once) recounts from the tasks table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import config
from chalicelib.services import counters

log = logging.getLogger("iceprod_tasks.replay")
#: Errors that mean the range can no longer be read (trimmed, or the stream is gone).
GONE = ("TrimmedDataAccessException", "ResourceNotFoundException")


@dataclass(frozen=True)
class BatchInfo:
    """One failed batch, as Lambda's on-failure destination reports it."""

    stream_arn: str
    shard_id: str
    start: str
    end: str

    @classmethod
    def from_message(cls, body: str) -> BatchInfo:
        info = json.loads(body)["DDBStreamBatchInfo"]
        return cls(info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"])


def _streams() -> Any:
    import boto3  # on first use: the stream function imports this module, boto3 costs 12 ms

    return boto3.client("dynamodbstreams", region_name=config.REGION, endpoint_url=config.STREAMS_ENDPOINT)


def read_range(batch: BatchInfo) -> list[dict[str, Any]]:
    """The stream records of ``batch``, first to last sequence number, in stream order."""
    streams = _streams()
    iterator = streams.get_shard_iterator(StreamArn=batch.stream_arn, ShardId=batch.shard_id,
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=batch.start)["ShardIterator"]
    end = int(batch.end)
    records: list[dict[str, Any]] = []
    empty_pages = 0
    while iterator and empty_pages < 100:  # a shard may answer empty pages before its records
        answer = streams.get_records(ShardIterator=iterator, Limit=1000)
        page = answer.get("Records", [])
        empty_pages = 0 if page else empty_pages + 1
        for record in page:
            if int(record["dynamodb"]["SequenceNumber"]) > end:
                return records
            records.append({**record, "eventSourceARN": batch.stream_arn})
        if records and int(records[-1]["dynamodb"]["SequenceNumber"]) == end:
            return records
        iterator = answer.get("NextShardIterator")
    return records


def replay_batch(batch: BatchInfo) -> int:
    """Apply one failed batch's records to the counters; how many were applied now (records
    counted before, by the batch's earlier attempts, are skipped by their markers)."""
    return counters.apply_stream_records(read_range(batch))


def replay_failures(queue_url: str | None = None, max_messages: int = 1000) -> dict[str, int]:
    """Replay every batch reported to the failure queue; a message is deleted once its batch
    is applied, or once its range is gone from the stream (then logged, for reconciliation).
    A batch that fails again stays in the queue and raises."""
    import boto3

    sqs = boto3.client("sqs", region_name=config.REGION)
    url = queue_url or config.STREAM_FAILURE_QUEUE_URL
    if not url:
        raise RuntimeError("STREAM_FAILURE_QUEUE_URL is not set")
    outcome = {"batches": 0, "applied": 0, "gone": 0}
    while outcome["batches"] + outcome["gone"] < max_messages:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       VisibilityTimeout=300).get("Messages", [])
        if not messages:
            break
        for message in messages:
            batch = BatchInfo.from_message(message["Body"])
            try:
                outcome["applied"] += replay_batch(batch)
                outcome["batches"] += 1
            except ClientError as error:
                if error.response["Error"]["Code"] not in GONE:
                    raise
                log.warning("stream records %s..%s of shard %s are no longer in the stream; the "
                            "counters need ReconcileCounters", batch.start, batch.end, batch.shard_id)
                outcome["gone"] += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    log.info("replayed %d failed batches (%d records applied), %d gone from the stream",
             outcome["batches"], outcome["applied"], outcome["gone"])
    return outcome
