"""The DynamoDB adapter's own guarantees."""

import threading
import time

from chalicelib import db


def test_concurrent_first_calls_share_one_pool(monkeypatch):
    made = []

    class SlowPool:
        def __init__(self, **_):
            time.sleep(0.05)  # widen the window in which a second caller could make another
            made.append(self)

    monkeypatch.setattr(db, "_POOL", None)
    monkeypatch.setattr(db, "ThreadPoolExecutor", SlowPool)
    pools = []
    threads = [threading.Thread(target=lambda: pools.append(db.pool())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1 and all(p is made[0] for p in pools)


def test_batch_get_reads_none_one_or_many_requests_worth_of_keys(tables):
    from chalicelib.models import Task

    ids = [f"{i:032x}" for i in range(150)]
    db.batch_write(Task, puts=[{"task_id": {"S": task_id}} for task_id in ids[::2]])
    assert db.batch_get(Task, []) == []
    assert sorted(i["task_id"]["S"] for i in db.batch_get(Task, ids[:100])) == ids[:100:2]
    assert sorted(i["task_id"]["S"] for i in db.batch_get(Task, ids)) == ids[::2]
