"""Consumed capacity (ReturnConsumedCapacity, as DynamoDB Local reports it; transactions priced
by AWS's rule) per claim, per queue move and per status change, the counters' share, and the
cost per million claims on demand."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.common import Figure, seed

#: us-east-1 on-demand prices after AWS's November 2024 reduction (check the pricing page).
USD_PER_MILLION_WRU = 0.625
USD_PER_MILLION_RRU = 0.125
READS = {"Query", "GetItem", "BatchGetItem", "Scan"}
_OPERATIONS = ("Query", "GetItem", "BatchGetItem", "Scan", "UpdateItem", "PutItem", "TransactWriteItems",
               "BatchWriteItem")


class Meter:
    """Asks every DynamoDB call of the models' clients for its consumed capacity, and sums it."""

    def __init__(self) -> None:
        from chalicelib import db
        from chalicelib.models import ALL_MODELS

        self.units: dict[str, float] = defaultdict(float)
        clients = {id(db.table(m).connection.client): db.table(m).connection.client for m in ALL_MODELS}
        for client in clients.values():
            for op in _OPERATIONS:
                client.meta.events.register(f"before-parameter-build.dynamodb.{op}", self._ask)
                client.meta.events.register(f"after-call.dynamodb.{op}", self._count)

    def _ask(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        if model.name == "TransactWriteItems":
            context["transact_items"] = len(params["TransactItems"])

    def _count(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems":
            # DynamoDB Local under-reports transactions (2 units for 6 items); AWS charges 2 WCU
            # per item of up to 1 KB written in a transaction.
            self.units["write"] += 2.0 * context.get("transact_items", 0)
            return
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            kind = "read" if model.name in READS else "write"
            self.units[kind] += entry.get("CapacityUnits", 0.0)

    def take(self) -> dict[str, float]:
        out = dict(self.units)
        self.units.clear()
        return {"read": out.get("read", 0.0), "write": out.get("write", 0.0)}


def _counters_cost(meter: Meter) -> dict[str, float]:
    from chalicelib.events import handlers
    from devserver.consumer import StreamConsumer

    meter.take()
    StreamConsumer(handlers.count_tasks).drain(max_rounds=1000)
    return meter.take()


def run() -> None:
    from chalicelib.errors import NotFound
    from chalicelib.services import claims, queueing, tasks

    meter = Meter()
    n = 200
    _counters_cost(meter)  # start from an applied stream
    seed(n, "queued")
    _counters_cost(meter)
    meter.take()
    done = 0
    while True:
        try:
            claims.claim_task({"cpu": 1}, {})
            done += 1
        except NotFound:
            break
    claim = meter.take()
    counters = _counters_cost(meter)
    seed(n, "waiting")
    _counters_cost(meter)
    moved = queueing.queue_tasks(n)
    queue = meter.take()
    ids = seed(n, "idle")
    _counters_cost(meter)
    for task_id in ids:
        tasks.set_status(task_id, tasks.iceprod2_change("suspended", reset_clears_failures=False))
    status = meter.take()
    per = {
        "claim": (claim, done),
        "queue move": (queue, moved),
        "status change (PUT status)": (status, n),
        "counters, per status change": (counters, done),
    }
    for what, (units, count) in per.items():
        Figure(f"capacity per {what}", f"sum of ConsumedCapacity over {count}, DynamoDB Local's accounting",
               round(units["write"] / count, 2), "write units").emit()
        Figure(f"capacity per {what} (reads)", f"sum of ConsumedCapacity over {count}",
               round(units["read"] / count, 2), "read units").emit()
    write = (claim["write"] + counters["write"]) / done
    read = (claim["read"] + counters["read"]) / done
    usd = write * USD_PER_MILLION_WRU + read * USD_PER_MILLION_RRU
    Figure("on-demand cost per million claims", f"({write:.2f} WRU x ${USD_PER_MILLION_WRU} + {read:.2f} RRU x "
           f"${USD_PER_MILLION_RRU}) per million, counters included", round(usd, 2), "USD").emit()
