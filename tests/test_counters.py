"""Stream-maintained counters: deltas, exactly-once application, endpoints, reconciliation."""

import random

import pytest
from pynamodb.expressions.operand import Path

from chalicelib import codec, db
from chalicelib.models import Bookkeeping
from chalicelib.models.bookkeeping import ALL_COUNTS, CONSUMER, dataset_counts, name_counts
from chalicelib.services import counters


def image(status="waiting", dataset="d1", name="gen", task_index=0, **extra):
    return codec.encode_item({"status": status, "dataset_id": dataset, "name": name, "task_index": task_index,
                              **extra})


def cpu(counts):
    """``counts`` of tasks without a gpu: each status's total and its ``#cpu`` class."""
    return {**counts, **{f"{s}#cpu": n for s, n in counts.items()}}


EVERY = (ALL_COUNTS, dataset_counts("d1"), name_counts("d1", "gen"))
DELTAS = [
    ("create", None, image(), {k: cpu({"waiting": 1}) for k in EVERY}),
    ("delete", image("queued"), None, {k: cpu({"queued": -1}) for k in EVERY}),
    ("status", image("queued"), image("processing"), {k: cpu({"queued": -1, "processing": 1}) for k in EVERY}),
    ("dataset", image(dataset="a"), image(dataset="b"),
     {dataset_counts("a"): cpu({"waiting": -1}), dataset_counts("b"): cpu({"waiting": 1}),
      name_counts("a", "gen"): cpu({"waiting": -1}), name_counts("b", "gen"): cpu({"waiting": 1})}),
    ("name", image(name="x"), image(name="y"),
     {name_counts("d1", "x"): cpu({"waiting": -1}), name_counts("d1", "y"): cpu({"waiting": 1})}),
    ("other field", image(), image(), {}),
    ("not a task", None, {"pk": {"S": "x"}}, {}),
]

R = "requirements"
#: IceProd 3's gpu classes: a number >= 1 is ``gpu``; absent or a number <= 0 is ``cpu``; null, a
#: non-number or a number between 0 and 1 is neither (only in the status's total).
GPU_DELTAS = [
    ("create a gpu task", None, image(**{R: {"gpu": 1}}), {"waiting": 1, "waiting#gpu": 1}),
    ("create with gpu 0", None, image(**{R: {"gpu": 0}}), {"waiting": 1, "waiting#cpu": 1}),
    ("create with gpu -1", None, image(**{R: {"gpu": -1}}), {"waiting": 1, "waiting#cpu": 1}),
    ("create with gpu 2.5", None, image(**{R: {"gpu": 2.5}}), {"waiting": 1, "waiting#gpu": 1}),
    ("create with gpu 0.5: neither", None, image(**{R: {"gpu": 0.5}}), {"waiting": 1}),
    ("create with gpu null: neither", None, image(**{R: {"gpu": None}}), {"waiting": 1}),
    ("create with gpu text: neither", None, image(**{R: {"gpu": "1"}}), {"waiting": 1}),
    ("create with gpu true: neither", None, image(**{R: {"gpu": True}}), {"waiting": 1}),
    ("requirements not a map: no gpu", None, image(**{R: "x"}), {"waiting": 1, "waiting#cpu": 1}),
    ("requirements null: no gpu", None, image(**{R: None}), {"waiting": 1, "waiting#cpu": 1}),
    ("typeless empty map (DynamoDB Local's stream)", None, {**image(), R: {}}, {"waiting": 1, "waiting#cpu": 1}),
    ("delete a gpu task", image(**{R: {"gpu": 2}}), None, {"waiting": -1, "waiting#gpu": -1}),
    ("gpu raised from 0: cpu to gpu", image(**{R: {"gpu": 0}}), image(**{R: {"gpu": 2}}),
     {"waiting#cpu": -1, "waiting#gpu": 1}),
    ("gpu set where absent: cpu to gpu", image(**{R: {"cpu": 1}}), image(**{R: {"cpu": 1, "gpu": 1}}),
     {"waiting#cpu": -1, "waiting#gpu": 1}),
    ("gpu lowered to 0: gpu to cpu", image(**{R: {"gpu": 4}}), image(**{R: {"gpu": 0}}),
     {"waiting#gpu": -1, "waiting#cpu": 1}),
    ("requirements dropped: gpu to cpu", image(**{R: {"gpu": 1}}), image(),
     {"waiting#gpu": -1, "waiting#cpu": 1}),
    ("gpu to null: leaves its class", image(**{R: {"gpu": 1}}), image(**{R: {"gpu": None}}), {"waiting#gpu": -1}),
    ("gpu from 0.5 to 1: joins gpu", image(**{R: {"gpu": 0.5}}), image(**{R: {"gpu": 1}}), {"waiting#gpu": 1}),
    ("gpu 1 to 4: same class, no change", image(**{R: {"gpu": 1}}), image(**{R: {"gpu": 4}}), {}),
    ("status and class at once", image("queued", **{R: {"gpu": 0}}), image("processing", **{R: {"gpu": 1}}),
     {"queued": -1, "queued#cpu": -1, "processing": 1, "processing#gpu": 1}),
]


