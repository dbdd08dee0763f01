"""The task stats table (IceProd 3's ``task_stats``): hash ``dataset_id``, range ``stat_key`` =
``"<task_id>#<task_stat_id>"``.

Every read is one Query or one GetItem: a dataset's stats are its partition, read in key order,
which groups them by task id ascending (as IceProd's bulk answer) and, since stat ids sort in
the order they were made (:func:`chalicelib.ids.new_id`), in creation order within a task. One
task's stats are the same Query with ``begins_with(stat_key, "<task_id>#")``; its latest is that
Query backwards with ``Limit=1``; one stat is a GetItem.
"""

from pynamodb.attributes import UnicodeAttribute

from chalicelib import config
from chalicelib.db import RetryingModel
from chalicelib.models.base import BaseMeta

#: Attributes of an item that are keys only, never part of the record a client reads.
KEY_ONLY = frozenset({"stat_key"})


class TaskStat(RetryingModel):
    class Meta(BaseMeta):
        table_name = config.TASK_STATS_TABLE

    dataset_id = UnicodeAttribute(hash_key=True)
    stat_key = UnicodeAttribute(range_key=True)


def stat_key(task_id: str, task_stat_id: str = "") -> str:
    """The range key of a stat; without ``task_stat_id``, the prefix of all the task's stats."""
    return f"{task_id}#{task_stat_id}"
