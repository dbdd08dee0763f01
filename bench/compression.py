"""gzip answers: how much smaller a page is, what it costs in latency, and how IceProd-shaped
tasks (random 32-hex ids, which the bench dataset's tasks lack) compress."""

from __future__ import annotations

import base64
import gzip
import json
import random
import statistics
import time
import uuid
from typing import Any

from bench.common import Figure, median_ms
from bench.counts import BIG
from chalicelib.routes.encoding import LEVEL

PAGE = 10_000


def _iceprod_task(i: int, dataset_id: str, rng: random.Random) -> dict[str, Any]:
    """A task as IceProd stores one: uuid ids, a dependency, requirements, run statistics."""
    return {
        "dataset_id": dataset_id, "job_id": uuid.uuid4().hex, "task_index": i % 3, "job_index": i // 3,
        "name": ("generate", "detector", "filter")[i % 3], "depends": [uuid.uuid4().hex] if i % 3 else [],
        "requirements": {"cpu": 1, "gpu": int(i % 3 == 1), "memory": 3.5, "disk": 10.0, "time": 2.0},
        "status": rng.choice(("waiting", "queued", "processing", "complete", "failed")),
        "priority": round(rng.random(), 6), "failures": rng.randint(0, 3), "evictions": 0,
        "walltime": round(rng.random() * 3, 6), "walltime_err": 0.0, "walltime_err_n": 0,
        "site": rng.choice(("", "NPX", "GLOW", "OSG")), "task_id": uuid.uuid4().hex,
        "status_changed": f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00",
    }


def _ratio(body: bytes) -> tuple[float, float]:
    """(JSON bytes per compressed byte, the same once base64-encoded as Lambda returns it)."""
    packed = gzip.compress(body, LEVEL, mtime=0)
    return len(body) / len(packed), len(body) / len(base64.b64encode(packed))


def run(server: Any) -> None:
    rng = random.Random(7)
    dataset = uuid.uuid4().hex
    body = json.dumps({"tasks": [_iceprod_task(i, dataset, rng) for i in range(PAGE)]}, separators=(",", ":")).encode()
    start = time.perf_counter()
    gzip_ratio, lambda_ratio = _ratio(body)
    seconds = time.perf_counter() - start
    Figure(f"gzip on {PAGE} IceProd-shaped tasks", f"{len(body)} bytes of JSON / gzip level {LEVEL} (base64: "
           f"{lambda_ratio:.2f}x, what moves the Lambda cap); {len(body) / seconds / 1e6:.0f} MB/s",
           round(gzip_ratio, 2), "x").emit()

    url = f"{server.url}/datasets/big/tasks?limit={PAGE}"
    s = server.session()
    plain = s.get(url, headers={"Accept-Encoding": "identity"})
    packed = s.get(url, stream=True)
    wire = len(packed.raw.read(decode_content=False))
    Figure(f"bytes of a {PAGE}-task page of the {BIG}-task dataset, gzip", "Content-Length with "
           "Accept-Encoding: gzip (python-requests' default)", wire, "bytes", len(plain.content),
           "Accept-Encoding: identity").emit()
    packed, plain = [], []
    for _ in range(10):  # alternated, so DynamoDB Local's drift weighs on both alike
        packed.append(median_ms(lambda: s.get(url).raise_for_status(), 1))
        plain.append(median_ms(lambda: s.get(url, headers={"Accept-Encoding": "identity"}).raise_for_status(), 1))
    Figure(f"latency of a {PAGE}-task page, gzip", "median of 10 alternated, keep-alive HTTP on localhost "
           "(compress + decompress; no network to save)", round(statistics.median(packed), 2), "ms",
           round(statistics.median(plain), 2), "uncompressed").emit()
