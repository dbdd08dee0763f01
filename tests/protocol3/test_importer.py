"""The MongoDB importer on an IceProd 3 installation's export (``--protocol 3``): tasks with
IceProd 3's statuses and ``instance_id``, task stats, and the datasets' access records.

Fixtures are made with pymongo's ``bson``, as in ``tests/test_importer.py``, in the shape
IceProd 3 (d142e63a) stores them: its task documents, ``task_stats`` records under UUID1 ids, and
``attr_auths`` documents (its ``auth`` database).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, ObjectId
from click.testing import CliRunner

from chalicelib import codec, db
from chalicelib.models import Task
from chalicelib.protocol import ICEPROD3
from iceprod_ops.client import Exit
from tests.protocol3.test_auth import ICECUBE, ip3, read, refused, write
from tests.test_importer import progress_of, rejects, stored_tasks, task_identity, write_export

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
DATASET = uuid.uuid4().hex
#: A task's stats as IceProd 3 stored them, by create_date; their UUID1-like ids sort otherwise.
STAT_TIMES = ("2026-08-11T19:12:38.000001", "2026-08-11T19:12:38.000002", "2026-08-12T01:00:00.500000")
STAT_IDS = ("f" * 32, "0" * 32, "8" * 32)


def mongo_task(index: int, status: str = "complete", dataset_id: str = DATASET, **extra: Any) -> dict[str, Any]:
    """A task document as IceProd 3 keeps it (its POST's keys and server fields, ``instance_id``)."""
    claimed = status in ("queued", "processing")
    doc = {
        **task_identity(index, dataset_id),
        "requirements": {"cpu": 1, "gpu": 0, "memory": 2.0, "disk": 10.5, "time": 1.0},
        "status": status,
        "status_changed": "2026-08-11T19:12:38.000000",
        "failures": Int64(index % 4),
        "evictions": 0,
        "walltime": 3.5,
        "walltime_err": 0.0,
        "walltime_err_n": 0,
        "site": "WIPAC" if claimed else "",
        "priority": 0.25 + index % 5,
        "instance_id": uuid.UUID(int=20_000 + index).hex if claimed else "",
    }
    doc.update(extra)
    return doc


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    """The task the API answers for an imported document."""
    return {**{k: v for k, v in doc.items() if k != "_id"}, "failures": int(doc["failures"])}


def mongo_stat(task_id: str, number: int, dataset_id: str = DATASET) -> dict[str, Any]:
    """A ``task_stats`` record as IceProd 3's ``POST /tasks/{id}/task_stats`` stores it."""
    return {"_id": ObjectId(), "task_stat_id": STAT_IDS[number], "task_id": task_id, "dataset_id": dataset_id,
            "create_date": STAT_TIMES[number], "stats": {"hostname": f"node{number}", "time": 1.5 * number,
                                                           "resources": {"cpu": 1, "memory": 2.0}}}


def mongo_access(dataset_id: str = DATASET, **lists: Any) -> dict[str, Any]:
    """An ``attr_auths`` document as IceProd 3's ``POST /datasets`` sets it (``set_attr_auth``)."""
    record = {"read_groups": ["admin", "simprod", "users"], "write_groups": ["admin", "simprod"],
              "read_users": ["bob"], "write_users": ["bob"], **lists}
    return {"_id": ObjectId(), "dataset_id": dataset_id, **{k: v for k, v in record.items() if v is not None}}


def run_import(tmp: Path, *sources: Path | str, protocol: str = "3", replace: bool = False) -> Any:
    from iceprod_ops.importer.run import Options, import_all
    from iceprod_ops.importer.sources import parse_sources

    options = Options(tmp / "checkpoint.json", tmp / "rejects.jsonl", protocol=protocol, replace=replace, parallel=2)
    return import_all(parse_sources([str(s) for s in sources]), options)


def bulk(api: Any, query: str = "") -> list[dict[str, Any]]:
    """The records of the dataset's bulk answer (NDJSON: the test client parses one JSON value)."""
    response = api.client.http.request("GET", f"/datasets/{DATASET}/bulk/task_stats{query}",
                                       headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 200
    return [json.loads(line) for line in response.body.decode().splitlines()]


def export(tmp: Path, name: str, docs: list[dict[str, Any]]) -> Path:
    return write_export(tmp / f"{name}.bson", docs, "bson")


# --- tasks ------------------------------------------------------------------------------------

def test_every_iceprod3_status_and_instance_id_survives_the_round_trip(api, tmp_path: Path) -> None:
    docs = [mongo_task(i, status) for i, status in enumerate(ICEPROD3.statuses)]
    state = run_import(tmp_path, export(tmp_path, "tasks", docs))
    assert progress_of(state, "tasks.bson").outcomes == {"new": len(ICEPROD3.statuses)}
    for doc in docs:
        assert api.get(f"/tasks/{doc['task_id']}").data == expected(doc)
    queued = api.get("/tasks?status=queued|processing&keys=task_id|instance_id").data["tasks"]
    assert sorted(t["instance_id"] for t in queued) == sorted(d["instance_id"] for d in docs if d["instance_id"])


def test_an_imported_task_is_stored_as_post_tasks_stores_it(api, tmp_path: Path) -> None:
    from chalicelib.services.tasks import task_item

    doc = mongo_task(4, "waiting")
    run_import(tmp_path, export(tmp_path, "tasks", [doc]))
    assert stored_tasks()[doc["task_id"]] == codec.decode_item(task_item(expected(doc)))


def test_a_task_without_instance_id_gets_iceprod3s_default_and_an_int_priority_stays(api, tmp_path: Path) -> None:
    doc = mongo_task(1, "idle", priority=0)  # queue_tasks PATCHes a JSON int 0 onto a task it skips
    del doc["instance_id"]
    run_import(tmp_path, export(tmp_path, "tasks", [doc]))
    task = api.get(f"/tasks/{doc['task_id']}").data
    assert (task["instance_id"], task["priority"]) == ("", 0)
    assert isinstance(task["priority"], int)


def test_tasks_iceprod3_would_not_hold_are_rejected_with_its_reasons(api, tmp_path: Path) -> None:
    bad = {
        "invalid status": mongo_task(10, "reset"),
        "key task_index should be of type <class 'int'>": mongo_task(11, task_index="three"),
        'key "instance_id" should be of type str': mongo_task(12, instance_id=5),
        "missing key: depends": {k: v for k, v in mongo_task(13).items() if k != "depends"},
    }
    state = run_import(tmp_path, export(tmp_path, "tasks", [mongo_task(1), *bad.values()]))
    assert progress_of(state, "tasks.bson").outcomes == {"new": 1, "rejected": 4}
    assert [r["reason"] for r in rejects(tmp_path)] == list(bad)
    assert set(stored_tasks()) == {mongo_task(1)["task_id"]}


def test_processing_imports_hold_a_lease_the_janitor_takes_back_and_queued_ones_none(api, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    from chalicelib.models.tasks import LEASE, LEASE_KEY
    from chalicelib.services import janitor, leases

    monkeypatch.setattr(leases, "clock", lambda: 1_800_000_000.0)
    running, queued = mongo_task(1, "processing"), mongo_task(2, "queued")
    run_import(tmp_path, export(tmp_path, "tasks", [running, queued]))
    item, waiting = (db.get_item(Task, d["task_id"], consistent_read=True) for d in (running, queued))
    assert int(item[LEASE]["N"]) == 1_800_000_000 + leases.seconds_for(running["requirements"])
    # A grid claim leases a task when it turns processing; a queued one is the grid's cross-check's.
    assert LEASE not in waiting and LEASE_KEY not in waiting
    monkeypatch.setattr(leases, "clock", lambda: 1_900_000_000.0)
    assert janitor.run()["LeasesExpired"] == 1
    task = api.get(f"/tasks/{running['task_id']}").data
    assert (task["status"], task["instance_id"], task["failures"]) == ("waiting", "", running["failures"] + 1)
    assert api.get(f"/tasks/{queued['task_id']}").data == expected(queued)


# --- task stats -------------------------------------------------------------------------------

def stats_export(tmp: Path) -> tuple[str, str, Path]:
    """Two tasks' stats, in an order other than their ids' and times' (as MongoDB may list them)."""
    first, second = uuid.UUID(int=1).hex, uuid.UUID(int=2).hex
    docs = [mongo_stat(second, 1), mongo_stat(first, 2), mongo_stat(first, 0), mongo_stat(first, 1)]
    return first, second, export(tmp, "task_stats", docs)


def test_task_stats_read_back_by_task_in_creation_order(api, tmp_path: Path) -> None:
    first, second, source = stats_export(tmp_path)
    run_import(tmp_path, source)
    listed = api.get(f"/datasets/{DATASET}/tasks/{first}/task_stats").data
    assert [r["create_date"] for r in listed.values()] == list(STAT_TIMES)
    one = next(iter(listed))
    assert listed[one] == {"task_stat_id": one, "task_id": first, "dataset_id": DATASET,
                           "create_date": STAT_TIMES[0], "stats": mongo_stat(first, 0)["stats"]}
    latest = api.get(f"/datasets/{DATASET}/tasks/{first}/task_stats?last=true").data
    assert [r["create_date"] for r in latest.values()] == [STAT_TIMES[2]]
    assert api.get(f"/datasets/{DATASET}/tasks/{first}/task_stats/{one}").data == listed[one]
    assert [(r["task_id"], r["create_date"]) for r in bulk(api)] == [
        *((first, t) for t in STAT_TIMES), (second, STAT_TIMES[1])]
    assert [r["create_date"] for r in bulk(api, "?last=true")] == [STAT_TIMES[2], STAT_TIMES[1]]


def test_an_imported_stat_is_stored_as_post_stores_it(api, tmp_path: Path) -> None:
    from chalicelib.models import TaskStat
    from chalicelib.services import task_stats

    task_id = uuid.UUID(int=1).hex
    run_import(tmp_path, export(tmp_path, "task_stats", [mongo_stat(task_id, 0)]))
    (item,) = db.query_all(TaskStat, DATASET)
    record = task_stats.get(DATASET, task_id, item["task_stat_id"]["S"])
    assert codec.decode_item(item) == codec.decode_item(task_stats.stat_item(record))  # engines differ in number text


def test_stat_ids_follow_create_date_and_stay_the_same_on_reimport() -> None:
    from iceprod_ops.importer.convert import stat_id

    ids = [stat_id(sid, when) for sid, when in zip(STAT_IDS, STAT_TIMES, strict=True)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert stat_id(STAT_IDS[0], STAT_TIMES[0]) == ids[0]
    assert ids[0][:16] == f"{int(datetime.fromisoformat(STAT_TIMES[0] + '+00:00').timestamp() * 1000):012x}0001"


def test_stats_iceprod_would_not_hold_are_rejected(api, tmp_path: Path) -> None:
    task_id = uuid.UUID(int=1).hex
    bad = {
        "invalid task_id: 'x'": {**mongo_stat(task_id, 0), "task_id": "x"},
        "create_date is not an ISO 8601 time: 'yesterday'": {**mongo_stat(task_id, 0), "create_date": "yesterday"},
        "missing required keys: stats": {k: v for k, v in mongo_stat(task_id, 0).items() if k != "stats"},
        "keys a task stat does not have: extra": {**mongo_stat(task_id, 0), "extra": 1},
    }
    state = run_import(tmp_path, export(tmp_path, "task_stats", [mongo_stat(task_id, 1), *bad.values()]))
    assert progress_of(state, "task_stats.bson").outcomes == {"new": 1, "rejected": 4}
    assert [r["reason"] for r in rejects(tmp_path)] == list(bad)


# --- access records ---------------------------------------------------------------------------

@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The access records' cache clock: a record imported by another process is seen after its TTL."""
    from chalicelib import config
    from chalicelib.services import access

    now = [1000.0]
    monkeypatch.setattr(access, "_clock", lambda: now[0])
    monkeypatch.setattr(config, "ACCESS_CACHE_SECONDS", 5.0)
    return now


def test_imported_access_records_decide_what_a_user_may_do(api, tmp_path: Path, clock) -> None:
    other = uuid.uuid4().hex
    alice, bob = ip3([ICECUBE]), ip3([ICECUBE], username="bob")
    assert refused(read(api, alice, DATASET), 403, "attr not found")
    run_import(tmp_path, export(tmp_path, "attr_auths", [mongo_access(), mongo_access(other, write_groups=None)]))
    clock[0] += 5.1  # the absence read before is kept that long (another process imports)
    assert read(api, alice, DATASET).status_code == 200  # "users" read
    assert refused(write(api, alice, DATASET), 403, "authorization failed")
    assert write(api, bob, DATASET).status_code == 201  # the owner writes
    assert refused(write(api, bob, other), 403, "role not found")
    record = {k: v for k, v in mongo_access(other, write_groups=None).items() if k not in ("_id", "dataset_id")}
    assert api.get(f"/datasets/{other}/access").data == record  # as IceProd had it: no write_groups


def test_an_access_record_of_another_attribute_is_rejected(api, tmp_path: Path) -> None:
    record = {k: v for k, v in mongo_access().items() if k != "dataset_id"}
    state = run_import(tmp_path, export(tmp_path, "attr_auths", [{**record, "task_id": uuid.UUID(int=1).hex}]))
    assert progress_of(state, "attr_auths.bson").outcomes == {"rejected": 1}
    assert [r["reason"] for r in rejects(tmp_path)] == ["missing required keys: dataset_id"]


# --- again, elsewhere, and through the command ------------------------------------------------

def full_export(tmp: Path) -> list[Path]:
    tasks = [mongo_task(i, status) for i, status in enumerate(ICEPROD3.statuses)]
    return [export(tmp, "tasks", tasks), stats_export(tmp)[2], export(tmp, "attr_auths", [mongo_access()])]


def test_a_second_import_skips_what_is_there_and_reports_what_differs(api, tmp_path: Path) -> None:
    from chalicelib.models import TaskStat

    sources = full_export(tmp_path)
    run_import(tmp_path, *sources)
    before = (stored_tasks(), list(db.query_all(TaskStat, DATASET)), api.get(f"/datasets/{DATASET}/access").data)
    (tmp_path / "checkpoint.json").unlink()
    state = run_import(tmp_path, *sources)
    assert [progress_of(state, s.name).outcomes for s in sources] == [{"same": 7}, {"same": 4}, {"same": 1}]
    after = (stored_tasks(), list(db.query_all(TaskStat, DATASET)), api.get(f"/datasets/{DATASET}/access").data)
    assert after == before
    stat = export(tmp_path, "stat", [{**mongo_stat(uuid.UUID(int=1).hex, 0), "stats": {"hostname": "x"}}])
    record = export(tmp_path, "record", [mongo_access(read_users=[])])
    run_import(tmp_path, f"task_stats={stat}", f"attr_auths={record}")
    assert [r["reason"] for r in rejects(tmp_path)] == ["differs from the stored task stat in stats",
                                                       "differs from the stored access record in read_users"]


def test_tables_of_iceprod2_are_refused(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.run import TargetRefused
    from tests.protocol3.stored import mark

    mark("2")
    with pytest.raises(TargetRefused, match="IceProd 2 data"):
        run_import(tmp_path, export(tmp_path, "tasks", [mongo_task(1)]))
    assert stored_tasks() == {}


def test_iceprod2_data_is_not_imported_by_a_protocol_3_process(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.run import TargetRefused

    with pytest.raises(TargetRefused, match="this process builds IceProd 3's items"):
        run_import(tmp_path, export(tmp_path, "tasks", [mongo_task(1)]), protocol="2")


def test_the_import_command_imports_and_verifies_iceprod3_data(api, tmp_path: Path) -> None:
    from iceprod_ops.cli import cli

    args = ["--json", "import", "--protocol", "3", *map(str, full_export(tmp_path)), "--checkpoint",
            str(tmp_path / "c.json"), "--rejects", str(tmp_path / "r.jsonl"), "--reconcile", "--verify-wait", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == Exit.OK, result.output
    rows = {(r["what"], r["source"], r["target"]) for r in json.loads(result.stdout)["verification"]}
    assert rows == {*((s, 1, 1) for s in ICEPROD3.statuses), ("(task stats)", 4, 4), ("(access)", 1, 1)}


def test_verification_finds_a_missing_stat_and_access_record(api, tmp_path: Path) -> None:
    from chalicelib.models import Bookkeeping, TaskStat, bookkeeping
    from iceprod_ops.importer.verify import verify

    state = run_import(tmp_path, *full_export(tmp_path))
    (item, *_) = db.query_all(TaskStat, DATASET)
    db.delete_item(TaskStat, DATASET, item["stat_key"]["S"])
    db.delete_item(Bookkeeping, *bookkeeping.dataset_access(DATASET))
    wrong = {(r.what, r.source, r.target) for r in verify(state, 0, reconcile=True) if not r.ok}
    assert wrong == {("(task stats)", 4, 3), ("(access)", 1, 0)}
