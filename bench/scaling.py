"""Write-sharded status keys: the same claims with STATUS_SHARDS = 1 and 4 (in process)."""

from __future__ import annotations

from bench.claims import in_process_costs
from bench.common import Figure


def run() -> None:
    from chalicelib import config

    results = {}
    for shards in (1, 4):
        config.STATUS_SHARDS = shards
        try:
            results[shards] = in_process_costs(16)
        finally:
            config.STATUS_SHARDS = 1
    for shards, (requests, conflicts, rate) in results.items():
        Figure(f"conditional-check failures per claim, STATUS_SHARDS={shards}", "lost races per claim",
               round(conflicts, 2), "failures").emit()
        Figure(f"claims/s with STATUS_SHARDS={shards}, K=16", "16 threads in process, 1000 queued tasks",
               round(rate, 1), "claims/s", round(results[1][2], 1), "STATUS_SHARDS=1").emit()
        Figure(f"DynamoDB requests per claim, STATUS_SHARDS={shards}", "Query pages + UpdateItems",
               round(requests, 2), "requests").emit()
