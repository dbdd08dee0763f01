"""The background jobs of ``make run``: what AWS runs as stream and scheduled Lambdas."""

from __future__ import annotations

import threading


def start() -> list[threading.Thread]:
    """Start the local stand-ins of the event handlers (none yet)."""
    return []


def stop(workers: list[threading.Thread]) -> None:
    for worker in workers:
        worker.join(timeout=5)
