"""Bulk changes too large for one request (status, requirements), finished as jobs.

A request changes what it can within ``REQUEST_WORK_SECONDS`` (API Gateway gives 29 s; one
status key takes about 1,000 writes/s on AWS, so 100,000 tasks cannot fit). The rest is written
down before the request answers: a job item and its ids in chunks, in the bookkeeping table
(keys in :mod:`chalicelib.models.bookkeeping`: a meta item, chunk items, and an entry in the list
of running jobs).
The ``run_jobs`` schedule (every ``JOBS_RATE_MINUTES``) takes chunks with a conditional write
(a lease, so two runs never take the same chunk; an expired lease is taken again), applies them
and records progress. ``GET /task_actions/jobs/{job_id}`` tells a client where a job stands.
Nothing is half-applied without a trace: a change is either done by the request, or listed in a
chunk until a run has done it. Status changes are idempotent, so a chunk retried after a crash
does no harm.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalicelib import codec, config, db
from chalicelib.errors import NotFound
from chalicelib.ids import new_id
from chalicelib.models import Bookkeeping, bookkeeping
from chalicelib.services import requirements, store, tasks
from chalicelib.services.store import attr

log = logging.getLogger("iceprod_tasks.jobs")
CHUNK = 2000  # ids per chunk item: ~70 KB, far inside DynamoDB's 400 KB
BATCH = 500  # ids per step of a request or a run
LEASE_SECONDS = 600
TTL_SECONDS = 14 * 86400


def _batches(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _apply(kind: str, ids: list[str], payload: dict[str, Any], dataset_id: str | None, accepted: int | None) -> int:
    """Apply one batch of a job's kind to the tasks not written since the request was
    ``accepted`` (milliseconds): a change made meanwhile (a claim, a report) is never undone.
    How many tasks it changed."""
    if kind == "bulk_status":
        change = tasks.StatusChange.from_payload(payload)
        return tasks.bulk_set_status(ids, change, dataset_id, require_match=False, unchanged_since=accepted)
    if "rule" not in payload:  # a job written before rules were stored: IceProd 2's raise
        payload = {"rule": "raise", "body": payload}
    return requirements.raise_tasks(ids, payload["body"], unchanged_since=accepted, rule=payload["rule"])


def _start(kind: str, ids: list[str], payload: dict[str, Any], dataset_id: str | None) -> dict[str, Any] | None:
    """Do what fits in the request; write the rest down as a job. None when all is done."""
    accepted = store.now_ms()
    deadline = time.monotonic() + config.REQUEST_WORK_SECONDS
    changed = 0
    pending = _batches(list(dict.fromkeys(ids)), BATCH)
    while pending and time.monotonic() < deadline:
        changed += _apply(kind, pending.pop(0), payload, dataset_id, accepted)
    if not pending:
        return {"changed": changed}
    rest = [i for batch in pending for i in batch]
    job_id = _create_job(kind, rest, payload, dataset_id, changed, accepted)
    return {"job": job_id, "changed": changed, "remaining": len(rest)}


def bulk_status(ids: list[str], change: tasks.StatusChange, dataset_id: str | None,
                not_found: str | None = "no matching tasks") -> dict[str, Any]:
    """Change what fits in the request; the rest becomes a job. Raises ``NotFound(not_found)``
    when nothing matched and nothing is left (the synchronous answer's rule; None: never)."""
    outcome = _start("bulk_status", ids, change.to_payload(), dataset_id)
    if "job" not in outcome and not outcome["changed"] and not_found is not None:
        raise NotFound(not_found)
    return outcome


def bulk_requirements(dataset_id: str, task_name: str, body: dict[str, Any], rule: str = "raise",
                      not_found: str | None = None) -> dict[str, Any]:
    """Change the requirements of a name's tasks by ``rule`` (IceProd 2 raises; IceProd 3's PATCH
    overwrites, its POST replaces): what fits in the request, the rest as a job."""
    ids = requirements.tasks_named(dataset_id, task_name, not_found)
    return _start("bulk_requirements", ids, {"rule": rule, "body": body}, dataset_id)


def _create_job(kind: str, ids: list[str], payload: dict[str, Any], dataset_id: str | None, changed: int,
                accepted: int) -> str:
    job_id = new_id()
    expires = {"N": str(int(time.time()) + TTL_SECONDS)}
    chunks = _batches(ids, CHUNK)
    for n, chunk in enumerate(chunks):
        db.put_item(Bookkeeping, *bookkeeping.job_chunk(job_id, n), attributes={
            "ids": {"L": [{"S": i} for i in chunk]}, "state": {"S": "pending"}, "ttl": expires})
    meta = {"kind": {"S": kind}, "payload": codec.encode(payload), "state": {"S": "running"},
            "total": {"N": str(len(ids) + changed)}, "changed": {"N": str(changed)},
            "chunks": {"N": str(len(chunks))}, "done_chunks": {"N": "0"}, "ttl": expires,
            "created": {"N": str(int(time.time()))}, "accepted": {"N": str(accepted)}}
    if dataset_id is not None:
        meta["dataset_id"] = {"S": dataset_id}
    db.put_item(Bookkeeping, *bookkeeping.job_meta(job_id), attributes=meta)
    db.put_item(Bookkeeping, *bookkeeping.job_listing(job_id), attributes={"ttl": expires})  # last: it is complete
    log.info("%s job %s: %d ids left for the job runner", kind, job_id, len(ids))
    return job_id


def job_state(job_id: str, dataset_id: str | None = None) -> dict[str, Any]:
    """``{"job", "state", "total", "changed", "remaining_chunks"}`` of a job (of a dataset)."""
    item = db.get_item(Bookkeeping, *bookkeeping.job_meta(job_id), consistent_read=True)
    if not item or (dataset_id is not None and item.get("dataset_id", {}).get("S") != dataset_id):
        raise NotFound(f"job {job_id} not found")
    return {
        "job": job_id,
        "state": item["state"]["S"],
        "total": int(item["total"]["N"]),
        "changed": int(item["changed"]["N"]),
        "remaining_chunks": int(item["chunks"]["N"]) - int(item["done_chunks"]["N"]),
    }


def run_jobs(seconds: float | None = None) -> int:
    """Apply pending chunks of every running job within ``seconds``; chunks applied."""
    deadline = time.monotonic() + (config.JOB_WORK_SECONDS if seconds is None else seconds)
    applied = 0
    for item in db.query_all(Bookkeeping, bookkeeping.JOBS):
        job_id = item["sk"]["S"]
        applied += _run_job(job_id, deadline)
        if time.monotonic() > deadline:
            break
    return applied


def _run_job(job_id: str, deadline: float) -> int:
    meta = db.get_item(Bookkeeping, *bookkeeping.job_meta(job_id), consistent_read=True)
    if meta is None:
        return 0
    kind, dataset_id = meta["kind"]["S"], meta.get("dataset_id", {}).get("S")
    payload = codec.decode(meta["payload"])
    accepted = int(meta["accepted"]["N"]) if "accepted" in meta else None  # jobs written before the stamp
    applied = 0
    chunks = Bookkeeping.sk.startswith(bookkeeping.CHUNK_PREFIX)
    for chunk in db.query_all(Bookkeeping, bookkeeping.job_partition(job_id), consistent_read=True,
                              range_key_condition=chunks):
        if chunk["state"]["S"] == "done" or time.monotonic() > deadline:
            continue
        key = (chunk["pk"]["S"], chunk["sk"]["S"])
        if not _lease(key):
            continue
        ids = [i["S"] for i in chunk["ids"]["L"]]
        changed = sum(_apply(kind, batch, payload, dataset_id, accepted) for batch in _batches(ids, BATCH))
        _finish_chunk(job_id, key, changed)
        applied += 1
    _close_if_done(job_id)
    return applied


def _lease(chunk: bookkeeping.Key) -> bool:
    """Take a chunk: pending, or running with an expired lease (a run that died)."""
    now = int(time.time())
    expired = (attr("state") == {"S": "running"}) & (attr("lease") < {"N": str(now)})
    condition = attr("ids").exists() & ((attr("state") == {"S": "pending"}) | expired)
    return db.update_if(Bookkeeping, *chunk, actions=[attr("state").set({"S": "running"}),
                                                      attr("lease").set({"N": str(now + LEASE_SECONDS)})],
                        condition=condition)


def _finish_chunk(job_id: str, chunk: bookkeeping.Key, changed: int) -> None:
    db.update_item(Bookkeeping, *chunk, actions=[attr("state").set({"S": "done"})])
    db.update_item(Bookkeeping, *bookkeeping.job_meta(job_id), actions=[attr("changed").add({"N": str(changed)}),
                                                                        attr("done_chunks").add({"N": "1"})])


def _close_if_done(job_id: str) -> None:
    state = job_state(job_id)
    if state["remaining_chunks"] == 0 and state["state"] == "running":
        db.update_item(Bookkeeping, *bookkeeping.job_meta(job_id), actions=[attr("state").set({"S": "done"})])
        db.delete_item(Bookkeeping, *bookkeeping.job_listing(job_id))
        log.info("job %s done: %d changed of %d", job_id, state["changed"], state["total"])
