"""Reading what MongoDB's own tools write, without a MongoDB server.

* ``mongoexport``: JSON lines (the default) or one JSON array (``--jsonArray``), in canonical
  or relaxed Extended JSON (``$oid``, ``$date``, ``$numberLong``, ``$numberDouble``, ...),
  decoded by pymongo's ``bson.json_util``. A line that does not parse is one bad record.
* ``mongodump``: the per-collection ``<collection>.bson`` files, gzipped or not (``--gzip``),
  decoded by pymongo's ``bson``. BSON has no line breaks to resynchronise on, so a corrupt
  document ends that file with an error.
* ``mongodump --archive`` files are **not** read: the archive interleaves collections in
  mongodump's own block format, which no maintained Python library decodes. Dump with
  ``--out`` (a directory) instead; the error says so.

A file's collection is its name's first part (``tasks.json``, ``dump/iceprod/tasks.bson.gz``)
or given as ``COLLECTION=PATH``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import bson
from bson import json_util

#: The first four bytes of a ``mongodump --archive`` file (its magic number, little-endian).
ARCHIVE_MAGIC = bytes.fromhex("6de29981")
GZIP_MAGIC = b"\x1f\x8b"


class SourceError(Exception):
    """A source that cannot be read at all (not one bad record)."""


class BadRecord(Exception):
    """One record that cannot be decoded; the import rejects it and goes on."""

    def __init__(self, reason: str, raw: str) -> None:
        super().__init__(reason)
        self.raw = raw


@dataclass(frozen=True)
class Source:
    """One export file of one collection."""

    path: Path
    collection: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def parse_sources(specs: list[str]) -> list[Source]:
    """``PATH`` or ``COLLECTION=PATH`` arguments; a directory means the files in it (a dump)."""
    sources: list[Source] = []
    for spec in specs:
        collection, _, path_text = spec.rpartition("=")
        path = Path(path_text)
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if _is_data(p))
            if not found:
                raise SourceError(f"{path}: no .bson, .json or .jsonl files in it")
            sources.extend(Source(p, collection_of(p)) for p in found)
        else:
            sources.append(Source(path, collection or collection_of(path)))
    return sources


def _is_data(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    return path.is_file() and name.endswith((".bson", ".json", ".jsonl")) and not name.endswith(".metadata.json")


def collection_of(path: Path) -> str:
    return path.name.split(".", 1)[0]


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the stream to decode, the raw file whose position measures progress)."""
    raw = path.open("rb")
    head = raw.read(4)
    raw.seek(0)
    if head == ARCHIVE_MAGIC:
        raw.close()
        raise SourceError(f"{path}: a mongodump --archive file, which is not read; "
                          "dump with `mongodump --out DIR` (optionally --gzip) and import DIR")
    if head[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def records(path: Path, skip: int = 0) -> Iterator[tuple[Any, int]]:
    """(document or :class:`BadRecord`, bytes of the file read so far), after ``skip`` records."""
    stream, raw = _open(path)
    with raw, stream:
        name = path.name.removesuffix(".gz")
        reader = _bson(stream) if name.endswith(".bson") else _json(stream)
        for index, record in enumerate(reader):
            if index >= skip:
                yield record, raw.tell()


def _bson(stream: IO[bytes]) -> Iterator[Any]:
    try:
        yield from bson.decode_file_iter(stream)
    except bson.errors.InvalidBSON as error:
        raise SourceError(f"corrupt BSON, the rest of the file cannot be read: {error}") from error


def _json(stream: IO[bytes]) -> Iterator[Any]:
    first = stream.read(1)
    while first.isspace():
        first = stream.read(1)
    if first == b"[":
        yield from _json_array(first + stream.read())
        return
    for number, line in enumerate(_lines(first, stream), 1):
        text = line.decode("utf-8", "replace").strip()
        if text:
            yield _decode_json(text, f"line {number}")


def _lines(first: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    rest = stream.readline()
    yield first + rest
    yield from stream


def _json_array(data: bytes) -> Iterator[Any]:
    """The documents of a ``--jsonArray`` export (the whole array is in memory: prefer lines)."""
    try:
        documents = json.loads(data)
    except ValueError as error:
        raise SourceError(f"not a JSON array: {error}") from error
    for number, document in enumerate(documents):
        yield _from_plain(document, f"element {number}")


def _decode_json(text: str, where: str) -> Any:
    try:
        document = json_util.loads(text)
    except (ValueError, TypeError, OverflowError, bson.errors.BSONError) as error:
        return BadRecord(f"{where}: not Extended JSON: {error}", text[:2000])
    if not isinstance(document, dict):
        return BadRecord(f"{where}: not a JSON object", text[:2000])
    return document


def _from_plain(document: Any, where: str) -> Any:
    return _decode_json(json.dumps(document), where)
