"""Structured logs and CloudWatch metrics, per request.

* Logs: one JSON object per line, with the request id and route template of the request being
  served on every line (``contextvars``, so threads of ``make run`` keep theirs apart).
* Metrics: CloudWatch embedded metric format (EMF): one JSON line per request that CloudWatch
  Logs turns into metrics, no API call and no agent. Dimensions are the route *template*
  (``/tasks/{task_id}``), never the raw path, so per-task paths cannot explode the metric count.
  Services add counts (claims, claim conflicts, queue moves, failures by reason class) to the
  current request's record.

Hand-written rather than Powertools for Lambda: its Logger and Metrics cost 60-140 ms of import
here, against about 185 ms for the whole app (see docs/performance.md, cold start).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections import Counter
from typing import Any

from chalicelib import config

NAMESPACE = "IceProdTasks"
_request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("request", default=None)


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", "route", ...}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        current = _request.get() or {}
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": current.get("request_id"),
            "route": current.get("route"),
        }
        line.update(getattr(record, "fields", None) or {})  # ``extra={"fields": {...}}``: numbers of a job
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def setup_logging() -> None:
    """JSON lines on stderr for the service's loggers (idempotent)."""
    logger = logging.getLogger("iceprod_tasks")
    if any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(config.LOG_LEVEL)
    logger.propagate = False


def start_request(request_id: str, route: str, method: str) -> contextvars.Token:
    return _request.set({"request_id": request_id, "route": route, "method": method,
                         "start": time.perf_counter(), "counts": Counter()})


def count(metric: str, value: float = 1) -> None:
    """Add to a metric of the current request (a no-op outside a request)."""
    current = _request.get()
    if current is not None:
        current["counts"][metric] += value


def end_request(token: contextvars.Token, status: int) -> None:
    """Emit the request's EMF record and forget the request."""
    current = _request.get()
    _request.reset(token)
    if current is None:
        return
    latency = (time.perf_counter() - current["start"]) * 1000
    metrics = {"Requests": 1, "Latency": round(latency, 3), f"Status{status // 100}xx": 1, **current["counts"]}
    units = {name: "Milliseconds" if name == "Latency" else "Count" for name in metrics}
    record = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Route", "Method"]],
                "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
            }],
        },
        "Route": current["route"],
        "Method": current["method"],
        "request_id": current["request_id"],
        **metrics,
    }
    print(json.dumps(record), file=sys.stdout, flush=True)
