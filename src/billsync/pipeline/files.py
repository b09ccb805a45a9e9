"""Time from files: CSV and JSON Lines (a payroll export, a tool's CSV download).

The whole file is checked first. By default one bad line rejects the file with every
bad line listed (line, field, reason) and nothing is written; with `partial` the good
lines are imported and the bad ones quarantined with their reasons. Either way the
import is one transaction: nothing is ever half-written.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert

from billsync.domain.canonical import Defaults, FieldError, arrival_stamp, parse_record
from billsync.errors import UserError
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, utcnow
from billsync.store.entries import Incoming, IngestCounts, ingest
from billsync.store.tables import import_batches, quarantine


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


def _rows(path: Path, text: str) -> Iterator[tuple[int, dict[str, str] | str, str]]:
    """(line number, fields or why the line is unreadable, verbatim payload)."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
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
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    names = [name.strip() for name in header]
    start = reader.line_num
    for cells in reader:
        # The record verbatim: the physical line(s) it was read from.
        payload = "".join(lines[start : reader.line_num]).rstrip("\r\n")
        start = reader.line_num
        if not cells:
            continue
        if len(cells) != len(names):
            yield reader.line_num, f"has {len(cells)} cells, the header {len(names)}", payload
            continue
        yield reader.line_num, dict(zip(names, cells, strict=True)), payload


def read_file(
    path: Path, defaults: Defaults, received_at_stamp: str
) -> tuple[list[Incoming], list[BadLine], str, int]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        reason = f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        raise ImportRejected(
            str(path), [BadLine(line, (FieldError("(file)", reason),), "")]
        ) from exc
    good: list[Incoming] = []
    bad: list[BadLine] = []
    lines = 0
    for line_no, fields, payload in _rows(path, text):
        lines += 1
        if isinstance(fields, str):
            bad.append(BadLine(line_no, (FieldError("(line)", fields),), payload))
            continue
        parsed = parse_record(fields, defaults)
        if isinstance(parsed, list):
            bad.append(BadLine(line_no, tuple(parsed), payload))
            continue
        good.append(Incoming(parsed, payload, line_no, parsed.source_revision or received_at_stamp))
    _flag_conflicts(good, bad)
    return good, bad, hashlib.sha256(data).hexdigest(), lines


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
    good, bad, digest, lines = read_file(path, defaults, arrival_stamp(received_at))
    if bad and not partial:
        raise ImportRejected(str(path), bad)
    with store.transaction() as tx:
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
        counts, revised = ingest(tx, source, good, batch_id, received_at)
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
        audit.record_many(
            [
                (
                    "entry.revised",
                    f"entry:{r.entry_id}",
                    r.before,
                    {"revision": r.revision, **r.after},
                )
                for r in revised
            ]
        )
    return ImportResult(batch_id, lines, counts, bad)
