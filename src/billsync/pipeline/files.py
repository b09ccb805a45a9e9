"""Time from files: CSV and JSON Lines (a payroll export, a tool's CSV download).

The file is read in chunks, so memory stays flat however long it is, and imported in
one transaction; a large one is read in a second process while this one writes the
chunk before (file_chunks.py reads, second_process.py runs it there). By default one
bad line rejects the file with every bad line listed (line, field, reason) and the
transaction rolls back: nothing is written. With `partial` the good lines are imported
and the bad ones quarantined with their reasons. Nothing is ever half-written.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert

from billsync.domain.canonical import Defaults, arrival_stamp, forget_repeats
from billsync.domain.model import CODE_LENGTH
from billsync.errors import UserError
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, utcnow
from billsync.store.entries import IngestCounts, ingest_rows, revision_events
from billsync.store.tables import import_batches, quarantine

from .collector import bulk_work
from .file_chunks import BadLine, ImportRejected, read_chunks
from .ingest_mapping import ingest_mapper
from .second_process import second_process

# From this size a file is parsed in a second process while this one writes. Below it
# (three chunks, measured) what that saves does not pay for starting the process, about
# a third of a second, and for the first chunk and the last, which cannot overlap.
SECOND_PROCESS_FROM = 8_000_000  # bytes


@dataclass
class ImportResult:
    batch_id: int
    lines: int
    counts: IngestCounts
    quarantined: list[BadLine] = field(default_factory=list)


def import_file(
    store: Store,
    path: Path,
    *,
    source: str,
    actor: str,
    defaults: Defaults,
    partial: bool = False,
    second_process_from: int = SECOND_PROCESS_FROM,
) -> ImportResult:
    """Import the file in one transaction. A file of `second_process_from` bytes or
    more is parsed in a second process while this one writes the chunk before."""
    if not 0 < len(source) <= CODE_LENGTH:
        raise UserError(f"source {source!r}: a source's name has 1 to {CODE_LENGTH} characters")
    received_at = utcnow()
    stamp = arrival_stamp(received_at)
    # One transaction, filled chunk by chunk: a rejected file rolls back whole.
    with bulk_work(), store.transaction(large=True) as tx:
        authorize(tx, actor, "import")
        batch_id = tx.conn.execute(
            insert(import_batches)
            .values(
                workspace_id=tx.workspace_id,
                source=source,
                filename=path.name,
                sha256="",  # below, once the reading has started
                counts={},
                actor=actor,
                created_at=received_at,
            )
            .returning(import_batches.c.id)
        ).scalar_one()
        counts, revised, bad, lines = IngestCounts(), [], [], 0
        large = path.stat().st_size >= second_process_from
        with second_process() if large else nullcontext(None) as there:
            # While the second process starts: reading the workspace takes about as long.
            mapper = ingest_mapper(tx)
            args = (path, defaults, stamp, source, mapper)
            chunks = read_chunks(*args) if there is None else there.run(read_chunks, *args)
            # Here, while a second process reads the first chunk (a large file's SHA-256
            # takes a quarter of a second).
            with path.open("rb") as raw:
                digest = hashlib.file_digest(raw, "sha256").hexdigest()
            for chunk in chunks:
                bad += chunk.bad
                lines += chunk.lines
                if bad and not partial:
                    continue  # read on only to list every bad line
                chunk_counts, chunk_revised = ingest_rows(
                    tx, source, chunk.good, batch_id, received_at, mapper.fingerprint
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
                        # PostgreSQL holds no NUL in text: shown as U+FFFD instead.
                        "payload": b.payload.replace("\x00", "\ufffd"),
                        "errors": [vars(e) for e in b.errors],
                        "created_at": received_at,
                    }
                    for b in bad
                ],
            )
        summary = {**counts.as_dict(), "quarantined": len(bad), "lines": lines}
        tx.conn.execute(
            import_batches.update()
            .where(import_batches.c.id == batch_id)
            .values(sha256=digest, counts=summary)
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
