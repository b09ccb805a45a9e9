"""An import file read in chunks of parsed records: CSV and JSON Lines.

Each chunk holds its good lines as the rows ingest takes them (hashed and mapped) and
its bad lines with their reasons. This module imports no database code: a large file
is read by it in a second process (see files.py), which starts the faster for it.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from billsync.domain.canonical import (
    FIELDS,
    KNOWN_FIELDS,
    Canonical,
    Defaults,
    FieldError,
    parse_fields,
    parse_record,
)
from billsync.errors import UserError
from billsync.store.incoming import Incoming, IncomingRow, Mapper, incoming_rows

from .collector import bulk_work

CHUNK = 20_000  # records parsed and written at a time
# The first chunk's: the writing process waits for it, and starts sooner on a small one.
FIRST_CHUNK = 2_000


@dataclass(frozen=True)
class BadLine:
    line_no: int
    errors: tuple[FieldError, ...]
    payload: str

    def describe(self) -> str:
        return "; ".join(f"{e.field}: {e.reason}" for e in self.errors)


class ImportRejected(UserError):
    def __init__(self, filename: str, bad: list[BadLine]):
        self.filename, self.bad = filename, bad
        shown = "\n".join(f"{filename}:{b.line_no}: {b.describe()}" for b in bad[:200])
        more = f"\n... and {len(bad) - 200} more" if len(bad) > 200 else ""
        super().__init__(
            f"{filename}: {len(bad)} bad line(s); nothing was imported "
            f"(use --partial to import the good lines)\n{shown}{more}"
        )

    def __reduce__(self) -> tuple[type[ImportRejected], tuple[str, list[BadLine]]]:
        # It is raised in a second process too, and crosses as what it is made from.
        return ImportRejected, (self.filename, self.bad)


def _records(handle: TextIO) -> Iterator[tuple[int, list[str], str]]:
    """(number of its last line, cells, verbatim payload) of each CSV record. The csv
    module reads a copy of the lines (a quoted field may span several), and each
    record's payload is taken from the other copy: as many lines as it read."""
    lines, verbatim = itertools.tee(handle)
    reader = csv.reader(lines)
    read = 0
    for cells in reader:
        count, read = reader.line_num - read, reader.line_num
        text = next(verbatim) if count == 1 else "".join(itertools.islice(verbatim, count))
        yield read, cells, text.rstrip("\r\n")


def _parsed(
    path: Path, handle: TextIO, defaults: Defaults
) -> Iterator[tuple[int, Canonical | list[FieldError], str]]:
    """(line number, record or its errors, verbatim payload) of each line."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=str, parse_int=str)
            except json.JSONDecodeError as exc:
                yield number, _unreadable(f"not valid JSON: {exc.msg}"), line
                continue
            if not isinstance(value, dict):
                yield number, _unreadable("not a JSON object"), line
                continue
            fields = {k: "" if v is None else str(v) for k, v in value.items()}
            yield number, parse_record(fields, defaults), line
        return
    records = _records(handle)
    first = next(records, None)
    if first is None:
        return
    _, header, header_payload = first
    names = [name.strip() for name in header]
    unknown = [name for name in names if name not in KNOWN_FIELDS]
    if unknown:  # every line would fail the same way: say it once
        known = ", ".join(sorted(KNOWN_FIELDS))
        raise ImportRejected(
            str(path),
            [
                BadLine(
                    1,
                    tuple(FieldError(name, f"unknown column (known: {known})") for name in unknown),
                    header_payload,
                )
            ],
        )
    # Each field's cell by position (the last of a name given twice); a field the
    # header lacks reads the empty cell added after a line's own.
    position = {name: i for i, name in enumerate(names)}
    fields_of = itemgetter(*(position.get(name, len(names)) for name in FIELDS))
    for line_no, cells, payload in records:
        if not cells:
            continue
        if len(cells) != len(names):
            yield line_no, _unreadable(f"has {len(cells)} cells, the header {len(names)}"), payload
            continue
        if "\x00" in payload:  # rare: read by name, which says in which field
            yield line_no, parse_record(dict(zip(names, cells, strict=True)), defaults), payload
            continue
        cells.append("")
        yield line_no, parse_fields(fields_of(cells), defaults), payload


def _unreadable(reason: str) -> list[FieldError]:
    return [FieldError("(line)", reason)]


@dataclass
class Chunk:
    good: list[IncomingRow]
    bad: list[BadLine]
    lines: int


def read_chunks(
    path: Path,
    defaults: Defaults,
    received_at_stamp: str,
    source: str,
    mapper: Mapper,
    size: int = CHUNK,
) -> Iterator[Chunk]:
    """The file parsed in chunks of `size` records (the first of at most FIRST_CHUNK),
    so memory stays flat: its good lines as ingest takes them, mapped, and its bad
    lines."""
    good: list[Incoming] = []
    chunk = Chunk([], [], 0)
    limit = min(size, FIRST_CHUNK)
    # In a second process too, where no caller has paused the collector.
    with bulk_work(), path.open(encoding="utf-8-sig", newline="") as handle:
        lines = _parsed(path, handle, defaults)
        while True:
            try:
                line_no, parsed, payload = next(lines)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                reason = f"not UTF-8 text (byte {exc.start} of a block); save the file as UTF-8"
                chunk.bad.append(BadLine(chunk.lines + 1, (FieldError("(file)", reason),), ""))
                break
            chunk.lines += 1
            if isinstance(parsed, list):
                chunk.bad.append(BadLine(line_no, tuple(parsed), payload))
            else:
                stamp = parsed.source_revision or received_at_stamp
                good.append(Incoming(parsed, payload, line_no, stamp))
            if chunk.lines >= limit:
                yield _finished(chunk, good, source, mapper)
                chunk, limit = Chunk([], [], 0), size
    yield _finished(chunk, good, source, mapper)


def _finished(chunk: Chunk, good: list[Incoming], source: str, mapper: Mapper) -> Chunk:
    """The chunk with its good lines as rows, which `good` no longer holds: while the
    chunk is written, only the rows take memory."""
    _flag_conflicts(good, chunk.bad)
    chunk.good = incoming_rows(source, good, mapper)
    good.clear()
    return chunk


def _flag_conflicts(good: list[Incoming], bad: list[BadLine]) -> None:
    """Two lines with one id and one revision but different content: which is right is
    unknowable, so both are bad."""
    seen: dict[tuple[str, str], Incoming] = {}
    conflicted: set[int] = set()
    for item in good:
        key = (item.record.external_id, item.source_revision)
        other = seen.setdefault(key, item)
        if other is not item and other.record.content() != item.record.content():
            conflicted.update({id(other), id(item)})
    if not conflicted:
        return
    for item in [i for i in good if id(i) in conflicted]:
        reason = "another line has this external_id and revision with different content"
        bad.append(BadLine(item.line_no or 0, (FieldError("external_id", reason),), item.payload))
    good[:] = [i for i in good if id(i) not in conflicted]
    bad.sort(key=lambda b: b.line_no)
