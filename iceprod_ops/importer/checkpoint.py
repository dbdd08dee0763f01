"""Where an import is: per source file, how many records are settled, and what they counted.

"Settled" means every record before that position is stored, found identical, reported or
rejected. Records after it may be half done when the import is killed; the next run reads
them again, and the batched read before each write finds what is already there, so a resumed
import ends with the same table. The file is replaced atomically (write, fsync, rename).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iceprod_ops.importer.sources import Source, SourceError

VERSION = 1


@dataclass
class Progress:
    """One source file's settled prefix and its tallies."""

    size: int
    mtime_ns: int
    done: int = 0
    complete: bool = False
    outcomes: Counter = field(default_factory=Counter)
    #: Accepted records per "dataset_id|status" (tasks), "dataset_id|(task stats)",
    #: "dataset_id|(access)" or "dataset_id" (files).
    counts: Counter = field(default_factory=Counter)


class Checkpoint:
    """The checkpoint file of one import."""

    def __init__(self, path: Path, sources: dict[str, Progress], protocol: str) -> None:
        self.path = path
        self.sources = sources
        self.protocol = protocol

    @classmethod
    def load(cls, path: Path, sources: list[Source], protocol: str, restart: bool) -> Checkpoint:
        """The saved state, or a fresh one; refuses to resume over changed source files."""
        fresh = {str(s.path.resolve()): _stamp(s) for s in sources}
        if restart or not path.exists():
            return cls(path, fresh, protocol)
        saved = json.loads(path.read_text())
        if saved.get("version") != VERSION or saved.get("protocol") != protocol:
            raise SourceError(f"{path}: a checkpoint of another importer version or protocol; --restart to start over")
        for name, progress in fresh.items():
            old = saved["sources"].get(name)
            if old is None:
                continue
            if (old["size"], old["mtime_ns"]) != (progress.size, progress.mtime_ns):
                raise SourceError(f"{name} changed since the checkpoint {path} was written; --restart to start over")
            fresh[name] = Progress(old["size"], old["mtime_ns"], old["done"], old["complete"],
                                   Counter(old["outcomes"]), Counter(old["counts"]))
        return cls(path, fresh, protocol)

    def of(self, source: Source) -> Progress:
        return self.sources[str(source.path.resolve())]

    def save(self) -> None:
        state: dict[str, Any] = {
            "version": VERSION,
            "protocol": self.protocol,
            "sources": {name: {**vars(p), "outcomes": dict(p.outcomes), "counts": dict(p.counts)}
                        for name, p in self.sources.items()},
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w") as out:
            json.dump(state, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)


def _stamp(source: Source) -> Progress:
    stat = source.path.stat()
    return Progress(stat.st_size, stat.st_mtime_ns)
