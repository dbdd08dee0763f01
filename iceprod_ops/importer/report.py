"""What an import prints: per source file what became of its records, then the verification."""

from __future__ import annotations

import json
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from iceprod_ops.importer.checkpoint import Checkpoint
from iceprod_ops.importer.verify import Row

OUTCOMES = ("new", "written", "same", "replaced", "differs", "rejected")


@dataclass
class Result:
    checkpoint: Checkpoint
    rows: list[Row]

    @property
    def verified(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def incomplete(self) -> bool:
        return any(p.outcomes.get("rejected") or p.outcomes.get("differs") for p in self.checkpoint.sources.values())

    def json(self) -> str:
        return json.dumps({
            "sources": {name: {"records": p.done, **dict(p.outcomes)} for name, p in self.checkpoint.sources.items()},
            "verification": [{**vars(r), "ok": r.ok} for r in self.rows],
            "verified": self.verified,
        }, indent=2)

    def print(self, console: Console) -> None:
        imported = Table("source", "records", *OUTCOMES, title="imported", title_justify="left")
        for name, p in self.checkpoint.sources.items():
            imported.add_row(name, f"{p.done:,}", *(f"{p.outcomes.get(o, 0):,}" for o in OUTCOMES))
        console.print(imported)
        checked = Table("dataset", "status", "source", "target", "", title="verification (source vs target)",
                        title_justify="left")
        for r in self.rows:
            checked.add_row(r.dataset_id, r.what, f"{r.source:,}", f"{r.target:,}", "ok" if r.ok else "DIFFERENT")
        console.print(checked)
        console.print("verified: every count matches" if self.verified else "NOT verified: counts differ")
