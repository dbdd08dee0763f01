"""The dataset files table: hash ``dataset_id``, range ``file_key`` = ``"<task_id>#<file id>"``.

"All files of a dataset" is a Query on the hash key; "all files of one task" the same Query
with ``begins_with(file_key, "<task_id>#")``. File ids grow with time, so a task's files list
in the order they were added.
"""

from pynamodb.attributes import UnicodeAttribute

from chalicelib import config
from chalicelib.db import RetryingModel
from chalicelib.models.base import BaseMeta


class DatasetFile(RetryingModel):
    class Meta(BaseMeta):
        table_name = config.FILES_TABLE

    dataset_id = UnicodeAttribute(hash_key=True)
    file_key = UnicodeAttribute(range_key=True)
    task_id = UnicodeAttribute()
