"""Bulk changes larger than a request: the rest becomes a job that the schedule finishes."""

import time

import pytest

from chalicelib import config
from chalicelib.models import bookkeeping
from chalicelib.services import jobs


@pytest.fixture
def no_time(monkeypatch):
    """A request with no time to work: everything goes to the job."""
    monkeypatch.setattr(config, "REQUEST_WORK_SECONDS", 0.0)


def run_schedule():
    from chalicelib.events import handlers
    from devserver.background import scheduled_event

    return handlers.run_jobs(scheduled_event(), None)


def test_a_bulk_change_that_does_not_fit_becomes_a_job(api, create, no_time, monkeypatch):
    monkeypatch.setattr(jobs, "CHUNK", 4)
    monkeypatch.setattr(jobs, "BATCH", 3)
    ids = [create(job_index=i) for i in range(10)]
    response = api.post("/task_actions/bulk_status/suspended", {"tasks": [*ids, "f" * 32]})
    assert response.status_code == 202
    job = response.data["job"]
    assert response.data == {"job": job, "changed": 0, "remaining": 11}
    assert response.headers["Location"] == f"/task_actions/jobs/{job}"
    state = api.get(f"/task_actions/jobs/{job}").data
    assert state == {"job": job, "state": "running", "total": 11, "changed": 0, "remaining_chunks": 3}
    assert all(api.get(f"/tasks/{t}").data["status"] == "waiting" for t in ids)  # nothing half-applied
    assert run_schedule() == {"chunks": 3}
    assert api.get(f"/task_actions/jobs/{job}").data == {"job": job, "state": "done", "total": 11,
                                                         "changed": 10, "remaining_chunks": 0}
    assert all(api.get(f"/tasks/{t}").data["status"] == "suspended" for t in ids)
    assert run_schedule() == {"chunks": 0}  # a done job is not run again


def test_a_dataset_job_is_scoped_and_readable_by_dataset_users(api, create, no_time):
    from tests.conftest import token

    mine, other = create(), create(dataset_id="d2")
    response = api.post("/datasets/d1/task_actions/bulk_status/idle", {"tasks": [mine, other]},
                        token=token(["user"], {"d1": "write"}))
    assert response.status_code == 202
    job = response.data["job"]
    assert response.headers["Location"] == f"/datasets/d1/task_actions/jobs/{job}"
    run_schedule()
    reader = token(["user"], {"d1": "read"})
    assert api.get(f"/datasets/d1/task_actions/jobs/{job}", token=reader).data["changed"] == 1
    assert api.get(f"/datasets/d2/task_actions/jobs/{job}").status_code == 404
    assert api.get(f"/tasks/{other}").data["status"] == "waiting"


def test_a_chunk_taken_by_a_run_that_died_is_taken_again_after_its_lease(api, create, no_time, monkeypatch):
    ids = [create(job_index=i) for i in range(3)]
    job = api.post("/task_actions/bulk_status/failed", {"tasks": ids}).data["job"]
    assert jobs._lease(bookkeeping.job_chunk(job, 0))  # a run took it, then died
    assert run_schedule() == {"chunks": 0}  # the lease holds
    with monkeypatch.context() as later:
        later.setattr(time, "time", lambda: 10**10)  # ...until it expires
        assert run_schedule() == {"chunks": 1}
    assert api.get(f"/task_actions/jobs/{job}").data["state"] == "done"


def test_small_bulk_changes_still_answer_empty_in_the_request(api, create):
    task_id = create()
    response = api.post("/task_actions/bulk_status/idle", {"tasks": [task_id]})
    assert response.status_code == 200 and response.data == {}


def test_unknown_jobs_are_404(api):
    assert api.get("/task_actions/jobs/" + "0" * 32).status_code == 404
    assert api.get("/task_actions/jobs/not-a-job").status_code == 404


def test_a_bulk_requirements_change_that_does_not_fit_becomes_a_job(api, create, no_time):
    ids = [create(name="sim", job_index=i, requirements={"memory": 1.0 + i}) for i in range(4)]
    other = create(name="other", requirements={"memory": 1.0})
    response = api.patch("/datasets/d1/task_actions/bulk_requirements/sim", {"memory": 2.5, "os": ["RHEL_9"]})
    assert response.status_code == 202 and response.data["remaining"] == 4
    assert response.headers["Location"].startswith("/datasets/d1/task_actions/jobs/")
    assert api.get(f"/tasks/{ids[0]}").data["requirements"] == {"memory": 1.0}  # nothing half-applied
    run_schedule()
    assert [api.get(f"/tasks/{t}").data["requirements"] for t in ids] == [
        {"memory": 2.5, "os": ["RHEL_9"]}, {"memory": 2.5, "os": ["RHEL_9"]},
        {"memory": 3.0, "os": ["RHEL_9"]}, {"memory": 4.0, "os": ["RHEL_9"]}]
    assert api.get(f"/tasks/{other}").data["requirements"] == {"memory": 1.0}
    job = response.data["job"]
    assert api.get(f"/datasets/d1/task_actions/jobs/{job}").data["state"] == "done"


def test_a_task_claimed_between_a_bulk_request_and_its_job_stays_claimed(api, create, no_time):
    """Finding 6 of issue 12: the job's writes are conditioned on no change since the request."""
    ids = [create(job_index=i, status="queued") for i in range(4)]
    job = api.post("/task_actions/bulk_status/queued", {"tasks": ids}).data["job"]
    time.sleep(0.002)  # the claim's write stamp is then surely after the request's
    claimed = api.post("/task_actions/process", {}).data["task_id"]
    run_schedule()
    assert api.get(f"/tasks/{claimed}").data["status"] == "processing"
    assert api.get(f"/task_actions/jobs/{job}").data["changed"] == 3


def test_a_requirements_job_leaves_a_task_changed_meanwhile(api, create, no_time):
    ids = [create(job_index=i, name="sim", requirements={"memory": 1.0}) for i in range(3)]
    job = api.patch("/datasets/d1/task_actions/bulk_requirements/sim", {"memory": 4.0}).data["job"]
    time.sleep(0.002)
    assert api.patch(f"/tasks/{ids[0]}", {"requirements": {"memory": 2.0}}).status_code == 200
    run_schedule()
    assert [api.get(f"/tasks/{t}").data["requirements"]["memory"] for t in ids] == [2.0, 4.0, 4.0]
    assert api.get(f"/datasets/d1/task_actions/jobs/{job}").data["changed"] == 2


def test_the_write_stamp_is_never_shown_or_accepted(api, create):
    task = create()
    assert "_mt" not in api.get(f"/tasks/{task}").data
    assert api.patch(f"/tasks/{task}", {"_mt": 0}).status_code == 400
