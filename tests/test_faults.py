"""DynamoDB faults injected at botocore's send step: retried with backoff, then 503."""

import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import db
from chalicelib.models import Task


@pytest.fixture
def faults(api, monkeypatch):
    """Queue faults for the next DynamoDB calls of the tasks table's client (backoff and the
    adaptive rate limiter's waits are zeroed: tests never time things)."""
    import botocore.retries.bucket
    import botocore.retries.standard

    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)
    monkeypatch.setattr(botocore.retries.bucket.TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    client = db.table(Task).connection.client
    queue: list[str] = []
    seen: list[str] = []

    def inject(request, **_):
        if not queue:
            return None
        fault = queue.pop(0)
        seen.append(fault)
        if fault == "timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        status = 500 if fault == "InternalServerError" else 400
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{fault}", "message": "injected"})
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": fault}, MockRawResponse(body))

    client.meta.events.register_first("before-send.dynamodb", inject)
    yield queue, seen
    client.meta.events.unregister("before-send.dynamodb", inject)
    Task._connection = None  # a fresh client: this one's adaptive rate limiter remembers the throttling


def test_a_throttled_call_is_retried_and_succeeds(api, create, faults):
    task_id = create()
    queue, seen = faults
    queue += ["ThrottlingException", "ProvisionedThroughputExceededException"]
    response = api.get(f"/tasks/{task_id}")
    assert response.status_code == 200 and response.data["task_id"] == task_id
    assert seen == ["ThrottlingException", "ProvisionedThroughputExceededException"]


@pytest.mark.parametrize("fault", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                   "RequestLimitExceeded", "InternalServerError", "timeout"])
def test_persistent_faults_answer_503_with_retry_after(api, create, faults, fault):
    task_id = create()
    queue, seen = faults
    queue += [fault] * 20
    response = api.get(f"/tasks/{task_id}")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert set(response.data) == {"code", "error"} and response.data["code"] == 503
    assert len(seen) == 6  # botocore's adaptive mode: 6 attempts, then give up


def test_faults_during_a_claim_leave_the_task_queued(api, create, faults):
    task_id = create(status="queued")
    queue, _ = faults
    queue += ["ThrottlingException"] * 20
    assert api.post("/task_actions/process", {}).status_code == 503
    queue.clear()
    assert api.get(f"/tasks/{task_id}").data["status"] == "queued"
    assert api.post("/task_actions/process", {}).data["task_id"] == task_id


def test_bodies_over_the_lambda_event_limit_are_413(api):
    response = api.post("/tasks", raw=b'{"x": "' + b"a" * 4_500_000 + b'"}')
    assert response.status_code == 413 and response.data["code"] == 413


def test_a_body_at_the_limit_fits_a_lambda_event_base64_encoded(api):
    """What the app accepts, API Gateway can deliver: the event stays under Lambda's 6 MB."""
    from chalicelib.schema import MAX_BODY_BYTES

    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    event = api.gateway._generate_lambda_event("POST", "/tasks", headers, b"a" * MAX_BODY_BYTES)
    assert len(json.dumps(event)) < 6_291_456


def test_a_100000_id_bulk_request_passes_the_size_limit(api):
    ids = ["A" * 32] * 100_000  # ~3.5 MB; ids the service never issues, so none matches
    body = json.dumps({"tasks": ids}).encode()
    assert len(body) > 3_000_000
    response = api.post("/task_actions/bulk_status/idle", raw=body)
    assert response.status_code == 404
