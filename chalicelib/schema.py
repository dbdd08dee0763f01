"""The API described once: request and response schemas that validate requests and make the
OpenAPI 3 document served at ``GET /openapi.json``.

Each route declares its path and query parameters, body and answer where it is registered
(:func:`chalicelib.routes.endpoint.endpoint`); the registry here keeps them. The schema is the
only shape check of a request: services trust the typed values they get and check only what a
schema cannot say (the task exists, the transition is allowed, the key is not reserved).

The checker implements the JSON-Schema subset in :data:`KEYWORDS` with the service's strictness (a
bool is not a number, ``1.0`` is not an integer), and refuses at registration a schema using any
other keyword, so nothing declared is silently unchecked. Two extensions let a protocol dictate
its answers: ``errorMessage`` (as ajv-errors: a string replaces every failure of the schema, a
mapping replaces the failure of one keyword; ``{key}`` and ``{value}`` are filled in), and the
order of checks, which is the order of ``allOf``, then ``required``, then ``properties`` as
declared, then the other keys. ``maxBytes`` limits a string's UTF-8 length (index keys are
limited in bytes). ``x-parse`` names how a query parameter's text becomes a value, ``x-status``
the status a failing path parameter answers (404: an id the service cannot have issued names
nothing). Private keywords (``x-...``, ``errorMessage``) are left out of the published document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import Invalid, NotFound, TooLarge
from chalicelib.models.tasks import INTERNAL, STATUSES
from chalicelib.services.tasks import MAX_BULK_IDS, REQUIRED

Schema = dict[str, Any]

KEYWORDS = frozenset({
    "type", "enum", "minLength", "maxLength", "maxBytes", "pattern", "minimum", "maximum",
    "minItems", "maxItems", "items", "required", "properties", "additionalProperties",
    "propertyNames", "minProperties", "maxProperties", "anyOf", "allOf", "not",
    "description", "default", "errorMessage", "x-parse", "x-status",
})
_PRIVATE = ("errorMessage", "x-parse", "x-status")
_SUBSCHEMA_MAPS = ("properties",)
_SUBSCHEMAS = ("items", "propertyNames", "not")
_SUBSCHEMA_LISTS = ("anyOf", "allOf")


def verify(schema: Schema, where: str = "schema") -> None:
    """Refuse (at registration) a schema that uses a keyword the checker does not implement."""
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{where}: unsupported schema keywords {sorted(unknown)}")
    for name in _SUBSCHEMA_MAPS:
        for key, sub in schema.get(name, {}).items():
            verify(sub, f"{where}.{name}.{key}")
    for name in _SUBSCHEMAS:
        if name in schema:
            verify(schema[name], f"{where}.{name}")
    for name in _SUBSCHEMA_LISTS:
        for i, sub in enumerate(schema.get(name, ())):
            verify(sub, f"{where}.{name}[{i}]")
    if isinstance(schema.get("additionalProperties"), dict):
        verify(schema["additionalProperties"], f"{where}.additionalProperties")
    if schema.get("x-parse") is not None and schema["x-parse"] not in PARSERS:
        raise ValueError(f"{where}: unknown x-parse {schema['x-parse']!r}")
    kinds = schema.get("type", [])
    unknown_kinds = {kinds} - _TYPES.keys() if isinstance(kinds, str) else set(kinds) - _TYPES.keys()
    if unknown_kinds:
        raise ValueError(f"{where}: unknown types {sorted(unknown_kinds)}")
    if "pattern" in schema:
        re.compile(schema["pattern"])  # an error here, not at the first request (re caches it for the checker)


#: A compiled schema: ``(value, where, key)`` raises ``Invalid`` at the first failure. ``where``
#: None is the fast pass, which builds no place names (see :func:`check`).
Checker = Callable[[Any, "str | None", "str | None"], None]
_Step = Callable[[Any, "str | None"], None]
_TYPES: dict[str, tuple[type, ...]] = {"integer": (int,), "number": (int, float), "string": (str,),
                                       "boolean": (bool,), "object": (dict,), "array": (list,),
                                       "null": (type(None),)}
#: Compiled schemas by identity; each entry keeps its schema alive, so an id is never reused
#: while it is cached. Schemas are constants: one built per call (a literal) is compiled anew.
_COMPILED: dict[int, tuple[Schema, Checker]] = {}
_MAX_COMPILED = 4096
#: Key names remembered per ``propertyNames`` check (the set starts again when full, so names
#: sent once cannot crowd out the few that come in every task).
_MAX_NAMES = 4096


def _fail(schema: Schema, keyword: str, message: str, **details: Any) -> Invalid:
    """The failure of ``keyword``: the schema's own message for it when it has one."""
    custom = schema.get("errorMessage")
    if isinstance(custom, dict) and keyword in custom:
        message = custom[keyword].format(**details)
    return Invalid(message)


