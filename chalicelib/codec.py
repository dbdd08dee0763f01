"""JSON values <-> DynamoDB attribute values, without losing ints, floats or unknown keys.

DynamoDB has one number type, so a float such as ``2.0`` would come back as ``2``, and boto3
would turn ``3`` into ``Decimal('3')`` (and Chalice then into ``3.0``). Clients of IceProd
parse what they stored, so we keep the JSON types exactly:

* numbers are written as DynamoDB numbers (they must stay comparable and summable: priority is
  an index key, requirements are compared in claim conditions, counters are ADDed);
* on read, an integral number becomes an ``int``, any other a ``float``;
* except where the value was a float with an integral value when it was written: the path of
  each such value is kept in the item's sidecar attribute ``_ft`` (``{top_key: [pointer]}``,
  JSON-pointer paths below the top-level key), and a few server-owned fields are always floats.

Writes replace whole top-level keys (PATCH semantics), so the sidecar entry of a key is rewritten
with it. Server-side writes below a top-level key only touch fields in :data:`FLOAT_FIELDS` or
integer fields, which need no sidecar.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from chalicelib.errors import Invalid

AttributeValue = dict[str, Any]


def is_int(value: Any) -> bool:
    """A JSON integer (a bool is not one, though Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)

FLOATS = "_ft"
#: Fields that are floats by schema, whatever the stored number looks like.
FLOAT_FIELDS = frozenset(
    {
        ("walltime",),
        ("walltime_err",),
        ("requirements", "memory"),
        ("requirements", "disk"),
        ("requirements", "time"),
    }
)
_MAX_DEPTH = 32  # DynamoDB's nesting limit
_MAX_DIGITS = 38  # DynamoDB's number precision
_MIN_MAGNITUDE = Decimal("1e-130")
_MAX_MAGNITUDE = Decimal("9.9999999999999999999999999999999999999e125")
_INT_FITS = 10**_MAX_DIGITS
_FLOAT_LOW, _FLOAT_HIGH = 1e-129, 1e125


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _number(value: int | float, where: str) -> str:
    """A DynamoDB number string, or ``Invalid`` for what DynamoDB cannot hold.

    Numbers well inside the limits (almost all) are written without the exact check, which
    costs a ``Decimal`` each: an int of at most 38 digits, a float between 1e-129 and 1e125.
    """
    if isinstance(value, int):
        if -_INT_FITS < value < _INT_FITS:
            return str(value)
    elif value == 0 or _FLOAT_LOW < abs(value) < _FLOAT_HIGH:
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{where}: NaN and Infinity are not allowed")
    dec = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    if dec != 0:
        magnitude = abs(dec)
        if magnitude < _MIN_MAGNITUDE or magnitude > _MAX_MAGNITUDE:
            raise Invalid(f"{where}: number out of range")
        if isinstance(value, int) and len(str(abs(value)).rstrip("0")) > _MAX_DIGITS:
            raise Invalid(f"{where}: number has more than {_MAX_DIGITS} significant digits")
    return str(value) if isinstance(value, int) else repr(value)


def encode(value: Any, pointer: str = "", floats: list[str] | None = None, depth: int = 0) -> AttributeValue:
    """One JSON value as a DynamoDB attribute value; integral floats are listed in ``floats``."""
    if depth > _MAX_DEPTH:
        raise Invalid("document nested too deeply")
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value.is_integer() and floats is not None:
            floats.append(pointer)
        return {"N": _number(value, pointer or "number")}
    if isinstance(value, list):
        return {"L": [encode(v, f"{pointer}/{i}", floats, depth + 1) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise Invalid("object keys must be non-empty strings")
            out[key] = encode(item, f"{pointer}/{_escape(key)}", floats, depth + 1)
        return {"M": out}
    raise Invalid(f"unsupported value type {type(value).__name__}")


def encode_top(key: str, value: Any) -> tuple[AttributeValue, list[str]]:
    """A top-level attribute and the pointers of its integral floats (its sidecar entry)."""
    floats: list[str] = []
    return encode(value, "", floats), floats


def encode_item(doc: dict[str, Any]) -> dict[str, AttributeValue]:
    """A whole document as a DynamoDB item, sidecar included."""
    item: dict[str, AttributeValue] = {}
    sidecar: dict[str, AttributeValue] = {}
    for key, value in doc.items():
        if type(value) is str:  # most top-level values: what encode_top makes of them, without its calls
            item[key] = {"S": value}
            continue
        item[key], floats = encode_top(key, value)
        if floats:
            sidecar[key] = {"L": [{"S": p} for p in floats]}
    item[FLOATS] = {"M": sidecar}
    return item


def _decode_number(text: str, as_float: bool) -> int | float:
    dec = Decimal(text)
    if not as_float and dec == dec.to_integral_value():
        return int(dec)
    return float(dec)


def decode(
    av: AttributeValue, path: tuple[str, ...] = (), floats: frozenset[str] = frozenset(), pointer: str = ""
) -> Any:
    """One DynamoDB attribute value as JSON; ``floats`` are pointers of integral floats."""
    if not av:
        # DynamoDB Local's stream images write an empty map as a typeless {}.
        return {}
    (kind, raw), = av.items()
    if kind == "N":
        return _decode_number(raw, path in FLOAT_FIELDS or pointer in floats)
    if kind == "M":
        return {
            k: decode(v, (*path, k), floats, f"{pointer}/{_escape(k)}") for k, v in raw.items()
        }
    if kind == "L":
        return [decode(v, (*path, str(i)), floats, f"{pointer}/{i}") for i, v in enumerate(raw)]
    if kind == "NULL":
        return None
    if kind in ("S", "BOOL"):
        return raw
    if kind in ("SS", "BS"):
        return list(raw)
    if kind == "NS":
        return [_decode_number(n, False) for n in raw]
    return raw


def decode_item(item: dict[str, AttributeValue], hidden: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A DynamoDB item as the JSON document the client stored (internal attributes dropped)."""
    sidecar = decode(item.get(FLOATS, {"M": {}}))
    doc = {}
    for key, av in item.items():
        if key == FLOATS or key in hidden:
            continue
        pointers = frozenset(sidecar.get(key, ()))
        doc[key] = decode(av, (key,), pointers)
    return doc


def item_size(item: dict[str, AttributeValue]) -> int:
    """An upper estimate of DynamoDB's size of an item (names plus values, in bytes)."""
    return sum(len(k.encode()) + _size(v) for k, v in item.items())


def _size(av: AttributeValue) -> int:
    if not av:
        return 3
    (kind, raw), = av.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw) // 2 + 2
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + _size(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(1 + _size(v) for v in raw)
    return 1
