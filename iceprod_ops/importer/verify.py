"""After an import: does the target hold what the source held, per dataset and status?

The source side is what the import accepted (tallied in the checkpoint, so it survives a
resume). The target side is what operators will see: for tasks, the service's counters, which
the tasks stream keeps (the deployed ``count_tasks`` Lambda, or ``make run``'s consumer). They
trail the writes, so the check waits for them up to a limit; where nothing consumes the stream
(tables filled before the service runs) ``reconcile`` recounts them from a scan first. Files and
task stats are counted per dataset with a Query of the dataset's partition, access records (one
per dataset) with a GetItem.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import db
from chalicelib.models import DatasetFile, TaskStat
from chalicelib.services import access, counters
from iceprod_ops.importer.checkpoint import Checkpoint
from iceprod_ops.importer.convert import ACCESS, TASK_STATS

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


def source_counts(checkpoint: Checkpoint) -> Counter:
    """What the import accepted per (dataset, what): a task status, :data:`FILES`, task stats or
    access records. Files are tallied as ``dataset_id`` alone, everything else as
    ``dataset_id|what``."""
    counted: Counter = Counter()
    for progress in checkpoint.sources.values():
        for key, count in progress.counts.items():
            dataset_id, sep, what = key.rpartition("|")
            counted[(dataset_id, what) if sep else (what, FILES)] += count
    return counted


def _partition_size(model: type[DatasetFile] | type[TaskStat], dataset_id: str, range_key: str) -> int:
    return sum(1 for _ in db.query_all(model, dataset_id, attributes_to_get=[range_key]))


#: How the target's count of each kind of record is read, in the order the rows are shown.
TARGETS: dict[str, Callable[[str], int]] = {
    FILES: lambda dataset_id: _partition_size(DatasetFile, dataset_id, "file_key"),
    TASK_STATS: lambda dataset_id: _partition_size(TaskStat, dataset_id, "stat_key"),
    ACCESS: lambda dataset_id: int(access.stored_record(dataset_id) is not None),
}


def compare(counted: Counter) -> list[Row]:
    """One row per (dataset, status) present on either side, then one per dataset and kind of
    other record."""
    tasks = {key: n for key, n in counted.items() if key[1] not in TARGETS}
    rows = []
    for dataset_id in sorted({d for d, _ in tasks}):
        target = counters.dataset_status_counts(dataset_id)
        statuses = sorted({s for d, s in tasks if d == dataset_id} | set(target))
        rows.extend(Row(dataset_id, s, tasks.get((dataset_id, s), 0), target.get(s, 0)) for s in statuses)
    others = sorted((key for key in counted if key[1] in TARGETS), key=lambda k: (list(TARGETS).index(k[1]), k[0]))
    rows.extend(Row(d, what, counted[(d, what)], TARGETS[what](d)) for d, what in others)
    return rows


def verify(checkpoint: Checkpoint, wait_seconds: float, reconcile: bool) -> list[Row]:
    """The comparison, once it matches or once ``wait_seconds`` have passed."""
    if reconcile:
        counters.reconcile()
    counted = source_counts(checkpoint)
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = compare(counted)
        if all(r.ok for r in rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(1.0)
