"""The IceProd 2 → 3 conversion: every status mapped once, resumable, counted, counters reconciled."""

from __future__ import annotations

import threading

import pytest

from chalicelib.models.tasks import CONVERTED, LEASE, LEASE_KEY, STATUS_KEY, status_key
from chalicelib.services import conversion, counters, leases, protocol_marker, store
from tests.protocol3.stored import doc, mark, put_task, raw

EXPECTED = {"idle": "idle", "waiting": "idle", "queued": "waiting", "processing": "waiting", "reset": "waiting",
            "resume": "waiting", "suspended": "suspended", "failed": "failed", "complete": "complete"}


@pytest.fixture
def iceprod2(tables):
    """Tables of IceProd 2 data: one task of every status, marked as IceProd 2's."""
    mark("2")
    return {status: put_task(status=status, job_index=i) for i, status in enumerate(EXPECTED)}


def test_every_status_is_mapped_and_instance_id_set(iceprod2):
    before = {s: doc(t)["status_changed"] for s, t in iceprod2.items()}
    report = conversion.convert(settle_seconds=0)
    for old, task_id in iceprod2.items():
        item, task = raw(task_id), doc(task_id)
        assert task["status"] == EXPECTED[old], old
        assert item[STATUS_KEY]["S"] == status_key(EXPECTED[old], task_id)
        assert task["instance_id"] == ""
        assert task["status_changed"] == before[old]  # the conversion is no status change of a route
        assert CONVERTED not in task  # internal
    assert report.run == {"converted": 5, "unchanged": 4}
    assert report.total == {"converted": 5, "unchanged": 4, "skipped": 0}
    assert protocol_marker.marker() == ("3", None)


def test_a_claim_sent_back_to_waiting_ends_and_a_finished_tasks_instance_id_is_kept(tables):
    mark("2")
    claimed = put_task(status="processing")
    store.update(claimed, leases.start(claimed, "pilot-1"))  # an IceProd 2 claim: holder and lease
    done = put_task(status="complete", instance_id="abc")
    conversion.convert(settle_seconds=0)
    item = raw(claimed)
    assert (doc(claimed)["status"], doc(claimed)["instance_id"]) == ("waiting", "")
    assert LEASE not in item and LEASE_KEY not in item  # no lease left for the janitor to expire
    assert (doc(done)["status"], doc(done)["instance_id"]) == ("complete", "abc")


def test_unmarked_tables_are_converted_as_iceprod2_data(tables):
    mark(None)
    task_id = put_task(status="waiting")
    conversion.convert(settle_seconds=0)
    assert doc(task_id)["status"] == "idle" and protocol_marker.marker() == ("3", None)


def test_an_interrupted_conversion_resumes_and_converts_no_task_twice(tables, monkeypatch, api):
    mark("2")
    ids = {put_task(status=status, job_index=i): status
           for i, status in enumerate(["waiting", "queued", "processing", "complete"] * 6)}
    real = conversion.convert_task
    written: list[str] = []
    lock = threading.Lock()
    calls = 0

    def failing(item):
        nonlocal calls
        with lock:
            calls += 1
            if calls > 10:
                raise RuntimeError("killed")
        outcome = real(item)
        written.extend([item["task_id"]["S"]] if outcome != "skipped" else [])
        return outcome

    monkeypatch.setattr(conversion, "convert_task", failing)
    with pytest.raises(RuntimeError, match="killed"):
        conversion.convert(page_size=4, settle_seconds=0)
    assert len(written) == 10
    assert protocol_marker.marker() == ("2", "3")
    assert api.get("/openapi.json").status_code == 503  # refused while converting

    def recording(item):
        outcome = real(item)
        written.extend([item["task_id"]["S"]] if outcome != "skipped" else [])
        return outcome

    monkeypatch.setattr(conversion, "convert_task", recording)
    report = conversion.convert(page_size=4, settle_seconds=0)
    assert sorted(written) == sorted(ids)  # every task written exactly once over both runs
    assert {t: doc(t)["status"] for t in ids} == {t: EXPECTED[s] for t, s in ids.items()}
    assert report.run["converted"] + report.run["unchanged"] == len(ids) - 10
    assert report.run["skipped"] == 10 - 8  # the interrupted third page of 4 began again
    assert protocol_marker.marker() == ("3", None)
    protocol_marker.forget()
    assert api.get("/openapi.json").status_code == 200


def test_a_task_changed_since_the_scan_read_it_is_skipped(tables):
    mark("2")
    task_id = put_task(status="waiting")
    stale = raw(task_id)
    from chalicelib.services import store

    store.update(task_id, store.set_status("queued", task_id))
    assert conversion.convert_task(stale) == "skipped"
    assert doc(task_id)["status"] == "queued"


def test_the_counters_are_reconciled_after_the_conversion(iceprod2, drain):
    drain()
    assert counters.status_counts()["waiting"] == 1 and counters.status_counts()["reset"] == 1
    report = conversion.convert(settle_seconds=0)
    assert not report.settled and report.fixed > 0
    counts = counters.status_counts()
    assert {s: n for s, n in counts.items() if n} == {"idle": 2, "waiting": 4, "suspended": 1, "failed": 1,
                                                      "complete": 1}
    assert counters.dataset_status_counts("d1")["waiting"] == 4  # "resume" included


def test_a_settled_stream_needs_no_repair(iceprod2, drain, monkeypatch):
    drain()
    monkeypatch.setattr(conversion, "_settle", lambda seconds: (drain(), True)[1])
    report = conversion.convert()
    assert report.settled and report.fixed == 0
    assert counters.status_counts()["idle"] == 2


def test_converting_iceprod3_tables_does_nothing(tables):
    task_id = put_task(status="waiting")  # the tables are marked IceProd 3's
    assert conversion.convert(settle_seconds=0).already
    assert doc(task_id)["status"] == "waiting"


def test_a_dry_run_counts_and_writes_nothing(iceprod2):
    report = conversion.dry_run()
    assert report.run == {"converted": 5, "unchanged": 4} and not report.already
    assert doc(iceprod2["queued"])["status"] == "queued"
    assert protocol_marker.marker() == ("2", None)


def test_the_command_prints_the_counts(iceprod2, capsys):
    from devserver import convert

    convert.main(["--dry-run"])
    assert "a conversion would find 5 converted, 4 unchanged, 0 skipped" in capsys.readouterr().out
    convert.main(["--settle-seconds", "0"])
    out = capsys.readouterr().out
    assert "this run: 5 converted, 4 unchanged, 0 skipped" in out
    assert "the tables now hold IceProd 3's data" in out
    convert.main([])
    assert "nothing to do" in capsys.readouterr().out
