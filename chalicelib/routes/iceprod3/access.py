"""A dataset's access record (an extension, admin only): who may read and change the dataset.

IceProd 3 writes the record when a dataset is created (its ``POST /datasets``, not part of the
Tasks API); here an admin sets it, either as the record itself or as IceProd builds it from the
dataset's ``group`` and ``owner``. The importer writes the same records
(:mod:`chalicelib.services.access`).
"""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.auth import Access
from chalicelib.errors import NotFound
from chalicelib.routes.endpoint import endpoint
from chalicelib.services import access

bp = Blueprint(__name__)
PATH = "/datasets/{dataset_id}/access"

#: A group or user name (as IceProd's records hold them); 4 lists of 200 stay far below 400 KB.
NAME = {"type": "string", "minLength": 1, "maxLength": 256, "maxBytes": 256}
NAMES = {"type": "array", "items": NAME, "maxItems": 200}
RECORD = {
    "type": "object", "required": ["read_groups", "write_groups", "read_users", "write_users"],
    "additionalProperties": False, "properties": {name: NAMES for name in access.FIELDS},
}
_BUILD = {"group": NAME, "owner": NAME, "auth_groups_read": NAMES}
#: The record's lists (``read_users`` / ``write_users`` default to none), or what IceProd's
#: ``POST /datasets`` builds it from; each key's type is checked first, then the form.
BODY = {
    "type": "object",
    "allOf": [{"type": "object", "properties": {**RECORD["properties"], **_BUILD}}],
    "anyOf": [
        {"required": ["read_groups", "write_groups"], "propertyNames": {"enum": list(access.FIELDS)}},
        {"required": ["group", "owner"], "propertyNames": {"enum": list(_BUILD)}},
    ],
    "errorMessage": {"anyOf": "body must hold read_groups and write_groups (and optionally read_users, "
                              "write_users), or group and owner (and optionally auth_groups_read), not both"},
}


@endpoint(bp, PATH, "GET", Access.ADMIN, summary="Who may read and change a dataset (an extension, admin only)",
          answer=RECORD)
def get_access(call, dataset_id):
    record = access.stored_record(dataset_id)
    if record is None:
        raise NotFound(f"dataset {dataset_id!r} has no access record")
    return record


@endpoint(bp, PATH, "PUT", Access.ADMIN,
          summary="Set who may read and change a dataset, as its record or built as IceProd 3 creates it "
                  "(an extension, admin only)",
          body_schema=BODY, answer=RECORD)
def put_access(call, dataset_id):
    body = call.body
    if "group" in body:
        record = access.new_dataset_record(body["group"], body["owner"],
                                           body.get("auth_groups_read", access.DEFAULT_READ_GROUPS))
    else:
        record = body
    return access.put_record(dataset_id, record)