@pytest.mark.parametrize("what,old,new,expected", DELTAS, ids=[d[0] for d in DELTAS])
def test_deltas_for_each_kind_of_change(what, old, new, expected):
    got = {key: {s: n for s, n in d.counts.items() if n} for key, d in counters.deltas(old, new).items()}
    assert got == expected


@pytest.mark.parametrize("what,old,new,expected", GPU_DELTAS, ids=[d[0] for d in GPU_DELTAS])
def test_gpu_class_deltas(what, old, new, expected):
    got = {key: {s: n for s, n in d.counts.items() if n} for key, d in counters.deltas(old, new).items()}
    assert got == ({k: expected for k in EVERY} if expected else {})


def test_deltas_carry_the_names_task_index():
    delta = counters.deltas(None, image(task_index=3))[name_counts("d1", "gen")]
    assert delta.name == "gen" and delta.task_index == 3


def record(event_id, old=None, new=None):
    return {"eventID": event_id, "eventName": "MODIFY",
            "dynamodb": {k: v for k, v in (("OldImage", old), ("NewImage", new)) if v is not None}}


def test_the_same_batch_twice_counts_once(api):
    batch = [record("e1", None, image()), record("e2", image(), image("queued"))]
    assert counters.apply_stream_records(batch) == 2
    assert counters.apply_stream_records(batch) == 0
    assert counters.status_counts()["queued"] == 1 and counters.status_counts()["waiting"] == 0


def test_a_batch_that_fails_halfway_counts_each_record_once_on_retry(api, monkeypatch):
    batch = [record(f"e{i}", None, image(dataset=f"d{i}")) for i in range(120)]  # > one transaction
    connection = db.table(Bookkeeping).connection
    real = connection.dispatch
    calls = []

    def flaky(operation, kwargs):
        calls.append(operation)
        if operation == "TransactWriteItems" and calls.count("TransactWriteItems") == 2:
            raise RuntimeError("lambda timed out")
        return real(operation, kwargs)

    monkeypatch.setattr(connection, "dispatch", flaky)
    with pytest.raises(RuntimeError):
        counters.apply_stream_records(batch)
    applied_first = counters.status_counts()["waiting"]
    assert 0 < applied_first < 120
    monkeypatch.setattr(connection, "dispatch", real)
    assert counters.apply_stream_records(batch) == 120 - applied_first
    assert counters.status_counts()["waiting"] == 120


def test_one_counter_write_per_transaction_for_the_hot_key(api, monkeypatch):
    connection = db.table(Bookkeeping).connection
    real = connection.dispatch
    seen = []

    def spy(operation, kwargs):
        if operation == "TransactWriteItems":
            seen.append(kwargs["TransactItems"])
        return real(operation, kwargs)

    monkeypatch.setattr(connection, "dispatch", spy)
    counters.apply_stream_records([record(f"e{i}", image(), image("queued")) for i in range(30)])
    assert len(seen) == 1
    updates = [i["Update"]["Key"] for i in seen[0] if "Update" in i]
    assert len(updates) == 3  # all, dataset, name: each once for 30 records
    assert counters.status_counts()["queued"] == 30