def check(schema: Schema, value: Any, where: str = "body", key: str | None = None) -> None:
    """``Invalid`` naming the first place where ``value`` (the member ``key`` of an object, if
    it is one) breaks ``schema``.

    The value is first checked without naming places (no text is built for the members that
    pass, which is most of the cost on a large task); only a failure is checked again to name
    its place. The checks are pure, so the second pass fails at the same place.
    """
    run = _checker(schema)
    try:
        run(value, None, key)
    except Invalid as unnamed:
        failure = unnamed
    else:
        return
    run(value, where, key)  # fails at the same place, now naming it
    raise failure  # not reached: the checks are pure


def _checker(schema: Schema) -> Checker:
    cached = _COMPILED.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    if len(_COMPILED) >= _MAX_COMPILED:
        _COMPILED.clear()
    run = _compile(schema)
    _COMPILED[id(schema)] = (schema, run)
    return run


def _nothing(value: Any, where: str | None, key: str | None) -> None:
    """The check of a schema without keywords: any value."""


def _compile(schema: Schema) -> Checker:
    """The schema's checks as closures, in this order: ``allOf`` (in order), ``anyOf``, ``not``,
    ``type``, ``enum``, then the keywords of the value's kind (an object's: ``minProperties``,
    ``maxProperties``, ``required``, ``properties`` as declared, then each key's ``propertyNames``
    and ``additionalProperties``)."""
    steps = [step for step in (*map(_nested, schema.get("allOf", ())), _any_of(schema), _not(schema),
                               _type(schema), _enum(schema), _by_kind(schema)) if step is not None]
    custom = schema.get("errorMessage")
    if isinstance(custom, str):
        def replaced(value: Any, where: str | None, key: str | None) -> None:
            try:
                for step in steps:
                    step(value, where)
            except Invalid:
                raise Invalid(custom.format(value=value, key=key)) from None
        return replaced
    if not steps:
        return _nothing

    def run(value: Any, where: str | None, key: str | None) -> None:
        for step in steps:
            step(value, where)
    return run


def _nested(sub: Schema) -> _Step:
    run = _checker(sub)
    return lambda value, where: run(value, where, None)


def _passes(run: Checker, value: Any, where: str | None) -> bool:
    try:
        run(value, where, None)
    except Invalid:
        return False
    return True


def _any_of(schema: Schema) -> _Step | None:
    if "anyOf" not in schema:
        return None
    options = [_checker(option) for option in schema["anyOf"]]

    def any_of(value: Any, where: str | None) -> None:
        if not any(_passes(option, value, where) for option in options):
            raise _fail(schema, "anyOf", f"{where} has none of the allowed forms", value=value)
    return any_of


def _not(schema: Schema) -> _Step | None:
    if "not" not in schema:
        return None
    forbidden = _checker(schema["not"])

    def not_(value: Any, where: str | None) -> None:
        if _passes(forbidden, value, where):
            raise _fail(schema, "not", f"{where} has a form that is not allowed", value=value)
    return not_


