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
    assert sorted(i["task_id"]["S"] for i in db.batch_get(Task, ids[:100])) == ids[:100:2]
    assert sorted(i["task_id"]["S"] for i in db.batch_get(Task, ids)) == ids[::2]


def test_batch_get_sends_no_request_for_no_keys(tables, monkeypatch):
    """DynamoDB refuses a BatchGetItem without keys (moto does not)."""
    from pynamodb.connection.table import TableConnection

    from chalicelib.models import Task

    sent = []
    original = TableConnection.batch_get_item

    def recorded(self, keys, *args, **kwargs):
        sent.append(len(keys))
        return original(self, keys, *args, **kwargs)

    monkeypatch.setattr(TableConnection, "batch_get_item", recorded)
    assert db.batch_get(Task, []) == []
    assert sent == []
    assert db.batch_get(Task, ["0" * 32]) == []
    assert sent == [1]
