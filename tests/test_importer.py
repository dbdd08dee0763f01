"""The MongoDB importer on exports written the way mongoexport and mongodump write them.

Fixtures are made with pymongo's ``bson`` (what the MongoDB tools themselves produce: BSON
documents back to back, Extended JSON in canonical and relaxed mode, one line each or one array).
"""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import bson
import pytest
from bson import Decimal128, Int64, ObjectId, json_util
from click.testing import CliRunner

from iceprod_ops.client import Exit

DATASET = uuid.uuid4().hex


def task_identity(index: int, dataset_id: str) -> dict[str, Any]:
    """The keys that place task ``index`` in its dataset and job, as both IceProd generations
    store them: a document of three-task jobs, each task after the first depending on the last."""
    return {
        "_id": ObjectId(),
        "task_id": uuid.UUID(int=index + 1).hex,
        "dataset_id": dataset_id,
        "job_id": uuid.UUID(int=10_000 + index).hex,
        "task_index": index % 3,
        "job_index": index,
        "name": ("generate", "filter", "level2")[index % 3],
        "depends": [uuid.UUID(int=index).hex] if index % 3 else [],
    }


def mongo_task(index: int, status: str = "complete", dataset_id: str = DATASET, **extra: Any) -> dict[str, Any]:
    """A task document as IceProd 2 keeps it in MongoDB, with every BSON type its data holds."""
    doc = {
        **task_identity(index, dataset_id),
        "requirements": {"cpu": 1, "gpu": 0, "memory": 2.0, "disk": 10.5, "time": 1.0, "os": ["RHEL_7_x86_64"]},
        "status": status,
        "status_changed": "2021-05-04T10:11:12.123456",
        "failures": Int64(index % 4),
        "evictions": 0,
        "walltime": 3.5,
        "walltime_err": 0.0,
        "walltime_err_n": 0,
        "site": "WIPAC",
        "priority": 0.25 + index % 5,
        "created": datetime(2020, 1, 2, 3, 4, 5, 678000),
        "big": Int64(2**40 + index),
        "ratio": 2.0,
        "nested": {"oid": ObjectId("5f1e2d3c4b5a697887766554"), "when": datetime(2019, 12, 31, 23, 59, 59),
                   "values": [1, 2.0, None, True, "x"]},
    }
    doc.update(extra)
    return doc


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    """The task the API answers for an imported document."""
    out = {k: v for k, v in doc.items() if k != "_id"}
    out.update(failures=int(doc["failures"]), big=int(doc["big"]), created=doc["created"].isoformat(),
               nested={"oid": str(doc["nested"]["oid"]), "when": doc["nested"]["when"].isoformat(),
                       "values": [1, 2.0, None, True, "x"]})
    return out


def mongo_file(task_id: str, number: int, dataset_id: str = DATASET) -> dict[str, Any]:
    return {"_id": ObjectId(), "dataset_id": dataset_id, "task_id": task_id, "remote": f"gsiftp://x/out{number}.i3",
            "local": f"out{number}.i3", "type": "permanent", "movement": "output", "transfer": True,
            "compression": False}


def write_export(path: Path, docs: list[Any], mode: str) -> Path:
    """``docs`` as mongoexport/mongodump would write them."""
    if mode == "bson":
        path.write_bytes(b"".join(bson.encode(d) for d in docs))
    elif mode == "bson.gz":
        path.write_bytes(gzip.compress(b"".join(bson.encode(d) for d in docs)))
    elif mode in ("canonical", "relaxed"):
        options = json_util.CANONICAL_JSON_OPTIONS if mode == "canonical" else json_util.RELAXED_JSON_OPTIONS
        path.write_text("".join(json_util.dumps(d, json_options=options) + "\n" for d in docs))
    elif mode == "array":
        path.write_text("[" + ",\n".join(json_util.dumps(d, json_options=json_util.CANONICAL_JSON_OPTIONS)
                                         for d in docs) + "]")
    return path


SUFFIX = {"bson": ".bson", "bson.gz": ".bson.gz", "canonical": ".json", "relaxed": ".json", "array": ".json"}


def run_import(tmp: Path, *sources: Path | str, replace: bool = False, parallel: int = 4) -> Any:
    from iceprod_ops.importer.run import Options, import_all
    from iceprod_ops.importer.sources import parse_sources

    options = Options(tmp / "checkpoint.json", tmp / "rejects.jsonl", replace=replace, parallel=parallel)
    return import_all(parse_sources([str(s) for s in sources]), options)


