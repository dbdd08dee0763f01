"""POST /task_actions/queue and the scheduled queueing job."""

import pytest

from chalicelib import config


def statuses(api):
    return {t["task_id"]: t["status"] for t in api.get("/tasks?keys=task_id|status").data["tasks"]}


def test_queue_moves_the_highest_priority_waiting_tasks(api, create):
    ids = {p: create(priority=float(p), job_index=p) for p in range(5)}
    idle = create(status="idle", priority=99.0, job_index=9)
    response = api.post("/task_actions/queue", {"num_tasks": 2})
    assert response.status_code == 200 and response.data == {"queued": 2}
    now = statuses(api)
    assert {t for t, s in now.items() if s == "queued"} == {ids[4], ids[3]}
    assert now[idle] == "idle"


def test_queue_sets_status_changed(api, create):
    task_id = create()
    before = api.get(f"/tasks/{task_id}").data["status_changed"]
    api.post("/task_actions/queue", {"num_tasks": 1})
    assert api.get(f"/tasks/{task_id}").data["status_changed"] >= before


def test_queue_defaults_to_100_and_counts_only_moved(api, create):
    for i in range(3):
        create(job_index=i)
    assert api.post("/task_actions/queue", raw=b"").data == {"queued": 3}
    assert api.post("/task_actions/queue", {"num_tasks": 10}).data == {"queued": 0}


def test_queue_zero_moves_nothing(api, create):
    create()
    assert api.post("/task_actions/queue", {"num_tasks": 0}).data == {"queued": 0}


@pytest.mark.parametrize("num", [-1, "5", 1.5, True, None, [1]])
def test_queue_bad_num_tasks_is_400(api, create, num):
    task_id = create()
    assert api.post("/task_actions/queue", {"num_tasks": num}).status_code == 400
    assert api.get(f"/tasks/{task_id}").data["status"] == "waiting"


def test_queue_over_several_pages(api, create, monkeypatch):
    from chalicelib.services import queueing

    monkeypatch.setattr(queueing, "PAGE_SIZE", 7)
    for i in range(30):
        create(job_index=i, priority=float(i % 4))
    assert api.post("/task_actions/queue", {"num_tasks": 25}).data == {"queued": 25}
    left = [t for t in api.get("/tasks?status=waiting&keys=priority").data["tasks"]]
    assert len(left) == 5 and all(t["priority"] == 0.0 for t in left)


@pytest.fixture
def invoke_queue(api):
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    def run():
        return handlers.queue_tasks(scheduled_event(), None)

    return run


def test_schedule_is_off_by_default(api, create, invoke_queue):
    create()
    assert invoke_queue() == {"enabled": False, "queued": 0}


def test_schedule_through_the_lambda_test_client(api, create, monkeypatch):
    from chalice.test import Client

    from app import app

    monkeypatch.setattr(config, "QUEUE_SCHEDULE", True)
    create()
    with Client(app) as client:
        event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                                resources=[])
        result = client.lambda_.invoke("queue_tasks", event)
    assert result.payload == {"enabled": True, "queued": 1}


def test_schedule_queues_only_tasks_whose_dependencies_are_complete(api, create, drain, monkeypatch, invoke_queue):
    monkeypatch.setattr(config, "QUEUE_SCHEDULE", True)
    done = create(status="complete", job_index=0)
    pending = create(status="waiting", job_index=1)
    ready = create(depends=[done], job_index=2)
    blocked = create(depends=[done, pending], job_index=3, priority=9.0)
    missing = create(depends=["0" * 32], job_index=4)
    drain()
    assert invoke_queue()["queued"] == 2  # pending itself and ready
    now = statuses(api)
    assert now[ready] == "queued" and now[pending] == "queued"
    assert now[blocked] == "waiting" and now[missing] == "waiting"


def test_schedule_respects_target_and_per_cycle(api, create, drain, monkeypatch, invoke_queue):
    monkeypatch.setattr(config, "QUEUE_SCHEDULE", True)
    for i in range(10):
        create(job_index=i)
    create(status="processing", job_index=20)
    monkeypatch.setattr(config, "QUEUE_PER_CYCLE", 3)
    monkeypatch.setattr(config, "QUEUE_TARGET", 6)
    drain()
    assert invoke_queue()["queued"] == 3  # per cycle
    drain()
    assert invoke_queue()["queued"] == 2  # target 6: 1 processing + 3 queued + 2
    drain()
    assert invoke_queue()["queued"] == 0
    assert sum(1 for s in statuses(api).values() if s == "queued") == 5


def test_one_queue_call_is_bounded_and_says_how_many_moved(api, create, monkeypatch):
    for i in range(8):
        create(job_index=i)
    monkeypatch.setattr(config, "QUEUE_MAX_PER_REQUEST", 3)
    assert api.post("/task_actions/queue", {"num_tasks": 100}).data == {"queued": 3}
    monkeypatch.setattr(config, "QUEUE_MAX_PER_REQUEST", 100)
    monkeypatch.setattr(config, "REQUEST_WORK_SECONDS", 0.0)
    assert api.post("/task_actions/queue", {"num_tasks": 100}).data == {"queued": 0}  # no time: nothing started
    monkeypatch.setattr(config, "REQUEST_WORK_SECONDS", 20.0)
    assert api.post("/task_actions/queue", {"num_tasks": 100}).data == {"queued": 5}
