"""Failed stream batches: the failure queue holds only their sequence range; the replay reads
the range back from the stream and applies it exactly once."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib import config
from chalicelib.events import handlers, replay
from chalicelib.services import counters


def _stream_records() -> tuple[str, str, list[dict[str, Any]]]:
    """(stream ARN, shard id, records) of the tasks stream now (one shard in a fresh table)."""
    from chalicelib.models import Task

    arn = Task.describe_table()["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name=config.REGION, endpoint_url=config.STREAMS_ENDPOINT)
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[dict[str, Any]] = []
    for _ in range(20):
        answer = streams.get_records(ShardIterator=iterator)
        records += answer["Records"]
        iterator = answer.get("NextShardIterator")
        if not answer["Records"] and records:
            break
    return arn, shard["ShardId"], records


def failure_message(arn: str, shard_id: str, records: list[dict[str, Any]]) -> str:
    """What Lambda's on-failure destination sends for a failed batch: metadata, no records."""
    return json.dumps({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "version": "1.0",
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "batchSize": len(records),
            "streamArn": arn,
        },
    })


@pytest.fixture
def queue(backend: str, tables: None) -> Any:
    """The failure queue (moto's SQS; with DynamoDB Local, moto serves SQS alone)."""
    from moto import mock_aws

    if backend == "moto":  # the tables fixture's mock_aws is active
        yield boto3.client("sqs", region_name=config.REGION).create_queue(QueueName="failures")["QueueUrl"]
        return
    # the test's credentials, not moto's: DynamoDB Local keeps one database per access key
    with mock_aws(config={"core": {"mock_credentials": False}}):
        yield boto3.client("sqs", region_name=config.REGION).create_queue(QueueName="failures")["QueueUrl"]


def test_a_failed_batch_is_replayed_from_the_stream_exactly_once(api, create, queue, drain, monkeypatch):
    for i in range(6):
        create(job_index=i)
    arn, shard_id, records = _stream_records()
    assert len(records) == 6
    sqs = boto3.client("sqs", region_name=config.REGION)
    # the batch of records 2..4 failed; record 2 had been counted by an earlier attempt
    counters.apply_stream_records(records[1:2])
    sqs.send_message(QueueUrl=queue, MessageBody=failure_message(arn, shard_id, records[1:4]))
    monkeypatch.setattr(config, "STREAM_FAILURE_QUEUE_URL", queue)
    assert handlers.replay_stream_failures({}, None) == {"batches": 1, "applied": 2, "gone": 0}
    assert counters.status_counts()["waiting"] == 3
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)  # done with
    # replayed again (a message delivered twice), nothing more is counted
    sqs.send_message(QueueUrl=queue, MessageBody=failure_message(arn, shard_id, records[1:4]))
    assert replay.replay_failures(queue) == {"batches": 1, "applied": 0, "gone": 0}
    assert counters.status_counts()["waiting"] == 3
    # the stream's own delivery of everything then counts each task once
    drain()
    assert counters.status_counts()["waiting"] == 6


def test_the_range_read_back_is_exactly_the_reported_batch(api, create, tables):
    for i in range(5):
        create(job_index=i)
    arn, shard_id, records = _stream_records()
    batch = replay.BatchInfo.from_message(failure_message(arn, shard_id, records[2:4]))
    got = replay.read_range(batch)
    assert [r["eventID"] for r in got] == [r["eventID"] for r in records[2:4]]


def test_a_batch_gone_from_the_stream_is_reported_and_dropped(api, create, queue, caplog, monkeypatch):
    """Past the stream's 24 h the range is trimmed (injected here: no engine trims on demand)."""
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    create()
    arn, shard_id, records = _stream_records()
    streams = replay._streams()

    def trimmed(request: Any, **_: Any) -> AWSResponse:
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
                           "message": "injected"})
        return AWSResponse(request.url, 400, {}, MockRawResponse(body))

    streams.meta.events.register_first("before-send", trimmed)
    monkeypatch.setattr(replay, "_streams", lambda: streams)
    sqs = boto3.client("sqs", region_name=config.REGION)
    sqs.send_message(QueueUrl=queue, MessageBody=failure_message(arn, shard_id, records))
    assert replay.replay_failures(queue) == {"batches": 0, "applied": 0, "gone": 1}
    assert "ReconcileCounters" in caplog.text
    assert "Messages" not in sqs.receive_message(QueueUrl=queue)
    assert counters.status_counts()["waiting"] == 0


def test_a_batch_that_fails_again_stays_in_the_queue(api, create, queue, monkeypatch):
    create()
    arn, shard_id, records = _stream_records()
    sqs = boto3.client("sqs", region_name=config.REGION)
    sqs.send_message(QueueUrl=queue, MessageBody=failure_message(arn, shard_id, records))

    def broken(events: list[dict[str, Any]]) -> int:
        raise RuntimeError("still failing")

    monkeypatch.setattr(counters, "apply_stream_records", broken)
    with pytest.raises(RuntimeError):
        replay.replay_failures(queue)
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
