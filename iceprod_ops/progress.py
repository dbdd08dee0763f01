"""Progress for long operations: a live bar on a terminal, plain periodic lines otherwise.

A bar is useless (and noisy) in a log file or a CI job, so when stderr is not a terminal the
same progress comes out as one line every few seconds. Progress always goes to stderr, so
stdout stays the result (a table, or JSON for scripts).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

PLAIN_EVERY_SECONDS = 5.0


class Meter(Protocol):
    def __call__(self, done: float, info: str) -> None: ...


def eta(started: float, fraction: float) -> str:
    if fraction <= 0:
        return "?"
    left = (time.monotonic() - started) * (1 - fraction) / fraction
    return f"{left:.0f} s"


@contextmanager
def meter(label: str, total: float, every: float = PLAIN_EVERY_SECONDS) -> Iterator[Meter]:
    """A function ``(done, info)`` reporting progress towards ``total`` units."""
    if sys.stderr.isatty():
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                      TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                      console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task(label, total=total or 1, info="")
            yield lambda done, info: bar.update(task, completed=done, info=info)
        return
    started = last = time.monotonic()
    state = {"done": 0.0, "info": ""}

    def plain(done: float, info: str) -> None:
        nonlocal last
        state.update(done=done, info=info)
        if time.monotonic() - last >= every:
            last = time.monotonic()
            fraction = done / total if total else 1.0
            print(f"{label}: {fraction:.0%} {info}, ETA {eta(started, fraction)}", file=sys.stderr, flush=True)

    yield plain
    print(f"{label}: done {state['info']}", file=sys.stderr, flush=True)