def rejects(tmp: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp / "rejects.jsonl").read_text().splitlines()]


def progress_of(state: Any, file_name: str) -> Any:
    return next(p for name, p in state.sources.items() if Path(name).name == file_name)


def stored_tasks() -> dict[str, dict[str, Any]]:
    """Every stored task item, decoded with its internal attributes (engines differ in number text)
    but the stamps of the time of the write (checked in their own test)."""
    from chalicelib import codec, db
    from chalicelib.models import Task
    from iceprod_ops.importer.writer import STAMPS

    return {i["task_id"]["S"]: codec.decode_item(i, STAMPS) for i in db.scan_all(Task)}


def as_stored(doc: dict[str, Any]) -> dict[str, Any]:
    """What ``POST /tasks`` would store for the task the API answers for ``doc``."""
    from chalicelib import codec
    from chalicelib.services.tasks import task_item

    return codec.decode_item(task_item(expected(doc)))


@pytest.mark.parametrize("mode", list(SUFFIX))
def test_every_bson_type_survives_the_round_trip(api, tmp_path: Path, mode: str) -> None:
    docs = [mongo_task(i) for i in range(5)]
    source = write_export(tmp_path / f"tasks{SUFFIX[mode]}", docs, mode)
    state = run_import(tmp_path, source)
    assert sum(p.outcomes["new"] for p in state.sources.values()) == 5
    for doc in docs:
        answer = api.get(f"/tasks/{doc['task_id']}")
        assert answer.status_code == 200
        assert answer.data == expected(doc)
        assert isinstance(answer.data["failures"], int) and isinstance(answer.data["ratio"], float)


def test_an_imported_task_is_stored_as_post_tasks_stores_it(api, tmp_path: Path) -> None:
    doc = mongo_task(7, status="queued")
    run_import(tmp_path, write_export(tmp_path / "tasks.bson", [doc], "bson"))
    assert stored_tasks()[doc["task_id"]] == as_stored(doc)
    listed = api.get("/tasks?status=queued").data["tasks"]
    assert [t["task_id"] for t in listed] == [doc["task_id"]]
    by_name = api.get(f"/datasets/{DATASET}/tasks?job_index=7").data
    assert list(by_name) == [doc["task_id"]]


def test_missing_server_fields_get_the_defaults_of_post_tasks(api, tmp_path: Path) -> None:
    doc = mongo_task(1)
    for key in ("priority", "failures", "evictions", "walltime", "walltime_err", "walltime_err_n", "site"):
        del doc[key]
    run_import(tmp_path, write_export(tmp_path / "tasks.json", [doc], "relaxed"))
    task = api.get(f"/tasks/{doc['task_id']}").data
    assert (task["priority"], task["failures"], task["walltime"], task["site"]) == (1.0, 0, 0.0, "")


def test_an_imported_task_carries_the_write_stamp_and_a_processing_one_a_lease(api, tmp_path: Path,
                                                                              monkeypatch) -> None:
    from chalicelib import db
    from chalicelib.models import Task
    from chalicelib.models.tasks import LEASE, LEASE_KEY, MODIFIED
    from chalicelib.services import janitor, leases

    monkeypatch.setattr(leases, "clock", lambda: 1_800_000_000.0)
    running, done = mongo_task(1, status="processing"), mongo_task(2, status="complete")
    run_import(tmp_path, write_export(tmp_path / "tasks.json", [running, done], "relaxed"))
    item, finished = (db.get_item(Task, d["task_id"], consistent_read=True) for d in (running, done))
    assert MODIFIED in item and MODIFIED in finished  # bulk jobs compare it
    assert int(item[LEASE]["N"]) == 1_800_000_000 + leases.seconds_for(running["requirements"])
    assert LEASE not in finished and LEASE_KEY not in finished
    # Its pilot is gone (IceProd 2 tasks hold no instance_id): the janitor takes it back.
    monkeypatch.setattr(leases, "clock", lambda: 1_900_000_000.0)
    janitor.run()
    task = api.get(f"/tasks/{running['task_id']}").data  # reaped to reset, then retried
    assert (task["status"], task["failures"]) == ("waiting", running["failures"] + 1)