def _type(schema: Schema) -> _Step | None:
    """A bool is not a number and ``1.0`` is not an integer."""
    if "type" not in schema:
        return None
    kinds = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
    allowed = tuple(t for kind in kinds for t in _TYPES[kind])
    bools = "boolean" in kinds

    def type_(value: Any, where: str | None) -> None:
        if not isinstance(value, allowed) or (not bools and isinstance(value, bool)):
            raise _fail(schema, "type", f"{where} must be of type {' or '.join(kinds)}", value=value)
    return type_


def _enum(schema: Schema) -> _Step | None:
    if "enum" not in schema:
        return None
    allowed = schema["enum"]

    def enum(value: Any, where: str | None) -> None:
        if value not in allowed:
            raise _fail(schema, "enum", f"{where} must be one of {', '.join(map(str, allowed))}", value=value)
    return enum


def _by_kind(schema: Schema) -> _Step | None:
    """The keywords of the value's kind (those of the other kinds do not apply to it)."""
    string, number, array, obj = _string(schema), _number(schema), _array(schema), _object(schema)
    if string is None and number is None and array is None and obj is None:
        return None

    def by_kind(value: Any, where: str | None) -> None:
        if isinstance(value, str):
            if string is not None:
                string(value, where)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if number is not None:
                number(value, where)
        elif isinstance(value, list):
            if array is not None:
                array(value, where)
        elif isinstance(value, dict) and obj is not None:
            obj(value, where)
    return by_kind


def _bounds(low: int, high: int | None, unit: str) -> str:
    return f"at least {low} {unit}" if high is None else f"{low} to {high} {unit}"


def _string(schema: Schema) -> _Step | None:
    if not {"minLength", "maxLength", "maxBytes", "pattern"} & schema.keys():
        return None
    low, high, most = schema.get("minLength", 0), schema.get("maxLength"), schema.get("maxBytes")
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None

    def string(value: str, where: str | None) -> None:
        if len(value) < low or (high is not None and len(value) > high):
            raise _fail(schema, "maxLength" if len(value) >= low else "minLength",
                        f"{where} must hold {_bounds(low, high, 'characters')}", value=value)
        if most is not None and len(value.encode("utf-8", "surrogatepass")) > most:
            raise _fail(schema, "maxBytes", f"{where} must be at most {most} bytes in UTF-8", value=value)
        if search is not None and not search(value):
            raise _fail(schema, "pattern", f"{where} is not of the expected form", value=value)
    return string


def _number(schema: Schema) -> _Step | None:
    if "minimum" not in schema and "maximum" not in schema:
        return None
    low, high = schema.get("minimum"), schema.get("maximum")

    def number(value: float, where: str | None) -> None:
        if low is not None and value < low:
            raise _fail(schema, "minimum", f"{where} must be at least {low}", value=value)
        if high is not None and value > high:
            raise _fail(schema, "maximum", f"{where} must be at most {high}", value=value)
    return number


def _array(schema: Schema) -> _Step | None:
    if not {"minItems", "maxItems", "items"} & schema.keys():
        return None
    low, high = schema.get("minItems", 0), schema.get("maxItems")
    items = _checker(schema["items"]) if "items" in schema else _nothing

    def array(value: list[Any], where: str | None) -> None:
        if len(value) < low or (high is not None and len(value) > high):
            raise _fail(schema, "maxItems" if len(value) >= low else "minItems",
                        f"{where} must hold {_bounds(low, high, 'items')}", value=value)
        if items is not _nothing:
            for i, item in enumerate(value):
                items(item, None if where is None else f"{where}[{i}]", None)
    return array


