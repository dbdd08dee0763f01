"""Structured logs with the request id, and EMF metrics labelled by route template."""

import io
import json
import logging

from chalicelib.observability import JsonFormatter


def emf_records(text):
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def test_every_request_emits_one_emf_record_by_route_template(api, create, capsys):
    task_id = create()
    capsys.readouterr()
    api.get(f"/tasks/{task_id}")
    (record,) = emf_records(capsys.readouterr().out)
    assert record["Route"] == "/tasks/{task_id}" and task_id not in json.dumps(record)
    assert record["Method"] == "GET" and record["Requests"] == 1 and record["Status2xx"] == 1
    assert record["Latency"] >= 0
    definition = record["_aws"]["CloudWatchMetrics"][0]
    assert definition["Dimensions"] == [["Route", "Method"]]
    assert {"Name": "Latency", "Unit": "Milliseconds"} in definition["Metrics"]


def test_claims_conflicts_queue_moves_and_failure_classes_are_counted(api, create, capsys):
    a = create(status="queued")
    create(job_index=1)
    capsys.readouterr()
    api.post("/task_actions/process", {})
    api.post("/task_actions/queue", {"num_tasks": 5})
    api.post(f"/tasks/{a}/task_actions/reset", {"reason": "Resource overuse for memory: 9GB"})
    records = emf_records(capsys.readouterr().out)
    assert records[0]["Claims"] == 1 and records[0]["Route"] == "/task_actions/process"
    assert records[1]["QueueMoves"] == 1
    assert records[2]["Reset_memory_overuse"] == 1


def test_errors_are_counted_by_status_class(api, capsys):
    capsys.readouterr()
    api.get("/tasks/" + "0" * 32)
    (record,) = emf_records(capsys.readouterr().out)
    assert record["Status4xx"] == 1


def test_log_lines_are_json_with_the_request_id_and_route(api, create):
    task_id = create(status="processing")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("iceprod_tasks")
    logger.addHandler(handler)
    try:
        response = api.post(f"/tasks/{task_id}/task_actions/failed", {"reason": "killed"},
                            headers={"X-Request-Id": "req-123"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-Id"] == "req-123"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    line = next(entry for entry in lines if "killed" in entry["message"])
    assert line["request_id"] == "req-123" and line["route"] == "/tasks/{task_id}/task_actions/failed"
    assert line["level"] == "INFO" and line["time"].endswith("Z")


def test_each_answer_carries_a_request_id(api):
    first = api.get("/task_counts/status").headers["X-Request-Id"]
    second = api.get("/task_counts/status").headers["X-Request-Id"]
    assert first and second and first != second