def test_count_endpoints(api, create, drain):
    create(name="sim", task_index=1, job_index=0)
    create(name="sim", task_index=1, job_index=1, status="queued")
    create(name="gen", task_index=0, job_index=0, status="complete")
    create(dataset_id="d2")
    drain()
    total = api.get("/task_counts/status")
    assert total.status_code == 200
    assert list(total.data) == ["idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete"]
    assert total.data["waiting"] == 2 and total.data["queued"] == 1 and total.data["idle"] == 0
    assert api.get("/datasets/d1/task_counts/status").data == {"waiting": 1, "queued": 1, "complete": 1}
    assert list(api.get("/datasets/d1/task_counts/status").data) == ["waiting", "queued", "complete"]
    named = api.get("/datasets/d1/task_counts/name_status").data
    assert list(named) == ["gen", "sim"]
    assert named == {"gen": {"complete": 1}, "sim": {"waiting": 1, "queued": 1}}
    assert api.get("/datasets/none/task_counts/status").data == {}
    assert api.get("/datasets/none/task_counts/name_status").data == {}


def test_count_endpoints_need_auth(api):
    from tests.conftest import token

    assert api.get("/task_counts/status", token=None).status_code == 401
    assert api.get("/task_counts/status", token=token(["user"], {"d1": "read"})).status_code == 403
    assert api.get("/datasets/d1/task_counts/status", token=token(["user"], {"d1": "read"})).status_code == 200
    assert api.get("/datasets/d1/task_counts/name_status", token=token(["user"], {"d2": "read"})).status_code == 403


def recount(api):
    truth = {}
    for task in api.get("/tasks?keys=status|dataset_id|name").data["tasks"]:
        truth.setdefault(task["dataset_id"], {}).setdefault(task["status"], 0)
        truth[task["dataset_id"]][task["status"]] += 1
    return truth


def test_randomized_churn_with_consumer_restart_matches_a_recount(api, create):
    from chalicelib.events import handlers
    from devserver.consumer import StreamConsumer

    rng = random.Random(7)
    statuses = ["idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete"]
    ids = [create(dataset_id=f"d{i % 3}", name=f"n{i % 2}", task_index=i % 2, job_index=i) for i in range(40)]
    consumer = StreamConsumer(handlers.count_tasks)
    for step in range(120):
        task_id = rng.choice(ids)
        dataset = api.get(f"/tasks/{task_id}").data["dataset_id"]
        op = rng.randrange(8)
        if op == 0:
            api.put(f"/tasks/{task_id}/status", {"status": rng.choice(statuses)})
        elif op == 1:
            api.patch(f"/tasks/{task_id}", {"status": rng.choice(statuses), "name": rng.choice(["n0", "n1", "n2"]),
                                            "requirements": {"gpu": rng.choice([0, 1, 2, 0.5, None])}})
        elif op == 2:
            api.post(f"/task_actions/bulk_status/{rng.choice(statuses)}", {"tasks": rng.sample(ids, 5)})
        elif op == 3:
            api.post("/task_actions/queue", {"num_tasks": 3})
        elif op == 4:
            api.post("/task_actions/process", {})
        elif op == 5:
            api.post(f"/tasks/{task_id}/task_actions/{rng.choice(['reset', 'failed', 'complete'])}", {})
        elif op == 6:
            ids.append(create(dataset_id=rng.choice(["d0", "d1", "d3"]), job_index=100 + step))
        else:
            api.put(f"/datasets/{dataset}/tasks/{task_id}/status", {"status": "reset"})
        if step == 60:
            consumer.drain()
            consumer = StreamConsumer(handlers.count_tasks)  # a restart: resumes from its checkpoint
    consumer.drain()
    truth = recount(api)
    for dataset, counts in truth.items():
        assert api.get(f"/datasets/{dataset}/task_counts/status").data == {s: counts[s] for s in statuses
                                                                           if s in counts}
    totals = {s: sum(c.get(s, 0) for c in truth.values()) for s in statuses}
    assert api.get("/task_counts/status").data == totals
    assert counters.reconcile() == {}


def test_a_consumer_that_lost_its_checkpoint_does_not_double_count(api, create, drain):
    from chalicelib.events import handlers
    from devserver.consumer import StreamConsumer

    for i in range(5):
        create(job_index=i)
    drain()
    for item in Bookkeeping.scan(Bookkeeping.pk == CONSUMER):
        item.delete()
    assert StreamConsumer(handlers.count_tasks).drain() == 5  # re-read from TRIM_HORIZON...
    assert api.get("/task_counts/status").data["waiting"] == 5  # ...and skipped by the markers


