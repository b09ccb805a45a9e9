"""Time from files: CSV and JSON Lines (a payroll export, a tool's CSV download).

The file is read in chunks, so memory stays flat however long it is, and imported in
one transaction. By default one bad line rejects the file with every bad line listed
(line, field, reason) and the transaction rolls back: nothing is written. With
`partial` the good lines are imported and the bad ones quarantined with their reasons.
Nothing is ever half-written.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import insert

from billsync.domain.canonical import (
    KNOWN_FIELDS,
    Defaults,
    FieldError,
    arrival_stamp,
    forget_repeats,
    parse_record,
)
from billsync.errors import UserError
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, utcnow
from billsync.store.entries import Incoming, IngestCounts, ingest, revision_events
from billsync.store.tables import import_batches, quarantine

from .collector import bulk_work
from .ingest_mapping import ingest_mapper

CHUNK = 20_000  # records parsed and written at a time


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


@dataclass
class ImportResult:
    batch_id: int
    lines: int
    counts: IngestCounts
    quarantined: list[BadLine] = field(default_factory=list)


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


def _rows(path: Path, handle: TextIO) -> Iterator[tuple[int, dict[str, str] | str, str]]:
    """(line number, fields or why the line is unreadable, verbatim payload)."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=str, parse_int=str)
            except json.JSONDecodeError as exc:
                yield number, f"not valid JSON: {exc.msg}", line
                continue
            if not isinstance(value, dict):
                yield number, "not a JSON object", line
                continue
            yield number, {k: "" if v is None else str(v) for k, v in value.items()}, line
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
    for line_no, cells, payload in records:
        if not cells:
            continue
        if len(cells) != len(names):
            yield line_no, f"has {len(cells)} cells, the header {len(names)}", payload
            continue
        yield line_no, dict(zip(names, cells, strict=True)), payload


@dataclass
class _Chunk:
    good: list[Incoming]
    bad: list[BadLine]
    lines: int


def read_chunks(
    path: Path, defaults: Defaults, received_at_stamp: str, size: int = CHUNK
) -> Iterator[_Chunk]:
    """The file parsed in chunks of `size` records, so memory stays flat."""
    chunk = _Chunk([], [], 0)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = _rows(path, handle)
        while True:
            try:
                line_no, fields, payload = next(rows)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                reason = f"not UTF-8 text (byte {exc.start} of a block); save the file as UTF-8"
                chunk.bad.append(BadLine(chunk.lines + 1, (FieldError("(file)", reason),), ""))
                break
            chunk.lines += 1
            if isinstance(fields, str):
                chunk.bad.append(BadLine(line_no, (FieldError("(line)", fields),), payload))
            else:
                parsed = parse_record(fields, defaults)
                if isinstance(parsed, list):
                    chunk.bad.append(BadLine(line_no, tuple(parsed), payload))
                else:
                    stamp = parsed.source_revision or received_at_stamp
                    chunk.good.append(Incoming(parsed, payload, line_no, stamp))
            if chunk.lines >= size:
                _flag_conflicts(chunk.good, chunk.bad)
                yield chunk
                chunk = _Chunk([], [], 0)
    _flag_conflicts(chunk.good, chunk.bad)
    yield chunk


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


def import_file(
    store: Store,
    path: Path,
    *,
    source: str,
    actor: str,
    defaults: Defaults,
    partial: bool = False,
) -> ImportResult:
    received_at = utcnow()
    stamp = arrival_stamp(received_at)
    with path.open("rb") as raw:
        digest = hashlib.file_digest(raw, "sha256").hexdigest()
    # One transaction, filled chunk by chunk: a rejected file rolls back whole.
    with bulk_work(), store.transaction() as tx:
        authorize(tx, actor, "import")
        batch_id = tx.conn.execute(
            insert(import_batches)
            .values(
                workspace_id=tx.workspace_id,
                source=source,
                filename=path.name,
                sha256=digest,
                counts={},
                actor=actor,
                created_at=received_at,
            )
            .returning(import_batches.c.id)
        ).scalar_one()
        counts, revised, bad, lines = IngestCounts(), [], [], 0
        mapper = ingest_mapper(tx)
        for chunk in read_chunks(path, defaults, stamp):
            bad += chunk.bad
            lines += chunk.lines
            if bad and not partial:
                continue  # read on only to list every bad line
            chunk_counts, chunk_revised = ingest(
                tx, source, chunk.good, batch_id, received_at, mapper
            )
            counts.add(chunk_counts)
            revised += chunk_revised
        forget_repeats()
        if bad and not partial:
            raise ImportRejected(str(path), bad)
        if bad:
            tx.conn.execute(
                insert(quarantine),
                [
                    {
                        "workspace_id": tx.workspace_id,
                        "batch_id": batch_id,
                        "line_no": b.line_no,
                        "payload": b.payload,
                        "errors": [vars(e) for e in b.errors],
                        "created_at": received_at,
                    }
                    for b in bad
                ],
            )
        summary = {**counts.as_dict(), "quarantined": len(bad), "lines": lines}
        tx.conn.execute(
            import_batches.update().where(import_batches.c.id == batch_id).values(counts=summary)
        )
        audit = AuditLog(tx, actor)
        audit.record(
            "import.batch",
            f"batch:{batch_id}",
            None,
            {"source": source, "file": path.name, "sha256": digest, **summary},
        )
        audit.record_many(revision_events(revised))
    return ImportResult(batch_id, lines, counts, bad)
