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
