"""Finding stored text that is not text: strings holding lone UTF-16 surrogates.

The service refuses them at parse time (``schema.parse_json``), but data written before that,
or by another writer, may hold some: JSON can escape a lone surrogate, botocore sends it so, and
an engine may store it, after which every answer that carries it fails to encode. This scan
names each such value so an operator can repair it (``make check-text``). It reads the whole
tasks and files tables: run it rarely, as reconciliation is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib import db
from chalicelib.models import DatasetFile, Task
from chalicelib.schema import is_text


def invalid_text() -> Iterator[tuple[str, str, str]]:
    """(table, item key, path) of every stored string or map key that is not valid text."""
    for model, key in ((Task, "task_id"), (DatasetFile, "file_key")):
        for item in db.scan_all(model):
            name = item.get(key, {}).get("S", "?")
            for path in _bad_paths(item, ""):
                yield model.Meta.table_name, name, path


def _bad_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        for kind, inner in value.items():
            if kind == "S" and isinstance(inner, str):
                if not is_text(inner):
                    yield path or "/"
            elif kind == "M" and isinstance(inner, dict):
                yield from _map_paths(inner, path)
            elif kind == "L" and isinstance(inner, list):
                for i, element in enumerate(inner):
                    yield from _bad_paths(element, f"{path}/{i}")
            elif kind == "SS" and isinstance(inner, list) and not all(is_text(s) for s in inner):
                yield path or "/"
            elif kind not in ("S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"):
                yield from _map_paths(value, path)  # an item: attribute names at the top
                return


def _map_paths(attributes: dict[str, Any], path: str) -> Iterator[str]:
    for name, inner in attributes.items():
        where = f"{path}/{name}"
        if not is_text(name):
            yield f"{path}/<key {name.encode('utf-8', 'backslashreplace').decode()}>"
        yield from _bad_paths(inner, where)
