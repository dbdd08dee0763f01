"""The API role grants exactly what the API calls: every DynamoDB request a tour of every route
makes is allowed by the template's ``ApiRole``, and every action it grants is used.

Requests are recorded at botocore (below PynamoDB), with the table, index and partition keys
IAM evaluates; the role is read from ``template.yaml`` and matched the way IAM matches it
(actions, resource ARN patterns, ``ForAllValues:StringLike`` on ``dynamodb:LeadingKeys``).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import botocore.client
import pytest

from chalicelib import config

ROOT = Path(__file__).resolve().parent.parent
FILE = {"filename": "gsiftp://data/x.i3", "movement": "input"}
#: Tables only protocol 3's routes use: tests/protocol3/test_permissions.py checks their grants.
PROTOCOL3_TABLES = frozenset({"TaskStatsTable"})


def _role_statements(role: str) -> list[dict[str, Any]]:
    from chalice.package import YAMLTemplateSerializer

    template = YAMLTemplateSerializer().load_template((ROOT / "template.yaml").read_text())
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _resource_pattern(resource: Any) -> str:
    """``TasksTable`` for ``!GetAtt TasksTable.Arn``, ``TasksTable/index/*`` for the ``!Sub``."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        return resource["Fn::GetAtt"][0]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        return resource["Fn::Sub"].replace("${", "").replace(".Arn}", "")
    return str(resource)


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def tables_of(statement: dict[str, Any]) -> set[str]:
    """The logical ids of the tables a statement grants on."""
    return {_resource_pattern(r).split("/")[0] for r in _listify(statement["Resource"])}


class Recorder:
    """DynamoDB requests as IAM sees them: (action, resource, partition keys)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, frozenset[str]]] = []
        self._tables = {config.TASKS_TABLE: ("TasksTable", "task_id"), config.FILES_TABLE: ("FilesTable", "dataset_id"),
                        config.COUNTERS_TABLE: ("CountersTable", "pk"),
                        config.TASK_STATS_TABLE: ("TaskStatsTable", "dataset_id")}

    def record(self, client: Any, operation: str, params: dict[str, Any]) -> None:
        if client.meta.service_model.service_name != "dynamodb" or operation in ("DescribeTable",):
            return
        if "RequestItems" in params:  # BatchGetItem, BatchWriteItem
            for table, request in params["RequestItems"].items():
                items = request["Keys"] if isinstance(request, dict) else [
                    r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"] for r in request]
                self._add(operation, table, None, items)
            return
        item = params.get("Item") or params.get("Key")
        self._add(operation, params["TableName"], params.get("IndexName"), [item] if item else [])

    def _add(self, operation: str, table: str, index: str | None, items: list[dict[str, Any]]) -> None:
        logical, hash_key = self._tables[table]
        resource = f"{logical}/index/{index}" if index else logical
        keys = frozenset(next(iter(i[hash_key].values())) for i in items)
        self.calls.append((f"dynamodb:{operation}", resource, keys))


def _allows(statement: dict[str, Any], action: str, resource: str, keys: frozenset[str]) -> bool:
    if statement["Effect"] != "Allow" or action not in _listify(statement["Action"]):
        return False
    if not any(fnmatch.fnmatchcase(resource, _resource_pattern(r)) for r in _listify(statement["Resource"])):
        return False
    condition = statement.get("Condition")
    if condition is None:
        return True
    assert list(condition) == ["ForAllValues:StringLike"], condition  # the one form used
    patterns = _listify(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])
    return all(any(fnmatch.fnmatchcase(k, p) for p in patterns) for k in keys)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        recorder.record(client, operation, params)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return recorder


@pytest.fixture
def listed_d1(api: Any) -> None:
    """d1 in the dataset index, as the stream function (not the API) writes it."""
    from chalicelib.services import counters

    counters.apply_stream_records([{"eventID": "e-d1", "dynamodb": {"NewImage": {
        "status": {"S": "waiting"}, "dataset_id": {"S": "d1"}, "name": {"S": "x"}}}}])


def api_statements() -> list[dict[str, Any]]:
    """The ApiRole's DynamoDB statements."""
    return [s for s in _role_statements("ApiRole") if all(a.startswith("dynamodb:") for a in _listify(s["Action"]))]


def denied_requests(statements: list[dict[str, Any]], recorded: Recorder) -> set[tuple[str, str, frozenset[str]]]:
    """The recorded requests that no statement allows."""
    return {(action, resource, keys) for action, resource, keys in recorded.calls
            if not any(_allows(s, action, resource, keys) for s in statements)}


def unused_grants(statements: list[dict[str, Any]], recorded: Recorder) -> list[tuple[str, Any]]:
    """The actions of ``statements`` that no recorded request needed."""
    return [(action, s["Resource"]) for s in statements for action in _listify(s["Action"])
            if not any(a == action and _allows(s, a, r, k) for a, r, k in recorded.calls)]


def _tour(api: Any, create: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route, each answering success."""
    a, b, c = (create(job_index=i) for i in range(3))
    sim = create(name="sim", job_index=9)
    ok = [
        api.get("/tasks"), api.get("/tasks?status=waiting"), api.get(f"/tasks/{a}"),
        api.patch(f"/tasks/{a}", {"x": 1}), api.put(f"/tasks/{a}/status", {"status": "idle"}),
        api.get("/task_counts/status"), api.get("/datasets/d1/task_counts/status"),
        api.get("/datasets/d1/task_counts/name_status"), api.get("/datasets/d1/tasks"),
        api.get(f"/datasets/d1/tasks/{a}"), api.put(f"/datasets/d1/tasks/{a}/status", {"status": "waiting"}),
        api.get("/datasets/d1/task_summaries/status"), api.get("/datasets/d1/task_stats"),
        api.post("/task_actions/queue", {"num_tasks": 3}), api.post("/task_actions/process", {}),
        api.post(f"/tasks/{b}/task_actions/reset", {}), api.post("/task_actions/process", {}),
        api.post("/task_actions/bulk_status/waiting", {"tasks": [a]}),
        api.post("/datasets/d1/task_actions/bulk_status/waiting", {"tasks": [b]}),
        api.patch("/datasets/d1/task_actions/bulk_requirements/sim", {"cpu": 2}),
        api.post("/datasets/d1/files", {**FILE, "job_index": 9, "task_name": "sim"}),
        api.post(f"/datasets/d1/files/{sim}", FILE), api.get("/datasets/d1/files"),
        api.put("/datasets/d1/janitor_settings", {"debug": False}), api.get("/datasets/d1/janitor_settings"),
        api.get("/datasets/d1/task_counts/failure_reasons"),
        api.get(f"/datasets/d1/files/{sim}"), api.delete(f"/datasets/d1/files/{sim}"), api.get("/datasets"),
    ]
    ok.append(api.post("/task_actions/queue", {"num_tasks": 10}))
    for action, body in (("complete", {}), ("failed", {"reason": "killed"})):
        claimed = api.post("/task_actions/process", {})
        ok += [claimed, api.post(f"/tasks/{claimed.data['task_id']}/task_actions/{action}", body)]
    monkeypatch.setattr(config, "REQUEST_WORK_SECONDS", 0.0)  # the rest becomes a job
    job = api.post("/task_actions/bulk_status/suspended", {"tasks": [a, b]}).data["job"]
    dataset_job = api.post("/datasets/d1/task_actions/bulk_status/idle", {"tasks": [c]}).data["job"]
    ok += [api.get(f"/task_actions/jobs/{job}"), api.get(f"/datasets/d1/task_actions/jobs/{dataset_job}")]
    failed = [(r.status_code, r.data) for r in ok if r.status_code >= 300]
    assert not failed


def test_the_api_role_allows_every_request_the_api_makes_and_nothing_unused(api, create, listed_d1, recorded,
                                                                          monkeypatch):
    _tour(api, create, monkeypatch)
    statements = api_statements()
    assert not denied_requests(statements, recorded)
    assert not unused_grants([s for s in statements if not tables_of(s) <= PROTOCOL3_TABLES], recorded)


def test_the_api_role_cannot_write_counts():
    """Counters writes are scoped to bulk-job items: the counts are the stream's alone."""
    statements = _role_statements("ApiRole")
    for key in ("all", "ds#d1", "applied#x"):
        assert not any(_allows(s, "dynamodb:PutItem", "CountersTable", frozenset([key])) for s in statements)
        assert not any(_allows(s, "dynamodb:UpdateItem", "CountersTable", frozenset([key])) for s in statements)
    assert any(_allows(s, "dynamodb:PutItem", "CountersTable", frozenset(["job#1"])) for s in statements)


def test_the_janitor_role_allows_what_a_run_does_and_nothing_unused(api, create, recorded, monkeypatch):
    """A run through its handler on unmarked tables (it checks and claims the protocol marker; a
    protocol 3 janitor's check also looks for tasks) that reaps, retries and reads a debug flag
    (IceProd 2), and sweeps with the opt-in cap and its cursor (IceProd 3's path, called directly)."""
    from chalicelib.events import handlers
    from chalicelib.services import janitor, leases, protocol_marker
    from devserver.background import scheduled_event
    from tests.protocol3.stored import mark

    task_id = create(status="queued")
    api.post("/task_actions/process", {})
    create(status="reset", job_index=1)
    api.patch(f"/tasks/{create(status='waiting', job_index=2)}", {"failures": 5})
    monkeypatch.setattr(leases, "clock", lambda: 4_000_000_000)
    monkeypatch.setattr(config, "MAX_FAILURES_PROTOCOL3", 1)
    monkeypatch.setattr(config, "JANITOR_SWEEP_ITEMS", 1)
    monkeypatch.setattr(config, "JANITOR_SCHEDULE", True)
    mark(None)
    recorded.calls.clear()
    assert protocol_marker.decide("3") is not None  # IceProd 2 data: a protocol 3 janitor refuses
    assert handlers.run_janitor(scheduled_event(), None)["LeasesExpired"] == 1 and task_id
    for _ in range(4):  # three waiting tasks, one a sweep: the last sweep drops its cursor
        janitor.cap_waiting(janitor.Run(now=0))
    statements = _role_statements("JanitorRole")
    denied = {c for c in recorded.calls if not any(_allows(s, *c) for s in statements)}
    assert not denied
    unused = [(action, s["Resource"]) for s in statements for action in _listify(s["Action"])
              if not any(a == action and _allows(s, a, r, k) for a, r, k in recorded.calls)]
    assert not unused


@pytest.mark.parametrize("role", ["ApiRole", "CounterRole", "QueueRole", "JobsRole", "ReconcileRole", "ReplayRole",
                                  "JanitorRole"])
def test_no_role_writes_or_scans_an_index(role):
    """Index ARNs take only Query (writes there are meaningless grants, Scan is unused)."""
    for statement in _role_statements(role):
        if any("/index/" in _resource_pattern(r) for r in _listify(statement["Resource"])):
            assert _listify(statement["Action"]) == ["dynamodb:Query"], (role, statement)
