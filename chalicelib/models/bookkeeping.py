"""The bookkeeping table (deployed as the counters table): hash ``pk``, range ``sk``, TTL ``ttl``.

It holds what the service keeps about its tasks rather than the tasks themselves; this module
owns every key of it, so no other module spells one:

* counts, kept by the tasks stream: ``("all", "status")`` for the whole table,
  ``("ds#<dataset_id>", "status")`` for one dataset, ``("ds#<dataset_id>", "name#<name>")`` for
  one task name of a dataset, with ``name`` and ``task_index`` for ordering. Each holds a number
  attribute a status (``<status>``: every task), and the same count of each gpu class
  (``<status>#gpu``, ``<status>#cpu``: :func:`count_attribute`), so IceProd 3's ``gpu`` filter
  reads one item too;
* ``("applied#<eventID>", "-")``: a stream record already counted, written in the same
  transaction as its counts (``ttl`` expires it after the stream's 24 h retention);
* bulk jobs: ``("job#<id>", "meta")`` (kind, payload, progress), its ids in
  ``("job#<id>", "chunk#NNNNN")``, and the running jobs listed under ``("jobs", "<id>")``;
* ``("datasets", "<dataset_id>")``: a dataset listed by ``GET /datasets`` (key only; kept by the
  stream with the counts, see :mod:`chalicelib.services.dataset_index`);
* ``("consumer", "<stream>#<shard id>")``: where ``make run``'s stream consumer stopped reading;
* ``("access#<dataset_id>", "-")``: who may read and change a dataset under IceProd 3 (its
  ``read_groups``, ``write_groups``, ``read_users``, ``write_users``; see
  :mod:`chalicelib.services.access`);
* ``("protocol", "-")``: which IceProd protocol the tables hold (``version``), and
  ``("protocol", "conversion")``: where a conversion from IceProd 2 stopped (see
  :mod:`chalicelib.services.protocol_marker` and :mod:`chalicelib.services.conversion`);
* ``("dataset_settings", "<dataset_id>")``: a dataset's janitor settings (``debug``: its
  ``reset`` tasks are suspended, not retried), set through ``PUT /datasets/{id}/janitor_settings``;
* ``("janitor", "sweep#<status key>")``: where the janitor's last sweep of a status shard
  stopped (IceProd 3's opt-in retry cap), so the next run resumes there;
* ``("ds#<dataset_id>", "failures")``: a dataset's ``failed`` tasks by the class of their last
  failure (one number attribute a class), kept by the stream with the counts.

The table keeps its deployed name, logical id and ``COUNTERS_TABLE`` setting: it is retained data.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib import config
from chalicelib.db import RetryingModel
from chalicelib.models.base import BaseMeta

Key = tuple[str, str]

ALL_COUNTS: Key = ("all", "status")
_DATASET = "ds#"
#: Range key prefixes: a dataset's name count items, a job's chunks.
NAME_COUNTS_PREFIX = "name#"
CHUNK_PREFIX = "chunk#"
JOBS = "jobs"
CONSUMER = "consumer"
#: The partition of the dataset index: one key-only item per dataset.
DATASETS = "datasets"
_ACCESS = "access#"
#: Which protocol wrote the tables, and the checkpoint of a conversion to IceProd 3's.
PROTOCOL_MARKER: Key = ("protocol", "-")
CONVERSION_CHECKPOINT: Key = ("protocol", "conversion")


class Bookkeeping(RetryingModel):
    class Meta(BaseMeta):
        table_name = config.COUNTERS_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ttl = NumberAttribute(null=True)


#: The gpu classes of IceProd 3's ``gpu`` count filter (``requirements.gpu`` a number >= 1, or
#: absent or a number <= 0); a task of neither class is in its status's total only.
GPU, CPU = "gpu", "cpu"
GPU_CLASSES = (GPU, CPU)


def count_attribute(status: str, gpu_class: str | None = None) -> str:
    """The attribute of a count item holding ``status``'s count, of one gpu class when given."""
    return status if gpu_class is None else f"{status}#{gpu_class}"


def dataset_partition(dataset_id: str) -> str:
    """The hash key of every count item of one dataset (one Query reads its names)."""
    return f"{_DATASET}{dataset_id}"


def dataset_counts(dataset_id: str) -> Key:
    return (dataset_partition(dataset_id), "status")


def name_counts(dataset_id: str, name: str) -> Key:
    return (dataset_partition(dataset_id), f"{NAME_COUNTS_PREFIX}{name}")


def counted_dataset(key: Key) -> str | None:
    """The dataset whose counts item this is (None: another item)."""
    return key[0][len(_DATASET):] if key[0].startswith(_DATASET) and key[1] == "status" else None


def is_name_counts(key: Key) -> bool:
    return key[1].startswith(NAME_COUNTS_PREFIX)


def is_counts(key: Key) -> bool:
    """Whether an item of this table is a count item (reconciliation compares only those)."""
    return key[0] == ALL_COUNTS[0] or key[0].startswith(_DATASET)


def dataset_listing(dataset_id: str) -> Key:
    """A dataset's entry in the dataset index."""
    return (DATASETS, dataset_id)


def applied_marker(event_id: str) -> Key:
    return (f"applied#{event_id}", "-")


def job_partition(job_id: str) -> str:
    return f"job#{job_id}"


def job_meta(job_id: str) -> Key:
    return (job_partition(job_id), "meta")


def job_chunk(job_id: str, n: int) -> Key:
    return (job_partition(job_id), f"{CHUNK_PREFIX}{n:05d}")


def job_listing(job_id: str) -> Key:
    """A running job's entry in the list the job runner reads."""
    return (JOBS, job_id)


def consumer_checkpoint(stream_arn: str, shard_id: str) -> Key:
    return (CONSUMER, f"{stream_arn.rsplit('/', 1)[-1]}#{shard_id}")


def dataset_access(dataset_id: str) -> Key:
    """A dataset's access record (IceProd 3's read/write groups and users)."""
    return (f"{_ACCESS}{dataset_id}", "-")
def dataset_settings(dataset_id: str) -> Key:
    """A dataset's janitor settings."""
    return ("dataset_settings", dataset_id)


def sweep_cursor(status_key: str) -> Key:
    """Where the janitor's sweep of one status shard stopped."""
    return ("janitor", f"sweep#{status_key}")


def failure_counts(dataset_id: str) -> Key:
    """A dataset's failed tasks by failure class."""
    return (dataset_partition(dataset_id), "failures")


def is_failure_counts(key: Key) -> bool:
    return key[0].startswith(_DATASET) and key[1] == "failures"
