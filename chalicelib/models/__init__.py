"""PynamoDB models: the tables, their keys and indexes.

The models declare what DynamoDB must know (keys, index keys, the attributes conditions name);
task documents carry keys the models do not declare, so services read and write whole items
through :mod:`chalicelib.db` (the model's own connection) and :mod:`chalicelib.codec`.
"""

from chalicelib.models.bookkeeping import Bookkeeping
from chalicelib.models.files import DatasetFile
from chalicelib.models.task_stats import TaskStat
from chalicelib.models.tasks import Task

ALL_MODELS = (Task, DatasetFile, Bookkeeping, TaskStat)

__all__ = ["ALL_MODELS", "Bookkeeping", "DatasetFile", "Task", "TaskStat", "create_tables"]


def create_tables(wait: bool = True) -> None:
    """Create every missing table (``make run`` and the tests; the template does it on AWS)."""
    for model in ALL_MODELS:
        if not model.exists():
            model.create_table(wait=wait)
