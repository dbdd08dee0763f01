"""The import loop: read, convert, store in parallel batches, settle in order, checkpoint.

Batches are converted and stored by a thread pool (the database calls wait on the network) and
settled strictly in source order: a batch's tallies, reports and the checkpoint advance only
once every batch before it is stored, so the checkpoint never claims a record that is not.
At most ``2 x parallel`` batches are in flight, which bounds memory on any export size.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import json_util

from chalicelib import protocol as served
from chalicelib.errors import Invalid
from chalicelib.services import protocol_marker
from iceprod_ops.importer.checkpoint import Checkpoint, Progress
from iceprod_ops.importer.convert import PROTOCOLS, Protocol
from iceprod_ops.importer.sources import BadRecord, Source, SourceError, records
from iceprod_ops.importer.writer import BATCH, STORERS, Entry, Outcome
from iceprod_ops.progress import meter

SAVE_EVERY_SECONDS = 1.0


class TargetRefused(Exception):
    """The target tables hold another protocol's data (or are being converted), or this
    process builds another protocol's items."""


@dataclass
class Options:
    checkpoint: Path
    rejects: Path
    protocol: str = "2"
    replace: bool = False
    parallel: int = 16
    restart: bool = False


@dataclass
class Batch:
    """Records of one source in order: the convertible ones to store, the others to reject."""

    raw: list[tuple[int, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    end: int = 0

    def __len__(self) -> int:
        return len(self.raw) + len(self.rejected)


class Rejects:
    """The reject file (JSON lines): bad records and reported differences, with the reason.

    Lines are written when their batch settles; a resumed import first drops the lines past
    the checkpoint, which it is about to write again.
    """

    def __init__(self, path: Path, checkpoint: Checkpoint) -> None:
        self.path = path
        kept = []
        if path.exists() and not all(p.done == 0 for p in checkpoint.sources.values()):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                progress = checkpoint.sources.get(row["source"])
                if progress is not None and (progress.complete or row["position"] < progress.done):
                    kept.append(line + "\n")
        path.write_text("".join(kept))

    def write(self, source: Source, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        name = str(source.path.resolve())
        with self.path.open("a") as out:
            for row in sorted(rows, key=lambda r: r["position"]):
                out.write(json.dumps({"source": name, "collection": source.collection, **row}) + "\n")


def convert_batch(protocol: str, collection: str, raw: list[tuple[int, Any]]) -> tuple[list[Entry], list[dict]]:
    """Documents as items, or the reasons they cannot be imported."""
    convert = PROTOCOLS[protocol].converters[collection]
    entries, rejected = [], []
    for position, record in raw:
        try:
            entries.append(Entry(position, convert(record)))
        except Invalid as error:
            rejected.append({"position": position, "kind": "rejected", "reason": str(error),
                             "task_id": str(record.get("task_id", "")), "record": json_util.dumps(record)[:100_000]})
    return entries, rejected


def importable(sources: list[Source], protocol: Protocol) -> list[Source]:
    """The sources this protocol imports, tasks first; the others are named and skipped."""
    chosen = []
    for source in sources:
        if source.collection in protocol.collections:
            chosen.append(source)
        else:
            why = protocol.not_read.get(source.collection, f"not a collection {protocol.name} imports")
            print(f"skipped {source.path}: {why}", file=sys.stderr)
    if not chosen:
        raise SourceError(f"nothing to import: {protocol.name} imports {', '.join(protocol.collections)}")
    return sorted(chosen, key=lambda s: protocol.collections.index(s.collection))


def import_all(sources: list[Source], options: Options) -> Checkpoint:
    """Import every source, resuming from the checkpoint; the final checkpoint (tallies).

    The tables must be (or become) the imported protocol's: IceProd 2 data written into tables
    a protocol 3 deployment serves would be read with the other state machine. The process must
    serve that protocol too, since items are built by the service's code under its rules
    (``iceprod-tasks import --protocol`` sets ``ICEPROD_API_VERSION`` before that code loads).
    """
    protocol = PROTOCOLS[options.protocol]
    if served.CURRENT.version != options.protocol:
        raise TargetRefused(f"this process builds IceProd {served.CURRENT.version}'s items: import "
                            f"{protocol.name} data with ICEPROD_API_VERSION={options.protocol}")
    refused = protocol_marker.decide(options.protocol)
    if refused is not None:
        raise TargetRefused(refused)
    sources = importable(sources, protocol)
    checkpoint = Checkpoint.load(options.checkpoint, sources, options.protocol, options.restart)
    rejects = Rejects(options.rejects, checkpoint)
    with _collector_for_a_batch_job():
        for source in sources:
            _SourceImport(source, checkpoint, rejects, options).run()
    return checkpoint


@contextmanager
def _collector_for_a_batch_job() -> Iterator[None]:
    """Python's cycle collector tuned for the import, then restored.

    The import makes millions of short-lived dicts that form no cycles, and each of the
    collector's full passes walks every object loaded before (modules, botocore's service
    models) again. Those are frozen out of its reach, and its young generation is larger:
    ``python -m bench.importer`` measured about 15% less CPU in the importing process.
    """
    ours = gc.get_freeze_count() == 0  # a host process that froze its own objects keeps them frozen
    if ours:
        gc.collect()
        gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(20_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if ours:
            gc.unfreeze()


class _SourceImport:
    """One source file's import."""

    def __init__(self, source: Source, checkpoint: Checkpoint, rejects: Rejects, options: Options) -> None:
        self.source, self.checkpoint, self.rejects = source, checkpoint, rejects
        self.options = options
        self.progress: Progress = checkpoint.of(source)
        self.store = STORERS[source.collection]
        self.inflight: deque[tuple[Future[Outcome], Batch]] = deque()
        self.saved = 0.0

    def run(self) -> None:
        if self.progress.complete:
            return
        pool = ThreadPoolExecutor(self.options.parallel, thread_name_prefix="import")
        try:
            self._read_and_store(pool)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        self.progress.complete = True
        self.checkpoint.save()

    def _read_and_store(self, pool: ThreadPoolExecutor) -> None:
        started, first = time.monotonic(), self.progress.done
        position = self.progress.done
        batch = Batch()
        with meter(f"{self.source.path.name}", self.source.size) as show:
            for record, offset in records(self.source.path, skip=self.progress.done):
                self._add(batch, position, record)
                position += 1
                if len(batch) >= BATCH:
                    batch.end = position
                    self._submit(pool, batch)
                    batch = Batch()
                rate = (position - first) / max(time.monotonic() - started, 1e-6)
                show(offset, f"{position:,} records, {rate:,.0f}/s")
            batch.end = position
            self._submit(pool, batch)
            while self.inflight:
                self._settle()

    def _add(self, batch: Batch, position: int, record: Any) -> None:
        if isinstance(record, BadRecord):
            batch.rejected.append({"position": position, "kind": "rejected", "reason": str(record),
                                   "record": record.raw})
        else:
            batch.raw.append((position, record))

    def _convert_and_store(self, batch: Batch) -> Outcome:
        entries, rejected = convert_batch(self.options.protocol, self.source.collection, batch.raw)
        batch.rejected.extend(rejected)
        return self.store(entries, self.options.replace)

    def _submit(self, pool: ThreadPoolExecutor, batch: Batch) -> None:
        future = pool.submit(self._convert_and_store, batch)
        self.inflight.append((future, batch))
        while len(self.inflight) >= 2 * self.options.parallel or (self.inflight and self.inflight[0][0].done()):
            self._settle()

    def _settle(self) -> None:
        """The oldest batch's outcome becomes part of the checkpointed prefix."""
        future, batch = self.inflight.popleft()
        outcome = future.result()
        self.progress.done = batch.end
        self.progress.outcomes.update(outcome.outcomes)
        if batch.rejected:
            self.progress.outcomes["rejected"] += len(batch.rejected)
        self.progress.counts.update(outcome.counts)
        self.rejects.write(self.source, outcome.reports + batch.rejected)
        if time.monotonic() - self.saved >= SAVE_EVERY_SECONDS or not self.inflight:
            self.checkpoint.save()
            self.saved = time.monotonic()