def _object(schema: Schema) -> _Step | None:
    keywords = {"minProperties", "maxProperties", "required", "properties", "additionalProperties", "propertyNames"}
    if not keywords & schema.keys():
        return None
    low, high = schema.get("minProperties", 0), schema.get("maxProperties")
    required = tuple(schema.get("required", ()))
    properties = [(key, _checker(sub)) for key, sub in schema.get("properties", {}).items()]
    declared = frozenset(schema.get("properties", {}))
    extra = schema.get("additionalProperties", True)
    extra_check = _checker(extra) if isinstance(extra, dict) else _nothing
    names = _checker(schema["propertyNames"]) if "propertyNames" in schema else _nothing
    each_key = extra is False or extra_check is not _nothing or names is not _nothing
    #: Names that passed ``propertyNames``: the same few dozen keys come in every task, and
    #: the check is pure (its regex is most of a task's check).
    named: set[str] = set()

    def obj(value: dict[str, Any], where: str | None) -> None:
        if len(value) < low:
            raise _fail(schema, "minProperties", f"{where} must not be empty")
        if high is not None and len(value) > high:
            raise _fail(schema, "maxProperties", f"{where} may hold at most {high} keys")
        for key in required:
            if key not in value:
                raise _fail(schema, "required", f"{where} is missing required key {key!r}", key=key)
        for key, run in properties:
            if key in value:
                run(value[key], None if where is None else f"{where}.{key}", key)
        if each_key:
            for key, item in value.items():
                if key not in named:
                    names(key, None if where is None else f"{where} key {key[:64]!r}", None)
                    if len(named) >= _MAX_NAMES:
                        named.clear()
                    named.add(key)
                if key in declared:
                    continue
                if extra is False:
                    raise _fail(schema, "additionalProperties", f"{where} has unknown key {key[:64]!r}", key=key)
                extra_check(item, None if where is None else f"{where}.{key}", key)
    return obj


def _pipe_list(text: str) -> list[str]:
    return list(dict.fromkeys(part for part in text.split("|") if part))


def _sort_list(text: str) -> list[tuple[str, int]]:
    """``key=1|key=-1|key`` → ``[(key, direction)]`` (a bare key is ascending)."""
    out = []
    for part in _pipe_list(text):
        key, _, direction = part.partition("=")
        out.append((key, -1 if direction == "-1" else 1))
    return out


def _limit(text: str) -> int | None:
    """``limit``: absent, non-numeric or 0 means no limit (IceProd's rule)."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


def _abs_limit(text: str) -> int | None:
    """IceProd 3's ``limit`` (MongoDB's): a negative value counts as its absolute value."""
    value = _limit(text.lstrip("-")) if text.startswith("-") else _limit(text)
    return value


#: The words IceProd 3 reads as a boolean (its ``strtobool``), in any letter case.
TRUE_WORDS = ("y", "yes", "t", "true", "on", "1")
FALSE_WORDS = ("n", "no", "f", "false", "off", "0")


def _bool(text: str) -> bool:
    return text.lower() in TRUE_WORDS


#: How a query parameter's text (already checked by its schema) becomes a value.
PARSERS: dict[str, Callable[[str], Any]] = {"pipe-list": _pipe_list, "sort": _sort_list, "int": int, "limit": _limit,
                                            "abs-limit": _abs_limit, "bool": _bool}


# --- shared pieces --------------------------------------------------------------------------
STATUS = {"type": "string", "enum": list(STATUSES)}
_STATUS_WORD = "|".join(STATUSES)
#: Query parameters as the service parses them.
STATUS_LIST = {"type": "string", "pattern": rf"^({_STATUS_WORD})(\|({_STATUS_WORD}))*$",
               "description": "|-separated statuses", "x-parse": "pipe-list", "default": ""}
#: A client key: it becomes a top-level attribute and may appear in an expression path (no
#: brackets), in a ``keys``/``sort`` parameter (no ``|`` or ``=``), and is none of ours, nor a
#: path into one of ours (IceProd 3's dotted keys: ``_lease.x`` would write ``_lease``).
_RESERVED = "|".join(re.escape(name) for name in sorted(INTERNAL))
KEY = rf"(?!(?:{_RESERVED})(?:\.|$))[^\[\]|=]{{1,64}}"
#: DynamoDB's limit on an attribute name in an expression.
MAX_KEY_BYTES = 255
#: DynamoDB caps an expression at 4 KB and 300 operators: an offer's requirement becomes up to
#: ~10 operators, a PATCH key two SET/REMOVE clauses. Measured on DynamoDB Local: an offer of 30
#: string requirements with every filter, or a PATCH of 200 keys, is refused; moto's expression
#: parser already fails near 75 PATCH keys. tests/test_hardening.py runs the largest allowed.
MAX_OFFER_KEYS = 24
MAX_PATCH_KEYS = 64
KEY_LIST = {"type": "string", "pattern": rf"^{KEY}(\|{KEY}){{0,99}}$", "description": "|-separated keys",
            "x-parse": "pipe-list"}
SORT_LIST = {"type": "string", "pattern": rf"^{KEY}(=-?1)?(\|{KEY}(=-?1)?){{0,99}}$",
             "description": "|-separated key=1 (ascending) or key=-1", "x-parse": "sort", "default": ""}
INTEGER_TEXT = {"type": "string", "pattern": r"^-?[0-9]{1,18}$", "x-parse": "int"}


def _any_case(word: str) -> str:
    """A pattern of ``word`` in any letter case (published patterns are ECMA regexes: no flags)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


