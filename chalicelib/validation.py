"""Strict checks of client input, shared by routes and services.

Validate once, at the edge, into plain typed values: a bool is not an int, ``"0"`` is not an
int, NaN and Infinity are not numbers, ids have the shape the service gives them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chalicelib.errors import Invalid, NotFound, TooLarge
from chalicelib.models.tasks import INTERNAL, STATUSES

TASK_ID_RE = re.compile(r"^[0-9a-f]{32}$")
#: Index keys are limited to 2048 (hash) and 1024 (range) bytes; stay well inside.
MAX_DATASET_ID_BYTES = 1024
MAX_NAME_BYTES = 900
#: The documented limits (characters); the byte limits above keep them inside index key sizes.
MAX_DATASET_ID_CHARS = 256
MAX_NAME_CHARS = 225
#: What a Lambda accepts: its event is at most 6,291,456 bytes and API Gateway base64-encodes the
#: body into it (every media type is binary, for gzip answers): 4,718,592, less headers.
MAX_BODY_BYTES = 4_500_000


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _reject_constant(name: str) -> Any:
    raise Invalid(f"{name} is not allowed in JSON")


def parse_json(raw: bytes | None, allow_empty: bool = False) -> dict[str, Any]:
    """A request body as a JSON object, whatever its Content-Type; ``Invalid`` otherwise."""
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise TooLarge("request body too large")
    if not raw or not raw.strip():
        if allow_empty:
            return {}
        raise Invalid("request body must be a JSON object")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except Invalid:
        raise
    except (ValueError, UnicodeDecodeError):
        raise Invalid("malformed JSON body") from None
    except RecursionError:
        raise Invalid("JSON body nested too deeply") from None
    if not isinstance(value, dict):
        raise Invalid("request body must be a JSON object")
    return value


def status(value: Any, what: str = "status") -> str:
    if not isinstance(value, str) or value not in STATUSES:
        raise Invalid(f"unknown {what}: {value!r}" if isinstance(value, str) else f"{what} must be a string")
    return value


def statuses(param: str) -> list[str]:
    """A ``|``-separated status filter."""
    return list(dict.fromkeys(status(s) for s in param.split("|") if s)) if param else []


def dataset_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("dataset_id must be a non-empty string")
    if len(value) > MAX_DATASET_ID_CHARS or len(value.encode()) > MAX_DATASET_ID_BYTES:
        raise Invalid(f"dataset_id longer than {MAX_DATASET_ID_CHARS} characters")
    return value


def task_id_or_404(value: str) -> str:
    """A path's task id; one that the service cannot have issued is simply not found."""
    if not TASK_ID_RE.match(value):
        raise NotFound(f"task {value!r} not found")
    return value


def task_id_or_400(value: Any) -> str:
    if not isinstance(value, str) or not TASK_ID_RE.match(value):
        raise Invalid(f"invalid task_id: {value!r}")
    return value


def job_id(value: str) -> str:
    """A path's job id; one the service cannot have issued is not found."""
    if not TASK_ID_RE.match(value):
        raise NotFound(f"job {value!r} not found")
    return value


def name(value: Any, what: str = "name") -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if len(value) > MAX_NAME_CHARS or len(value.encode()) > MAX_NAME_BYTES:
        raise Invalid(f"{what} longer than {MAX_NAME_CHARS} characters")
    return value


def attribute_name(key: Any) -> str:
    """A client key that becomes a top-level attribute and may appear in an expression path."""
    if not isinstance(key, str) or not key:
        raise Invalid("keys must be non-empty strings")
    if key in INTERNAL:
        raise Invalid(f"{key!r} is a reserved key")
    if "[" in key or "]" in key or len(key.encode()) > 255:
        raise Invalid(f"unsupported key {key!r}")
    return key


MAX_PARAM_KEYS = 100  # keeps projection expressions far inside DynamoDB's 4 KB


def keys_param(param: str | None) -> list[str] | None:
    """The ``keys`` projection: ``|``-separated top-level keys."""
    if not param:
        return None
    keys = list(dict.fromkeys(attribute_name(k) for k in param.split("|") if k))
    if len(keys) > MAX_PARAM_KEYS:
        raise Invalid(f"at most {MAX_PARAM_KEYS} keys")
    return keys


def int_param(param: str | None, what: str) -> int | None:
    if param is None:
        return None
    try:
        return int(param)
    except ValueError:
        raise Invalid(f"{what} must be an integer") from None


def sort_param(param: str | None) -> list[tuple[str, int]]:
    """``key=1|key=-1|key`` → ``[(key, direction)]`` (a bare key is ascending)."""
    out: list[tuple[str, int]] = []
    for part in (param or "").split("|"):
        if not part:
            continue
        key, _, direction = part.partition("=")
        if direction not in ("", "1", "-1"):
            raise Invalid(f"sort direction must be 1 or -1, not {direction!r}")
        out.append((attribute_name(key), -1 if direction == "-1" else 1))
    if len(out) > MAX_PARAM_KEYS:
        raise Invalid(f"at most {MAX_PARAM_KEYS} sort keys")
    return out


def limit_param(param: str | None) -> int | None:
    """``limit``: absent, non-numeric or 0 means no limit."""
    try:
        value = int(param) if param is not None else 0
    except ValueError:
        return None
    return value if value > 0 else None