def test_reconcile_repairs_drift_and_reports_it(api, create, drain):
    create()
    create(status="queued", job_index=1)
    drain()
    db.update_item(Bookkeeping, *ALL_COUNTS, actions=[Bookkeeping.ttl.set(1)])  # an unrelated write is no drift
    db.update_item(Bookkeeping, *dataset_counts("d1"), actions=[Path(["waiting"]).add({"N": "7"})])
    assert api.get("/datasets/d1/task_counts/status").data["waiting"] == 8
    fixes = counters.reconcile()
    assert fixes == {dataset_counts("d1"): {"waiting": -7}}
    assert api.get("/datasets/d1/task_counts/status").data == {"waiting": 1, "queued": 1}
    assert counters.reconcile() == {}


def test_reconcile_schedule_handler(api, create):
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    create()  # never drained: the counters miss it
    assert handlers.reconcile_counters(scheduled_event(), None) == {"fixed": 3}
    assert api.get("/task_counts/status").data["waiting"] == 1


def stored(key):
    """The non-zero numbers of a count item, as stored."""
    item = db.get_item(Bookkeeping, *key) or {}
    return {a: int(item[a]["N"]) for a in counters.COUNT_ATTRIBUTES if a in item and int(item[a]["N"])}


def test_patch_and_bulk_requirements_move_tasks_between_gpu_classes(api, create, drain):
    patched = create(requirements={"gpu": 0})
    create(job_index=1, status="queued", requirements={"gpu": 1})
    create(name="sim", task_index=1, job_index=2)
    drain()
    assert stored(ALL_COUNTS) == {"waiting": 2, "waiting#cpu": 2, "queued": 1, "queued#gpu": 1}
    assert api.patch(f"/tasks/{patched}", {"requirements": {"gpu": 2}}).status_code == 200
    assert api.patch("/datasets/d1/task_actions/bulk_requirements/sim", {"gpu": 1}).status_code == 200
    drain()
    for key in (ALL_COUNTS, dataset_counts("d1")):
        assert stored(key) == {"waiting": 2, "waiting#gpu": 2, "queued": 1, "queued#gpu": 1}
    assert stored(name_counts("d1", "sim")) == {"waiting": 1, "waiting#gpu": 1}
    assert stored(name_counts("d1", "generate")) == {"waiting": 1, "waiting#gpu": 1, "queued": 1, "queued#gpu": 1}
    assert api.patch(f"/tasks/{patched}", {"requirements": {"gpu": None}}).status_code == 200  # in neither class
    drain()
    assert stored(ALL_COUNTS) == {"waiting": 2, "waiting#gpu": 1, "queued": 1, "queued#gpu": 1}
    assert counters.reconcile() == {}


def test_the_iceprod2_count_routes_and_the_dataset_listing_show_no_gpu_class(api, create, drain):
    create(requirements={"gpu": 1})
    create(job_index=1)
    drain()
    assert stored(dataset_counts("d1")) == {"waiting": 2, "waiting#gpu": 1, "waiting#cpu": 1}
    assert api.get("/task_counts/status").data["waiting"] == 2
    assert api.get("/datasets/d1/task_counts/status").data == {"waiting": 2}
    assert api.get("/datasets/d1/task_counts/name_status").data == {"generate": {"waiting": 2}}
    assert api.get("/datasets").data == {"d1": {"waiting": 2}}


def test_reconcile_repairs_gpu_class_counts(api, create, drain):
    create(requirements={"gpu": 1})
    create(job_index=1, status="queued")
    create(job_index=2, status="queued", requirements={"gpu": 0.5})  # in neither class
    drain()
    db.update_item(Bookkeeping, *dataset_counts("d1"), actions=[Path(["waiting#gpu"]).add({"N": "3"})])
    db.update_item(Bookkeeping, *ALL_COUNTS, actions=[Path(["queued#cpu"]).remove(), Path(["queued#gpu"]).set(
        {"N": "1"})])  # as a counter written before the classes were kept, then drifted
    fixes = counters.reconcile()
    assert fixes == {dataset_counts("d1"): {"waiting#gpu": -3}, ALL_COUNTS: {"queued#cpu": 1, "queued#gpu": -1}}
    truth = {"waiting": 1, "waiting#gpu": 1, "queued": 2, "queued#cpu": 1}
    assert stored(ALL_COUNTS) == stored(dataset_counts("d1")) == stored(name_counts("d1", "generate")) == truth
    assert counters.reconcile() == {}