#: The end of the text, in Python's regexes as in ECMA's (the published ones): Python's ``$`` also
#: matches before a final newline, so ``^true$`` would let ``"true\n"`` through.
END = r"(?![\s\S])"
#: A boolean as IceProd 3 reads one (``strtobool``); anything else, empty included, is refused.
BOOL_TEXT = {"type": "string", "pattern": rf"^({'|'.join(map(_any_case, TRUE_WORDS + FALSE_WORDS))}){END}",
             "x-parse": "bool", "description": " ".join(["true:", *TRUE_WORDS, "/ false:", *FALSE_WORDS,
                                                          "(any letter case)"])}
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
#: Index keys are limited to 2048 (hash) and 1024 (range) bytes: the documented character
#: limits, and byte limits that keep any text of that length inside them.
DATASET_ID = {"type": "string", "minLength": 1, "maxLength": 256, "maxBytes": 1024}
TASK_NAME = {"type": "string", "maxLength": 225, "maxBytes": 900}
TASK_FIELDS = {
    "dataset_id": DATASET_ID, "job_id": {"type": "string"},
    "task_index": INTEGER, "job_index": INTEGER, "name": TASK_NAME,
    "depends": {"type": "array", "items": {"type": "string"}},
    # Stored exactly as given (IceProd's keys: cpu, gpu, memory, disk, time, os, site).
    "requirements": {"type": "object", "propertyNames": {"pattern": r"^.{1,64}$", "maxBytes": MAX_KEY_BYTES},
                     "additionalProperties": VALUE},
    "status": STATUS, "priority": NUMBER,
}
assert set(REQUIRED) <= set(TASK_FIELDS)
TASK_KEYS = {"pattern": rf"^{KEY}$", "maxBytes": MAX_KEY_BYTES}
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
NEW_TASK = {"type": "object", "required": list(REQUIRED), "properties": TASK_FIELDS,
            "propertyNames": TASK_KEYS, "additionalProperties": VALUE}
TASK_CHANGES = {"type": "object", "minProperties": 1, "maxProperties": MAX_PATCH_KEYS, "properties": TASK_FIELDS,
                "propertyNames": {"pattern": rf"^(?!task_id$){KEY}$", "maxBytes": MAX_KEY_BYTES,
                                  "errorMessage": {"pattern": "key {value!r} cannot be changed or is not allowed"}},
                "additionalProperties": VALUE}
STATUS_BODY = {"type": "object", "required": ["status"], "properties": {"status": STATUS}}
BULK = {"type": "object", "required": ["tasks"], "properties": {
    "tasks": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_BULK_IDS}}}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
