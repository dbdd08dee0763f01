"""The tasks table: one item per task, keyed by ``task_id``.

Two global secondary indexes serve every read that is not by id:

* ``status-priority``: hash ``_status_key`` = ``"<status>#<shard>"``, range ``priority``. Listings
  by status, queueing (``waiting``, highest priority first) and claiming (``queued``). The shard
  suffix lets a later shard count spread one hot status over several partitions without a
  migration. Projection ALL: a status listing or a claim candidate needs the whole task (the
  claim filter reads ``requirements`` and the query params), and a task is small.
* ``dataset-name``: hash ``dataset_id``, range ``_name_key`` = ``"<name>/<job_index>"``. All
  tasks of a dataset, the tasks of one name (``begins_with``) and the task of one (name,
  job_index) pair (equality) are each one Query. Projection ALL for the dataset listings.

* ``leases`` (sparse): hash ``_lease_key`` = ``"<shard>"``, range ``_lease`` = the claim's
  deadline (epoch seconds). Only a task under a live claim carries them (every change out of
  the leased state removes them), so the janitor's ``_lease < now`` Query per shard reads the
  expired claims only, whatever the number of running tasks. Projection INCLUDE of what the
  janitor's conditional write needs (``instance_id``, ``status``, ``dataset_id``, ``failures``).

``_status_key`` and ``_name_key`` are derived on every write that changes their sources.
The stream (new and old images) feeds the counters.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from chalicelib import codec, config
from chalicelib.db import RetryingModel
from chalicelib.models.base import BaseMeta

STATUSES = ("idle", "waiting", "queued", "processing", "reset", "suspended", "failed", "complete")
STATUS_KEY = "_status_key"
NAME_KEY = "_name_key"
#: When the task was last written (milliseconds since the epoch): a bulk change that continues
#: as a job writes only tasks not changed since the request was accepted.
MODIFIED = "_mt"
#: Set on a task by the conversion of IceProd 2 data to IceProd 3's protocol, so that a
#: conversion run again after an interruption never converts a task twice.
CONVERTED = "_p3"
#: A live claim's deadline (epoch seconds) and its shard in the leases index.
LEASE = "_lease"
LEASE_KEY = "_lease_key"
LEASES_INDEX = "leases"
#: Attributes the service keeps for itself; never shown, never accepted from a client.
INTERNAL = frozenset({STATUS_KEY, NAME_KEY, MODIFIED, CONVERTED, LEASE, LEASE_KEY, codec.FLOATS})


def status_key(status: str, task_id: str) -> str:
    """The index key of a task's status: its write shard is fixed by its id."""
    shard = int(task_id[-4:], 16) % config.STATUS_SHARDS if config.STATUS_SHARDS > 1 else 0
    return f"{status}#{shard}"


def status_keys(status: str) -> list[str]:
    """Every shard key of one status, to read them all."""
    return [f"{status}#{shard}" for shard in range(config.STATUS_SHARDS)]


def name_key(name: str, job_index: int) -> str:
    """The dataset index's range key: tasks of a name share the ``"<name>/"`` prefix."""
    return f"{name}/{job_index}"


class StatusPriorityIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "status-priority"
        projection = AllProjection()

    status_key = UnicodeAttribute(hash_key=True, attr_name=STATUS_KEY)
    priority = NumberAttribute(range_key=True)


class DatasetIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "dataset-name"
        projection = AllProjection()

    dataset_id = UnicodeAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True, attr_name=NAME_KEY)


def lease_key(task_id: str) -> str:
    """The leases index key of a task: its shard is fixed by its id, as the status key's."""
    return str(int(task_id[-4:], 16) % config.LEASE_SHARDS if config.LEASE_SHARDS > 1 else 0)


def lease_keys() -> list[str]:
    return [str(shard) for shard in range(config.LEASE_SHARDS)]


class LeaseIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = LEASES_INDEX
        projection = IncludeProjection(["instance_id", "status", "dataset_id", "failures"])

    lease_key = UnicodeAttribute(hash_key=True, attr_name=LEASE_KEY)
    lease = NumberAttribute(range_key=True, attr_name=LEASE)


class Task(RetryingModel):
    """A task. Only the attributes that keys and conditions name are declared."""

    class Meta(BaseMeta):
        table_name = config.TASKS_TABLE
        stream_view_type = "NEW_AND_OLD_IMAGES"

    task_id = UnicodeAttribute(hash_key=True)
    dataset_id = UnicodeAttribute()
    status = UnicodeAttribute()
    status_key = UnicodeAttribute(attr_name=STATUS_KEY)
    name_key = UnicodeAttribute(attr_name=NAME_KEY)
    priority = NumberAttribute()
    name = UnicodeAttribute()
    job_index = NumberAttribute()

    by_status = StatusPriorityIndex()
    by_dataset = DatasetIndex()
    by_lease = LeaseIndex()