def test_an_import_into_tables_of_the_other_protocol_is_refused(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.run import TargetRefused
    from tests.protocol3.stored import mark

    mark("3")
    with pytest.raises(TargetRefused, match="IceProd 3 data"):
        run_import(tmp_path, write_export(tmp_path / "tasks.json", [mongo_task(1)], "relaxed"))
    assert stored_tasks() == {}


def test_files_are_imported_in_their_order_and_listed_by_task(api, tmp_path: Path) -> None:
    task = mongo_task(1)
    files = [mongo_file(task["task_id"], n) for n in range(3)]
    run_import(tmp_path, write_export(tmp_path / "tasks.json", [task], "canonical"),
               write_export(tmp_path / "dataset_files.bson.gz", files, "bson.gz"))
    listed = api.get(f"/datasets/{DATASET}/files/{task['task_id']}").data["files"]
    assert [f["remote"] for f in listed] == [f["remote"] for f in files]
    assert listed[0] == {k: v for k, v in files[0].items() if k not in ("_id", "dataset_id", "task_id")}


def test_a_second_import_skips_what_is_there(api, tmp_path: Path) -> None:
    source = write_export(tmp_path / "tasks.bson", [mongo_task(i) for i in range(30)], "bson")
    task = mongo_task(1)
    files = write_export(tmp_path / "dataset_files.json", [mongo_file(task["task_id"], 1)], "relaxed")
    run_import(tmp_path, source, files)
    before = stored_tasks()
    (tmp_path / "checkpoint.json").unlink()
    state = run_import(tmp_path, source, files)
    assert progress_of(state, "tasks.bson").outcomes == {"same": 30}
    assert stored_tasks() == before
    assert len(api.get(f"/datasets/{DATASET}/files").data["files"]) == 1


def test_a_task_that_differs_is_reported_and_replaced_only_when_asked(api, tmp_path: Path) -> None:
    run_import(tmp_path, write_export(tmp_path / "tasks.json", [mongo_task(1), mongo_task(2)], "relaxed"))
    changed = write_export(tmp_path / "tasks2.json", [mongo_task(1, status="failed"), mongo_task(2)], "relaxed")
    state = run_import(tmp_path, f"tasks={changed}")
    assert progress_of(state, "tasks2.json").outcomes == {"differs": 1, "same": 1}
    assert api.get(f"/tasks/{mongo_task(1)['task_id']}").data["status"] == "complete"
    assert [r["reason"] for r in rejects(tmp_path)] == ["differs from the stored task in status"]
    (tmp_path / "checkpoint.json").unlink()
    state = run_import(tmp_path, f"tasks={changed}", replace=True)
    assert progress_of(state, "tasks2.json").outcomes == {"replaced": 1, "same": 1}
    assert api.get(f"/tasks/{mongo_task(1)['task_id']}").data["status"] == "failed"


def test_bad_records_are_rejected_with_the_reason_and_the_rest_imported(api, tmp_path: Path) -> None:
    good = [mongo_task(i) for i in range(3)]
    bad = {
        "invalid task_id: None": {k: v for k, v in mongo_task(10).items() if k != "task_id"},
        "task.task_index must be of type integer": mongo_task(11, task_index="three"),
        "task.status must be one of": mongo_task(12, status="paused"),
        "task too large for DynamoDB": mongo_task(13, log="x" * 500_000),
        "cost: unsupported BSON type Decimal128": mongo_task(14, cost=Decimal128(Decimal("1.5"))),
        "task is missing required key 'depends'": {k: v for k, v in mongo_task(15).items() if k != "depends"},
    }
    path = write_export(tmp_path / "tasks.json", [good[0], *bad.values(), good[1]], "canonical")
    with path.open("a") as out:
        out.write('{"task_id": "broken json\n')
        out.write(json_util.dumps(good[2]) + "\n")
    state = run_import(tmp_path, path)
    assert progress_of(state, "tasks.json").outcomes == {"new": 3, "rejected": 7}
    rows = rejects(tmp_path)
    assert [r["position"] for r in rows] == [1, 2, 3, 4, 5, 6, 8]
    for fragment, row in zip([*bad, "line 9: not Extended JSON"], rows, strict=True):
        assert fragment in row["reason"]
    assert rows[1]["task_id"] == mongo_task(11)["task_id"]
    assert set(stored_tasks()) == {d["task_id"] for d in good}


def test_a_mongodump_archive_is_refused_with_what_to_do(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.sources import SourceError

    archive = tmp_path / "tasks.bson"
    archive.write_bytes(bytes.fromhex("6de29981") + b"\x00" * 64)
    with pytest.raises(SourceError, match="--archive file, which is not read; dump with `mongodump --out"):
        run_import(tmp_path, archive)


def test_iceprod3_collections_are_skipped_and_named(api, tmp_path: Path, capsys) -> None:
    dump = tmp_path / "dump" / "iceprod"
    dump.mkdir(parents=True)
    write_export(dump / "tasks.bson", [mongo_task(1)], "bson")
    write_export(dump / "task_stats.bson", [{"_id": ObjectId(), "task_id": mongo_task(1)["task_id"]}], "bson")
    write_export(dump / "attr_auths.bson", [{"_id": ObjectId(), "dataset_id": DATASET}], "bson")
    (dump / "tasks.metadata.json").write_text("{}")
    state = run_import(tmp_path, tmp_path / "dump")
    assert [Path(n).name for n in state.sources] == ["tasks.bson"]
    err = capsys.readouterr().err
    for name in ("task_stats", "attr_auths"):
        assert f"{name} is IceProd 3 data: import it with --protocol 3" in err


def test_iceprod3_data_is_not_imported_by_a_protocol_2_process(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.run import Options, TargetRefused, import_all
    from iceprod_ops.importer.sources import parse_sources

    source = write_export(tmp_path / "tasks.json", [mongo_task(1)], "relaxed")
    options = Options(tmp_path / "checkpoint.json", tmp_path / "rejects.jsonl", protocol="3")
    with pytest.raises(TargetRefused, match="this process builds IceProd 2's items"):
        import_all(parse_sources([str(source)]), options)
    assert stored_tasks() == {}


class Killed(BaseException):
    """What a kill looks like to the import: it stops wherever it is."""


@pytest.mark.parametrize("kill_at", [1, 4, 9])
def test_a_killed_import_resumes_and_ends_with_the_same_table(api, tmp_path: Path, monkeypatch, kill_at: int) -> None:
    from chalicelib import db
    from iceprod_ops.importer import run

    docs = [mongo_task(i, status=("waiting", "queued", "complete")[i % 3]) for i in range(120)]
    source = write_export(tmp_path / "tasks.bson.gz", docs, "bson.gz")
    monkeypatch.setattr(run, "BATCH", 10)
    real_put, calls = db.batch_write, []

    def dying_put(model: Any, items: list[Any]) -> None:
        calls.append(1)
        if len(calls) == kill_at:
            real_put(model, items[: len(items) // 2])  # half a batch written, then killed
            raise Killed
        real_put(model, items)

    monkeypatch.setattr(db, "batch_write", dying_put)
    with pytest.raises(Killed):
        run_import(tmp_path, source, parallel=2)
    saved = json.loads((tmp_path / "checkpoint.json").read_text()) if (tmp_path / "checkpoint.json").exists() else {}
    assert all(not s["complete"] for s in saved.get("sources", {}).values())
    monkeypatch.setattr(db, "batch_write", real_put)
    state = run_import(tmp_path, source, parallel=2)
    progress = progress_of(state, "tasks.bson.gz")
    assert progress.done == 120 and progress.complete
    assert sum(progress.counts.values()) == 120
    assert stored_tasks() == {d["task_id"]: as_stored(d) for d in docs}


def test_a_resumed_import_does_not_repeat_rejects(tables, tmp_path: Path, monkeypatch) -> None:
    from chalicelib import db
    from iceprod_ops.importer import run

    docs = [mongo_task(i) if i % 10 else {"no": "task_id"} for i in range(60)]
    source = write_export(tmp_path / "tasks.json", docs, "relaxed")
    monkeypatch.setattr(run, "BATCH", 10)
    monkeypatch.setattr(run, "SAVE_EVERY_SECONDS", 0)
    real_put, calls = db.batch_write, []

    def dying_put(model: Any, items: list[Any]) -> None:
        calls.append(1)
        if len(calls) == 4:
            raise Killed
        real_put(model, items)

    monkeypatch.setattr(db, "batch_write", dying_put)
    with pytest.raises(Killed):
        run_import(tmp_path, source, parallel=1)
    monkeypatch.setattr(db, "batch_write", real_put)
    run_import(tmp_path, source, parallel=1)
    assert [r["position"] for r in rejects(tmp_path)] == [0, 10, 20, 30, 40, 50]


def test_a_changed_source_is_not_resumed_over(tables, tmp_path: Path) -> None:
    from iceprod_ops.importer.sources import SourceError

    source = write_export(tmp_path / "tasks.json", [mongo_task(1)], "relaxed")
    run_import(tmp_path, source)
    write_export(source, [mongo_task(1), mongo_task(2)], "relaxed")
    with pytest.raises(SourceError, match="changed since the checkpoint"):
        run_import(tmp_path, source)


def test_verification_matches_then_catches_an_injected_difference(api, tmp_path: Path) -> None:
    from iceprod_ops.importer.verify import verify

    docs = [mongo_task(i, status=("waiting", "complete")[i % 2]) for i in range(20)]
    task = docs[0]
    state = run_import(tmp_path, write_export(tmp_path / "tasks.bson", docs, "bson"),
                       write_export(tmp_path / "dataset_files.bson", [mongo_file(task["task_id"], 1)], "bson"))
    rows = verify(state, 0, reconcile=True)
    counted = {(r.what, r.source, r.target) for r in rows}
    assert counted == {("waiting", 10, 10), ("complete", 10, 10), ("(files)", 1, 1)}
    assert all(r.ok for r in rows)
    assert api.put(f"/tasks/{task['task_id']}/status", {"status": "suspended"}).status_code == 200
    rows = verify(state, 0, reconcile=True)
    wrong = {(r.what, r.source, r.target) for r in rows if not r.ok}
    assert wrong == {("waiting", 10, 9), ("suspended", 0, 1)}


def test_the_import_command_prints_the_verification_and_exits_by_it(api, tmp_path: Path) -> None:
    from iceprod_ops.cli import cli

    source = write_export(tmp_path / "tasks.json", [mongo_task(i) for i in range(4)], "canonical")
    args = ["import", str(source), "--checkpoint", str(tmp_path / "c.json"), "--rejects", str(tmp_path / "r.jsonl"),
            "--reconcile", "--verify-wait", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == Exit.OK, result.output
    assert "verified: every count matches" in result.output
    assert api.put(f"/tasks/{mongo_task(0)['task_id']}/status", {"status": "failed"}).status_code == 200
    result = CliRunner().invoke(cli, ["--json", *args])
    assert result.exit_code == Exit.MISMATCH
    report = json.loads(result.stdout)
    assert report["verified"] is False
    assert {"dataset_id": DATASET, "what": "failed", "source": 0, "target": 1, "ok": False} in report["verification"]


def test_the_import_command_exits_7_when_records_were_rejected(tables, tmp_path: Path) -> None:
    from iceprod_ops.cli import cli

    source = write_export(tmp_path / "tasks.json", [mongo_task(1), {"task_id": 3}], "relaxed")
    result = CliRunner().invoke(cli, ["import", str(source), "--checkpoint", str(tmp_path / "c.json"),
                                      "--rejects", str(tmp_path / "r.jsonl"), "--reconcile", "--verify-wait", "0"])
    assert result.exit_code == Exit.INCOMPLETE, result.output
    assert "some records were not imported" in result.output


def test_iso_dates_are_naive_utc() -> None:
    from iceprod_ops.importer.convert import iso

    assert iso(datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2021-01-02T03:04:05"


def test_progress_off_a_terminal_is_plain_periodic_lines(capsys) -> None:
    from iceprod_ops.progress import meter

    with meter("tasks.bson", 100, every=0) as show:
        show(50, "50 records, 10/s")
    err = capsys.readouterr().err
    assert "tasks.bson: 50% 50 records, 10/s, ETA " in err and "tasks.bson: done 50 records, 10/s" in err


def test_unprocessed_items_are_written_again(tables, tmp_path: Path, monkeypatch) -> None:
    from chalicelib.models import Task

    connection = Task._get_connection().connection
    real_dispatch, throttled = connection.dispatch, []

    def throttling(operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if operation != "BatchWriteItem" or throttled:
            return real_dispatch(operation, kwargs)
        (table, requests), = kwargs["RequestItems"].items()
        throttled.append(len(requests) - 1)
        real_dispatch(operation, {"RequestItems": {table: requests[:1]}})
        return {"UnprocessedItems": {table: requests[1:]}}

    monkeypatch.setattr(connection, "dispatch", throttling)
    docs = [mongo_task(i) for i in range(30)]
    run_import(tmp_path, write_export(tmp_path / "tasks.bson", docs, "bson"), parallel=1)
    assert throttled == [24]
    assert set(stored_tasks()) == {d["task_id"] for d in docs}
