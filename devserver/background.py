"""The background jobs of ``make run``: what AWS runs as stream and scheduled Lambdas.

* the stream consumer (:mod:`devserver.consumer`) feeding the counters handler;
* the queueing job every ``QUEUE_RATE_MINUTES`` when ``QUEUE_SCHEDULE=on``;
* the counters' reconciliation every ``RECONCILE_RATE_HOURS``;
* the janitor every ``JANITOR_LOCAL_SECONDS`` (faster than Lambda's one minute, to watch it)
  when ``JANITOR_SCHEDULE=on``.
They call the very handlers the deployment runs, with Lambda-shaped events.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib import config
from devserver.consumer import StreamConsumer

log = logging.getLogger("iceprod_tasks.background")


class Every:
    """Call ``job`` every ``seconds`` in a daemon thread until stopped."""

    def __init__(self, name: str, seconds: float, job: Callable[[], Any]) -> None:
        self._stop = threading.Event()
        self._job = job
        self._seconds = seconds
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._job()
            except Exception:
                log.exception("%s failed", self._thread.name)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def scheduled_event() -> dict[str, Any]:
    """An EventBridge "Scheduled Event", as a scheduled Lambda receives it."""
    return {
        "version": "0", "account": "000000000000", "region": config.REGION, "detail": {},
        "detail-type": "Scheduled Event", "source": "aws.events", "id": str(uuid.uuid4()),
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "resources": [],
    }


def start() -> list[Any]:
    """Start the consumer and the schedules; the handles to stop them."""
    from chalicelib.events import handlers

    workers: list[Any] = [StreamConsumer(handlers.count_tasks).start()]
    if config.QUEUE_SCHEDULE:
        workers.append(Every("queue-schedule", config.QUEUE_RATE_MINUTES * 60,
                             lambda: handlers.queue_tasks(scheduled_event(), None)).start())
    workers.append(Every("jobs-schedule", config.JOBS_RATE_MINUTES * 60,
                         lambda: handlers.run_jobs(scheduled_event(), None)).start())
    workers.append(Every("reconcile-schedule", config.RECONCILE_RATE_HOURS * 3600,
                         lambda: handlers.reconcile_counters(scheduled_event(), None)).start())
    if config.JANITOR_SCHEDULE:
        workers.append(Every("janitor-schedule", config.JANITOR_LOCAL_SECONDS,
                             lambda: handlers.run_janitor(scheduled_event(), None)).start())
    return workers


def stop(workers: list[Any]) -> None:
    for worker in workers:
        worker.stop()
