"""The counters table: hash ``pk``, range ``sk``; filled by the tasks stream.

* ``("all", "status")``: tasks by status over the whole table, one number attribute a status;
* ``("ds#<dataset_id>", "status")``: the same for one dataset;
* ``("ds#<dataset_id>", "name#<name>")``: one task name of a dataset, by status, with
  ``name`` and ``task_index`` for ordering;
* ``("datasets", "<dataset_id>")``: a dataset listed by ``GET /datasets`` (key only; see
  :mod:`chalicelib.services.dataset_index`);
* ``("applied#<eventID>", "-")``: a stream record already counted (``ttl`` expires it after the
  stream's 24 h retention), written in the same transaction as its counts;
* ``("consumer", "<shard id>")``: where ``make run``'s stream consumer stopped reading.
"""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib import config
from chalicelib.models.base import BaseMeta, BaseModel


class Counter(BaseModel):
    class Meta(BaseMeta):
        table_name = config.COUNTERS_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    ttl = NumberAttribute(null=True)
