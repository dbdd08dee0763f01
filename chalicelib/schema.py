"""The API described once: request and response schemas that validate requests and make the
OpenAPI 3 document served at ``GET /openapi.json``.

Each route declares its query parameters, body and answers where it is registered
(:func:`chalicelib.routes.api.endpoint`); the registry here keeps them. Validation covers the
JSON-Schema subset used below, with the service's strictness: a bool is not a number, ``1.0`` is
not an integer. Services still check what a schema cannot say (an existing task, a status
transition, id shapes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import Invalid
from chalicelib.models.tasks import STATUSES

Schema = dict[str, Any]


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "object": dict, "array": list,
                              "null": type(None)}[kind])


def check(schema: Schema, value: Any, where: str = "body") -> None:
    """``Invalid`` naming the first place where ``value`` breaks ``schema``."""
    if "anyOf" in schema:
        for option in schema["anyOf"]:
            try:
                check(option, value, where)
                return
            except Invalid:
                continue
        raise Invalid(f"{where} has none of the allowed forms")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is_type(value, k) for k in kinds):
            raise Invalid(f"{where} must be of type {' or '.join(kinds)}")
    if "enum" in schema and value not in schema["enum"]:
        raise Invalid(f"{where} must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            raise Invalid(f"{where} must hold {schema.get('minLength', 0)} to {schema.get('maxLength')} characters")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise Invalid(f"{where} does not match {schema['pattern']}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise Invalid(f"{where} must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise Invalid(f"{where} must be at most {schema['maximum']}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            raise Invalid(f"{where} must hold {schema.get('minItems', 0)} to {schema.get('maxItems')} items")
        if "items" in schema:
            for i, item in enumerate(value):
                check(schema["items"], item, f"{where}[{i}]")
    elif isinstance(value, dict):
        _check_object(schema, value, where)


def _check_object(schema: Schema, value: dict[str, Any], where: str) -> None:
    if len(value) < schema.get("minProperties", 0):
        raise Invalid(f"{where} must not be empty")
    for key in schema.get("required", ()):
        if key not in value:
            raise Invalid(f"{where} is missing required key {key!r}")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames")
    for key, item in value.items():
        if names is not None:
            check(names, key, f"{where} key")
        if key in properties:
            check(properties[key], item, f"{where}.{key}")
        elif extra is False:
            raise Invalid(f"{where} has unknown key {key!r}")
        elif isinstance(extra, dict):
            check(extra, item, f"{where}.{key}")


# --- shared pieces --------------------------------------------------------------------------
STATUS = {"type": "string", "enum": list(STATUSES)}
_STATUS_WORD = "|".join(STATUSES)
#: Query parameters as the service parses them.
STATUS_LIST = {"type": "string", "pattern": rf"^({_STATUS_WORD})(\|({_STATUS_WORD}))*$",
               "description": "|-separated statuses"}
KEY = r"(?!_status_key$|_name_key$|_ft$)[^\[\]|=]{1,64}"
KEY_LIST = {"type": "string", "pattern": rf"^{KEY}(\|{KEY}){{0,99}}$", "description": "|-separated keys"}
SORT_LIST = {"type": "string", "pattern": rf"^{KEY}(=-?1)?(\|{KEY}(=-?1)?){{0,99}}$",
             "description": "|-separated key=1 (ascending) or key=-1"}
INTEGER_TEXT = {"type": "string", "pattern": r"^-?[0-9]{1,18}$"}
#: Numbers as DynamoDB holds them (38 digits, magnitudes 1e-130 to 1e125).
NUMBER = {"anyOf": [{"type": "integer", "minimum": -(10**18), "maximum": 10**18},
                    {"type": "number", "minimum": 1e-100, "maximum": 1e100},
                    {"type": "number", "minimum": -1e100, "maximum": -1e-100},
                    {"type": "number", "enum": [0]}]}
#: Any JSON value a task may carry in keys the service does not interpret (stored as given;
#: numbers must fit DynamoDB: 38 digits, magnitudes 1e-130 to 1e125, else 400).
VALUE: Schema = {}
ERROR = {
    "type": "object", "required": ["code", "error"], "additionalProperties": False,
    "properties": {"code": {"type": "integer"}, "error": {"type": "string"}},
}
EMPTY = {"type": "object", "additionalProperties": False}
INTEGER = {"type": "integer", "minimum": -(10**18), "maximum": 10**18}
TASK_FIELDS = {
    "dataset_id": {"type": "string", "minLength": 1, "maxLength": 256}, "job_id": {"type": "string"},
    "task_index": INTEGER, "job_index": INTEGER, "name": {"type": "string", "maxLength": 225},
    "depends": {"type": "array", "items": {"type": "string"}},
    # Stored exactly as given (IceProd's keys: cpu, gpu, memory, disk, time, os, site).
    "requirements": {"type": "object", "propertyNames": {"pattern": r"^.{1,64}$"}, "additionalProperties": VALUE},
    "status": STATUS, "priority": NUMBER,
}
TASK_KEYS = {"pattern": rf"^{KEY}$"}
TASK = {
    "type": "object",
    "properties": {
        **TASK_FIELDS, "priority": {"type": "number"}, "task_index": {"type": "integer"},
        "job_index": {"type": "integer"}, "dataset_id": {"type": "string"},
        "name": {"type": "string"}, "task_id": {"type": "string"}, "status_changed": {"type": "string"},
        "failures": {"type": "integer"}, "evictions": {"type": "integer"}, "walltime": {"type": "number"},
        "walltime_err": {"type": "number"}, "walltime_err_n": {"type": "integer"}, "site": {"type": "string"},
    },
}
NEW_TASK = {"type": "object", "required": list(TASK_FIELDS)[:7], "properties": TASK_FIELDS,
            "propertyNames": TASK_KEYS, "additionalProperties": VALUE}
TASK_CHANGES = {"type": "object", "minProperties": 1, "properties": TASK_FIELDS,
                "propertyNames": {"pattern": rf"^(?!task_id$){KEY}$"}, "additionalProperties": VALUE}
STATUS_BODY = {"type": "object", "required": ["status"], "properties": {"status": STATUS}}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
FILE = {
    "type": "object",
    "properties": {
        "remote": {"type": "string"}, "local": {"type": "string"}, "type": {"type": "string"},
        "movement": {"type": "string", "enum": ["input", "output", "both"]},
        "transfer": {"type": ["boolean", "string"]},
        "compression": {"anyOf": [{"type": "boolean"},
                                  {"type": "string", "enum": ["none", "gzip", "gz", "bzip", "bz2", "lzma"]}]},
    },
}
FILE_BODY = {
    "type": "object", "required": ["filename", "movement"],
    "properties": {k: v for k, v in FILE["properties"].items() if k not in ("remote", "type")}
    | {"filename": {"type": "string", "minLength": 1}},
}
FILES = {"type": "object", "required": ["files"], "properties": {"files": {"type": "array", "items": FILE}}}
PAGE_PARAMS = {
    "limit": {"type": "string", "description": (
        "page size (absent, non-numeric or 0: everything, or 400 when that cannot fit 6 MB); when more "
        'remain, the answer has a header Link: <?...&cursor=...>; rel="next" (the cursor is opaque)')},
}
PATH = {
    "task_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "dataset_id": {"type": "string", "minLength": 1, "maxLength": 256},
    "status": STATUS,
    "name": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": r"^[^/?#]+$"},
}
FILE_TASK_ID = {"type": "string", "pattern": r"^[0-9a-f]{32}$"}


@dataclass
class Operation:
    """One route, described once."""

    method: str
    path: str
    summary: str
    access: str
    query: dict[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    answer: Schema = field(default_factory=lambda: EMPTY)
    status: int = 200
    path_params: dict[str, Schema] = field(default_factory=dict)

    def validate(self, query: dict[str, str], body: Any) -> None:
        for name, value in query.items():
            if name in self.query:
                check(self.query[name], value, f"query parameter {name}")
        if self.body is not None:
            check(self.body, body)


OPERATIONS: list[Operation] = []


def openapi() -> dict[str, Any]:
    """The OpenAPI 3 document of every registered operation."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": op.path_params.get(name) or PATH[name]}
            for name in _path_params(op.path)
        ] + [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in op.query.items()]
        entry: dict[str, Any] = {
            "summary": op.summary,
            "description": f"Access: {op.access}.",
            "operationId": f"{op.method.lower()}{_operation_suffix(op.path)}",
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                str(op.status): {"description": "success", "content": {"application/json": {"schema": op.answer}}},
                "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}},
            },
        }
        if op.body is not None:
            required = bool(op.body.get("required") or op.body.get("minProperties"))
            entry["requestBody"] = {"required": required, "content": {"application/json": {"schema": op.body}}}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "IceProd Tasks API", "version": "1.0.0",
                 "description": "IceProd's Tasks REST API on AWS Lambda and DynamoDB."},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_suffix(path: str) -> str:
    return "".join(p.strip("{}").title().replace("_", "") for p in path.split("/") if p)
