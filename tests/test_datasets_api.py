"""Dataset-scoped routes: listings, one task, status, summaries, stats."""

import pytest


def test_dataset_tasks_maps_ids_to_tasks_of_that_dataset_only(api, create):
    a, b = create(job_index=0), create(job_index=1)
    create(dataset_id="other")
    found = api.get("/datasets/d1/tasks").data
    assert set(found) == {a, b}
    assert found[a]["task_id"] == a and found[a]["dataset_id"] == "d1"


def test_dataset_tasks_filters_by_status_job_id_and_job_index(api, create):
    a = create(job_id="j1", job_index=0, status="idle")
    b = create(job_id="j2", job_index=1)
    c = create(job_id="j2", job_index=2, status="complete")
    assert set(api.get("/datasets/d1/tasks?status=idle|complete").data) == {a, c}
    assert set(api.get("/datasets/d1/tasks?job_id=j2").data) == {b, c}
    assert set(api.get("/datasets/d1/tasks?job_index=1").data) == {b}
    assert api.get("/datasets/d1/tasks?job_id=j2&status=idle").data == {}


def test_dataset_tasks_keys_always_keep_task_id(api, create):
    a = create()
    assert api.get("/datasets/d1/tasks?keys=name").data == {a: {"task_id": a, "name": "generate"}}


@pytest.mark.parametrize("query", ["job_index=x", "job_index=1.5", "status=nope"])
def test_dataset_tasks_bad_params_are_400(api, query):
    assert api.get(f"/datasets/d1/tasks?{query}").status_code == 400


def test_dataset_tasks_unknown_dataset_is_empty(api):
    assert api.get("/datasets/none/tasks").data == {}


def test_dataset_task_keys_keep_task_id_as_on_the_listing(api, create):
    """IceProd 2 adds task_id to every projection of its dataset routes (finding 12)."""
    a = create()
    assert api.get(f"/datasets/d1/tasks/{a}?keys=status").data == {"task_id": a, "status": "waiting"}
    assert api.get(f"/datasets/d1/tasks/{a}?keys=status|task_id").data == {"task_id": a, "status": "waiting"}
    assert api.get(f"/tasks/{a}").data["task_id"] == a


def test_dataset_task_and_other_dataset_is_404(api, create):
    a = create()
    assert api.get(f"/datasets/d1/tasks/{a}").data["task_id"] == a
    assert api.get(f"/datasets/other/tasks/{a}").status_code == 404
    assert api.get("/datasets/d1/tasks/" + "c" * 32).status_code == 404


def test_dataset_ids_are_percent_decoded_once(api, create):
    a = create(dataset_id="my set%41")
    assert set(api.get("/datasets/my%20set%2541/tasks").data) == {a}


def test_dataset_put_status_scoped_and_reset_clears_failures(api, create):
    a = create()
    api.patch(f"/tasks/{a}", {"failures": 3})
    assert api.put(f"/datasets/other/tasks/{a}/status", {"status": "reset"}).status_code == 404
    assert api.get(f"/tasks/{a}").data["failures"] == 3
    assert api.put(f"/datasets/d1/tasks/{a}/status", {"status": "reset"}).status_code == 200
    task = api.get(f"/tasks/{a}").data
    assert task["status"] == "reset" and task["failures"] == 0


def test_dataset_put_status_invalid_is_400(api, create):
    a = create()
    assert api.put(f"/datasets/d1/tasks/{a}/status", {"status": "x"}).status_code == 400
    assert api.put(f"/datasets/d1/tasks/{a}/status", raw=b"nope").status_code == 400


def test_task_summaries_group_ids_by_status_in_display_order(api, create):
    a = create(status="complete")
    b = create(status="idle")
    c = create(status="idle")
    summary = api.get("/datasets/d1/task_summaries/status").data
    assert list(summary) == ["idle", "complete"]
    assert sorted(summary["idle"]) == sorted([b, c]) and summary["complete"] == [a]
    assert api.get("/datasets/empty/task_summaries/status").data == {}


def test_task_stats_over_complete_tasks_by_name(api, create):
    for i, (wall, err) in enumerate([(1.0, 0.5), (3.0, 0.0)]):
        t = create(name="sim", task_index=1, job_index=i, requirements={"gpu": 1})
        api.patch(f"/tasks/{t}", {"status": "complete", "walltime": wall, "walltime_err": err})
    t = create(name="gen", task_index=0, job_index=0)
    api.patch(f"/tasks/{t}", {"status": "complete", "walltime": 2.0})
    create(name="other", task_index=2)  # not complete: not counted
    stats = api.get("/datasets/d1/task_stats").data
    assert list(stats) == ["gen", "sim"]
    sim = stats["sim"]
    assert sim["count"] == 2 and sim["gpu"] == 2
    assert sim["total_hrs"] == 4.0 and sim["total_err_hrs"] == 0.5
    assert sim["avg_hrs"] == 2.0 and sim["min_hrs"] == 1.0 and sim["max_hrs"] == 3.0
    assert sim["stddev_hrs"] == pytest.approx(1.41421356, rel=1e-6)
    assert sim["efficiency"] == pytest.approx(4.0 / 4.5)
    assert stats["gen"]["stddev_hrs"] is None and stats["gen"]["gpu"] == 0


def test_task_stats_without_complete_tasks_is_empty(api, create):
    create()
    assert api.get("/datasets/d1/task_stats").data == {}


def test_overlong_dataset_id_is_400(api):
    assert api.get("/datasets/" + "x" * 2000 + "/tasks").status_code == 400
