"""After an import: does the target hold what the source held, per dataset and status?

The source side is what the import accepted (tallied in the checkpoint, so it survives a
resume). The target side is what operators will see: the service's counters, which the tasks
stream keeps (the deployed ``count_tasks`` Lambda, or ``make run``'s consumer). They trail the
writes, so the check waits for them up to a limit; where nothing consumes the stream (tables
filled before the service runs) ``reconcile`` recounts them from a scan first. Files are
counted per dataset with a Query.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from chalicelib import db
from chalicelib.models import DatasetFile
from chalicelib.services import counters
from iceprod_ops.importer.checkpoint import Checkpoint

FILES = "(files)"


@dataclass(frozen=True)
class Row:
    dataset_id: str
    what: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def source_counts(checkpoint: Checkpoint) -> tuple[Counter, Counter]:
    """(tasks per (dataset, status), files per dataset) that the import accepted."""
    tasks: Counter = Counter()
    files: Counter = Counter()
    for progress in checkpoint.sources.values():
        for key, count in progress.counts.items():
            dataset_id, sep, status = key.rpartition("|")
            if sep:
                tasks[(dataset_id, status)] += count
            else:
                files[status] += count
    return tasks, files


def _file_count(dataset_id: str) -> int:
    return sum(1 for _ in db.query_all(DatasetFile, dataset_id, attributes_to_get=["file_key"]))


def compare(tasks: Counter, files: Counter) -> list[Row]:
    """One row per (dataset, status) present on either side, then one per dataset's files."""
    rows = []
    for dataset_id in sorted({d for d, _ in tasks}):
        target = counters.dataset_status_counts(dataset_id)
        statuses = sorted({s for d, s in tasks if d == dataset_id} | set(target))
        rows.extend(Row(dataset_id, s, tasks.get((dataset_id, s), 0), target.get(s, 0)) for s in statuses)
    rows.extend(Row(d, FILES, files[d], _file_count(d)) for d in sorted(files))
    return rows


def verify(checkpoint: Checkpoint, wait_seconds: float, reconcile: bool) -> list[Row]:
    """The comparison, once it matches or once ``wait_seconds`` have passed."""
    if reconcile:
        counters.reconcile()
    tasks, files = source_counts(checkpoint)
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = compare(tasks, files)
        if all(r.ok for r in rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(1.0)
