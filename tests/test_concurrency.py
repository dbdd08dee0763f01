"""Concurrency against a real server process (embedded moto, or DynamoDB Local): real threads.

Nothing here times anything; the assertions are about exactly-once outcomes.
"""

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import new_task

THREADS = 16
TASKS = 240


def seed(live, count, **overrides):
    def one(i):
        s = live.session()
        r = s.post(f"{live.url}/tasks", data=json.dumps(new_task(job_index=i, priority=float(i % 5), **overrides)))
        assert r.status_code == 201, r.text
        return r.json()["result"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def test_concurrent_claims_give_every_task_exactly_once(live):
    ids = set(seed(live, TASKS, status="queued"))
    claimed: list[str] = []
    misses = Counter()
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def pilot(n):
        s = live.session()
        start.wait()
        while True:
            r = s.post(f"{live.url}/task_actions/process", data=json.dumps({"requirements": {"cpu": 1}}))
            if r.status_code == 404:
                with lock:
                    misses[n] += 1
                return
            assert r.status_code == 200, r.text
            task = r.json()
            assert task["status"] == "processing"
            with lock:
                claimed.append(task["task_id"])

    threads = [threading.Thread(target=pilot, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    duplicates = [t for t, n in Counter(claimed).items() if n > 1]
    print(f"\nclaims: {THREADS} threads, {TASKS} tasks, {len(claimed)} claimed, {len(duplicates)} duplicates")
    assert duplicates == []
    assert set(claimed) == ids
    assert sum(misses.values()) == THREADS  # each pilot finally got its 404
    listed = live.session().get(f"{live.url}/tasks?status=processing&keys=task_id").json()["tasks"]
    assert {t["task_id"] for t in listed} == ids


def test_concurrent_queue_calls_count_each_task_once(live):
    seed(live, 200)
    results: list[int] = []
    start = threading.Barrier(8)

    def scheduler():
        s = live.session()
        start.wait()
        r = s.post(f"{live.url}/task_actions/queue", data=json.dumps({"num_tasks": 30}))
        assert r.status_code == 200, r.text
        results.append(r.json()["queued"])

    threads = [threading.Thread(target=scheduler) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    queued = live.session().get(f"{live.url}/tasks?status=queued&keys=task_id").json()["tasks"]
    assert sum(results) == len(queued)  # every move counted once, by the call that made it
    # A call stops starting batches after REQUEST_WORK_SECONDS: on a loaded machine some may leave
    # tasks behind; a later call takes exactly those.
    rest = live.session().post(f"{live.url}/task_actions/queue", data=json.dumps({"num_tasks": 200})).json()
    assert sum(results) + rest["queued"] == 200


def test_counts_follow_changes_on_the_running_server(live):
    ids = seed(live, 60)
    s = live.session()
    s.post(f"{live.url}/task_actions/queue", data=json.dumps({"num_tasks": 25}))
    s.post(f"{live.url}/task_actions/bulk_status/suspended", data=json.dumps({"tasks": ids[:5]}))

    def claim(_):
        live.session().post(f"{live.url}/task_actions/process", data="{}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(claim, range(10)))
    truth = Counter(t["status"] for t in s.get(f"{live.url}/tasks?keys=status").json()["tasks"])
    deadline = time.monotonic() + 20
    while True:
        counts = s.get(f"{live.url}/task_counts/status").json()
        if counts == {k: truth.get(k, 0) for k in counts}:
            break
        assert time.monotonic() < deadline, (counts, truth)
        time.sleep(0.1)
    assert sum(counts.values()) == 60