TASK_STATS = {"type": "object", "additionalProperties": {"type": "object", "properties": {
    "count": {"type": "integer"}, "gpu": {"type": "number"}, "total_hrs": {"type": "number"},
    "total_err_hrs": {"type": "number"}, "avg_hrs": {"type": "number"}, "stddev_hrs": {"type": ["number", "null"]},
    "min_hrs": {"type": "number"}, "max_hrs": {"type": "number"}, "efficiency": {"type": "number"}}}}

#: Where a bulk change that continued as a job stands.
JOB = {"type": "object", "required": ["job", "state", "total", "changed", "remaining_chunks"], "properties": {
    "job": {"type": "string"}, "state": {"type": "string", "enum": ["running", "done"]},
    "total": {"type": "integer"}, "changed": {"type": "integer"}, "remaining_chunks": {"type": "integer"}}}
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
    "limit": {"type": "string", "x-parse": "limit", "description": (
        "page size (absent, non-numeric or 0: everything, or 400 when that cannot fit 6 MB); when more "
        'remain, the answer has a header Link: <?...&cursor=...>; rel="next" (the cursor is opaque)')},
    "cursor": {"type": "string", "maxLength": 8192, "description": "the next page, as a Link header gave it"},
}
TASK_ID = {"type": "string", "pattern": r"^[0-9a-f]{32}$", "x-status": 404,
           "errorMessage": "task {value!r} not found"}
JOB_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$", "x-status": 404, "errorMessage": "job {value!r} not found"}
PATH = {
    "task_id": TASK_ID,
    "dataset_id": DATASET_ID,
    "status": STATUS,
    "name": {**TASK_NAME, "minLength": 1, "pattern": r"^[^/?#]+$"},
    "job_id": JOB_ID,
}
FILE_TASK_ID = {"type": "string", "pattern": r"^[0-9a-f]{32}$", "errorMessage": "invalid task_id: {value!r}"}


#: What a Lambda accepts: its event is at most 6,291,456 bytes and API Gateway base64-encodes the
#: body into it (every media type is binary, for gzip answers): 4,718,592, less headers.
MAX_BODY_BYTES = 4_500_000


def _reject_constant(name: str) -> Any:
    raise Invalid(f"{name} is not allowed in JSON")


#: A ``\uD800``-``\uDFFF`` escape: JSON allows it alone, but it is no character.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_json(raw: bytes | None) -> Any:
    """A request body's JSON value, whatever its Content-Type (``{}`` for an empty body); JSON's
    NaN/Infinity extensions and strings that are not text (lone UTF-16 surrogates: valid JSON
    escapes that no store or encoder accepts) are refused."""
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise TooLarge("request body too large")
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except Invalid:
        raise
    except (ValueError, UnicodeDecodeError):
        raise Invalid("malformed JSON body") from None
    except RecursionError:
        raise Invalid("JSON body nested too deeply") from None
    if _SURROGATE_ESCAPE.search(raw):  # only then can a parsed string hold a lone surrogate
        _check_text(value, "body")
    return value


