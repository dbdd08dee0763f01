"""IceProd 3's own clients against a real ``make run`` server process: the grid daemon's loop
(SEMANTICS-ICEPROD3 §5) through rest_tools' RestClient with an IceProd 3-shaped token, and
concurrent ``queue_many`` claims from many threads."""

import json
import os
import threading
import time
from collections import Counter

import jwt
import pytest
import requests
from rest_tools.client import RestClient

pytestmark = pytest.mark.real_server
THREADS = 16


def iceprod3_token(**claims):
    """A token as IceProd 3's tools sign one: Keycloak-shaped claims, HS512, iss "IceProd", float times."""
    now = time.time()
    body = {"iss": "IceProd", "iat": now, "nbf": now, "exp": now + 600.5,
            "resource_access": {"iceprod": {"roles": ["iceprod-system"]}}, **claims}
    return jwt.encode(body, os.environ["TASKS_JWT_SECRET"], algorithm="HS512")


@pytest.fixture
def grid(live):
    """The grid daemon's client: rest_tools' RestClient as IceProd 3 builds it."""
    client = RestClient(live.url, token=iceprod3_token(), retries=0, timeout=30)
    yield client
    client.close()


def _seed(client, n, **task):
    ids = []
    for i in range(n):
        body = {"dataset_id": task.get("dataset_id", "d1"), "job_id": f"j{i}", "task_index": 0, "job_index": i,
                "name": "generate", "depends": [], "requirements": task.get("requirements", {}),
                "status": "waiting", "priority": 0.5}
        ids.append(client.request_seq("POST", "/tasks", body)["result"])
    return ids


def _ignore_404(call):
    try:
        return call()
    except requests.HTTPError as error:
        if error.response.status_code != 404:
            raise
        return None


def test_the_grid_daemon_loop(grid):
    """Submit cycle, job events, finishing calls and the cross-check, as the HTCondor plugin sends them."""
    ids = _seed(grid, 4, requirements={"memory": 2.0})
    grid.request_seq("POST", f"/datasets/d1/files/{ids[0]}", {"filename": "in.i3", "movement": "input"})
    # 1-2: one submit cycle
    tasks = grid.request_seq("POST", "/task_actions/queue_many", {
        "num": 3, "requirements": {"cpu": 1, "memory": 4.0, "site": "WIPAC"}, "dataset_deprio": [], "query_params": {}})
    assert len(tasks) == 3
    for task in tasks:
        for key in ("dataset_id", "job_id", "job_index", "task_id", "task_index", "instance_id", "name", "depends",
                    "requirements", "status"):
            assert key in task
        files = grid.request_seq("GET", f"/datasets/{task['dataset_id']}/files/{task['task_id']}", {})
        assert isinstance(files["files"], list)
    first, second, third = tasks
    # job events: idle again (idempotent), then running
    for task in tasks:
        path, claim = f"/tasks/{task['task_id']}", {"instance_id": task["instance_id"]}
        grid.request_seq("PUT", f"{path}/status", {"status": "queued", **claim})
        grid.request_seq("POST", f"{path}/task_actions/processing", claim)
        grid.request_seq("POST", f"{path}/task_actions/processing", claim)
    # finishing: success, a transient failure (reset), a failure
    grid.request_seq("POST", f"/tasks/{first['task_id']}/task_actions/complete",
                     {"site": "WIPAC", "instance_id": first["instance_id"], "time_used": 3600.0})
    grid.request_seq("POST", f"/tasks/{second['task_id']}/task_actions/reset",
                     {"instance_id": second["instance_id"], "reason": "Job has failed", "site": "WIPAC"})
    grid.request_seq("POST", f"/tasks/{third['task_id']}/task_actions/failed",
                     {"instance_id": third["instance_id"], "site": "WIPAC", "reason": "module failed",
                      "resources": {"cpu": 1, "gpu": 0, "gpumem": 0, "memory": 3.1, "disk": 1.0, "time": 0.5}})
    # a repeated report is a 404 the grid ignores
    assert _ignore_404(lambda: grid.request_seq("POST", f"/tasks/{first['task_id']}/task_actions/complete",
                                                {"instance_id": first["instance_id"]})) is None
    # the cross-check: a claimed task missing from HTCondor is reset
    claimed = grid.request_seq("POST", "/task_actions/queue_many", {"num": 5, "requirements": {"site": "WIPAC"}})
    keys = "dataset_id|task_id|instance_id|status|status_changed"
    listed = grid.request_seq("GET", "/tasks", {"status": "queued|processing", "site": "WIPAC", "keys": keys})["tasks"]
    assert {t["task_id"] for t in listed} == {t["task_id"] for t in claimed}
    for task in listed:
        grid.request_seq("POST", f"/tasks/{task['task_id']}/task_actions/reset",
                         {"instance_id": task["instance_id"], "reason": "task missing from HTCondor queue"})
    final = {t["task_id"]: t for t in grid.request_seq("GET", "/tasks", {})["tasks"]}
    assert final[first["task_id"]]["status"] == "complete" and final[first["task_id"]]["walltime"] == 1.0
    assert final[third["task_id"]]["status"] == "failed"
    assert final[third["task_id"]]["requirements"]["memory"] == pytest.approx(4.65)
    assert Counter(t["status"] for t in final.values()) == {"waiting": 2, "complete": 1, "failed": 1}


def test_the_grid_sees_404_as_nothing_to_do(grid):
    with pytest.raises(requests.HTTPError) as refused:
        grid.request_seq("POST", "/task_actions/queue_many", {"num": 10})
    assert refused.value.response.status_code == 404
    assert refused.value.response.json() == {"code": 404, "error": "Task not found"}


def test_concurrent_queue_many_never_hands_a_task_out_twice(live, grid):
    ids = _seed(grid, 160)
    claimed: list[str] = []
    misses = Counter()
    start = threading.Barrier(THREADS)

    def daemon(n):
        s = live.session(iceprod3_token())
        start.wait()
        while True:
            r = s.post(f"{live.url}/task_actions/queue_many", data=json.dumps({"num": 7}))
            if r.status_code == 404:
                misses[n] += 1
                return
            assert r.status_code == 200, r.text
            claimed.extend(t["task_id"] for t in r.json())

    threads = [threading.Thread(target=daemon, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    duplicates = [t for t, n in Counter(claimed).items() if n > 1]
    assert not duplicates
    assert sorted(claimed) == sorted(ids)
    assert sum(misses.values()) == THREADS
