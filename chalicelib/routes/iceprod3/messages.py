"""IceProd 3's answers that clients and tests read: schema pieces carrying its exact reason
strings, shared by its route modules."""

from __future__ import annotations

from chalicelib import schema as s
from chalicelib.protocol import ICEPROD3

#: Path ids: anything that is not an id the service issues names no task (IceProd: ``\\w+``).
TASK_ID = {**s.TASK_ID, "errorMessage": "Task not found"}
STATUS_PATH = {"type": "string", "enum": list(ICEPROD3.statuses), "errorMessage": "Bad status"}
UNKNOWN_STATUS = "Unknown task status"
#: A ``|`` list of statuses as a filter: each must be one of IceProd 3's.
_WORD = "|".join(ICEPROD3.statuses)
STATUS_FILTER = {"type": "string", "pattern": rf"^({_WORD})?(\|({_WORD})?)*$",
                 "x-parse": "pipe-list", "default": "", "errorMessage": UNKNOWN_STATUS}
INSTANCE_ID = {"type": "string", "errorMessage": "instance_id must be a string"}
#: Bodies of the fenced actions: ``instance_id`` first, then the report's optional keys.
MISSING_INSTANCE = {"required": ["instance_id"], "errorMessage": {"required": "Missing instance_id in body"}}
#: Python's names of the JSON types, as IceProd 3's messages spell them.
PY_TYPES = {"string": "str", "integer": "int", "array": "list", "object": "dict"}
SORT_LIST = {"type": "string", "pattern": rf"^{s.KEY}(=[^|]*)?(\|{s.KEY}(=[^|]*)?){{0,99}}$",
             "description": "|-separated key=-1 (descending) or key (ascending); dotted keys", "x-parse": "sort",
             "default": ""}
KEY_LIST = {**s.KEY_LIST, "description": "|-separated keys; dotted keys name fields inside objects"}
LIMIT = {"type": "string", "x-parse": "abs-limit", "description": (
    "at most this many tasks (absent, non-numeric or 0: all; negative: its absolute value); when more "
    'remain unsorted, the answer has a header Link: <?...&cursor=...>; rel="next"')}