def is_text(text: str) -> bool:
    """Whether ``text`` is Unicode scalar values only (encodable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(value: Any, where: str) -> None:
    stack = [(value, where)]
    while stack:
        item, place = stack.pop()
        if isinstance(item, str) and not is_text(item):
            raise Invalid(f"{place} holds a lone UTF-16 surrogate: not valid text")
        if isinstance(item, dict):
            for key, sub in item.items():
                if not is_text(key):
                    raise Invalid(f"{place} has a key with a lone UTF-16 surrogate: not valid text")
                stack.append((sub, f"{place}.{key}"))
        elif isinstance(item, list):
            stack.extend((sub, f"{place}[{i}]") for i, sub in enumerate(item))


@dataclass(frozen=True)
class Call:
    """A request's input once its operation has checked it: typed query values (absent ones
    without a default are left out) and the JSON body (None for a route that takes none)."""

    query: dict[str, Any]
    body: Any = None


@dataclass
class Operation:
    """One route, described once: the checks of its input and its published description."""

    method: str
    path: str
    summary: str
    access: str
    query: dict[str, Schema] = field(default_factory=dict)
    body: Schema | None = None
    answer: Schema = field(default_factory=lambda: EMPTY)
    status: int = 200
    path_params: dict[str, Schema] = field(default_factory=dict)
    #: The order of the checks; a protocol may answer a bad body before a bad path parameter.
    order: tuple[str, ...] = ("path", "query", "body")

    def __post_init__(self) -> None:
        where = f"{self.method} {self.path}"
        for name, sub in [*self.query.items(), *((n, self.path_schema(n)) for n in _path_params(self.path))]:
            verify(sub, f"{where} parameter {name}")
        for part, sub in (("body", self.body), ("answer", self.answer)):
            if sub is not None:
                verify(sub, f"{where} {part}")

    def path_schema(self, name: str) -> Schema:
        return self.path_params.get(name) or PATH[name]

    def accept(self, path: dict[str, str], query: dict[str, str], raw_body: bytes | None) -> Call:
        """The request's input checked (path, query, then body) and typed, or the first failure."""
        for name, text in [*path.items(), *query.items()]:
            if not is_text(text):
                raise Invalid(f"parameter {name} is not valid text")
        checked: dict[str, Any] = {}
        for part in self.order:
            if part == "path":
                for name, text in path.items():
                    _check_path(self.path_schema(name), text, name)
            elif part == "query":
                checked["query"] = self._query(query)
            else:
                checked["body"] = None if self.body is None else self._body(self.body, raw_body)
        return Call(checked["query"], checked["body"])

    def _query(self, query: dict[str, str]) -> dict[str, Any]:
        typed: dict[str, Any] = {}
        for name, sub in self.query.items():
            if name in query:
                check(sub, query[name], f"query parameter {name}")
            text = query.get(name, sub.get("default"))
            if text is not None:
                parse = PARSERS.get(sub.get("x-parse", ""))
                typed[name] = parse(text) if parse else text
        return typed

    def _body(self, schema: Schema, raw: bytes | None) -> Any:
        body = parse_json(raw)
        check(schema, body)
        return body


def _check_path(schema: Schema, text: str, name: str) -> None:
    try:
        check(schema, text, f"path parameter {name}")
    except Invalid as error:
        if schema.get("x-status") == 404:
            raise NotFound(str(error)) from None
        raise


OPERATIONS: list[Operation] = []


def openapi() -> dict[str, Any]:
    """The OpenAPI 3 document of every registered operation."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _published(op.path_schema(name))}
            for name in _path_params(op.path)
        ] + [{"name": name, "in": "query", "required": False, "schema": _published(schema)}
             for name, schema in op.query.items()]
        entry: dict[str, Any] = {
            "summary": op.summary,
            "description": f"Access: {op.access}.",
            "operationId": f"{op.method.lower()}{_operation_suffix(op.path)}",
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                str(op.status): {"description": "success", "content": _json(op.answer)},
                "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}},
            },
        }
        if op.body is not None:
            required = bool(op.body.get("required") or op.body.get("minProperties"))
            entry["requestBody"] = {"required": required, "content": _json(op.body)}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "IceProd Tasks API", "version": "1.0.0",
                 "description": "IceProd's Tasks REST API on AWS Lambda and DynamoDB."},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": _published(schema)}}


def _published(schema: Any) -> Any:
    """A schema without the checker's private keywords (``maxBytes`` is said in words)."""
    if isinstance(schema, list):
        return [_published(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _published(v) if k not in ("properties", "enum", "default") else v
           for k, v in schema.items() if k not in _PRIVATE and k != "maxBytes"}
    if "properties" in schema:
        out["properties"] = {k: _published(v) for k, v in schema["properties"].items()}
    if "maxBytes" in schema:
        out["description"] = " ".join(filter(None, [schema.get("description"),
                                                    f"At most {schema['maxBytes']} bytes in UTF-8."]))
    return out


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_suffix(path: str) -> str:
    return "".join(p.strip("{}").title().replace("_", "") for p in path.split("/") if p)
