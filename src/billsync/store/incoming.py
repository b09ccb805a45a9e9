"""Records as they arrive, and the plain rows ingest takes them as.

A row is a tuple of plain values (text, numbers, days, instants), in this order:

    external_id, source_revision, raw_sha256, *FIELDS, *MAPPED (its codes), payload, line_no

A large file's import builds the rows in a second process, which imports this module
and not the database's: a tuple of plain values crosses to the writing process several
times faster than the Incoming and Canonical it is made from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from billsync.domain.canonical import Canonical
from billsync.domain.entries import Approval, Category, SourceRef
from billsync.domain.mapping import Codes
from billsync.domain.values import value

# A record's own columns (what its source says), in the order of a row.
FIELDS = ("src_person", "src_project", "src_task", "src_client", "work_date", "start_at",
          "end_at", "duration_seconds", "timezone", "notes", "approval", "billable",
          "category", "source_rate", "deleted")  # fmt: skip
MAPPED = ("person", "project", "task", "phase", "cost_center")  # Codes, as columns
UNMAPPED: Codes = ("", "", "", "", "")

IncomingRow = tuple[Any, ...]
OWN = slice(3, 3 + len(FIELDS))  # where a row holds the record's FIELDS
CODES = slice(OWN.stop, -2)  # and its codes


def payload_hash(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


@value
class Incoming:
    """One parsed record with the verbatim payload it came from."""

    record: Canonical
    payload: str
    line_no: int | None
    source_revision: str


@dataclass(frozen=True)
class Mapper:
    """The codes a record of a source, reference and work day maps to, and the
    fingerprint of the mapping inputs they come from (stored beside them)."""

    codes: Callable[[str, SourceRef, dt.date], Codes]
    fingerprint: str


def incoming_rows(
    source: str, items: Iterable[Incoming], mapper: Mapper | None
) -> list[IncomingRow]:
    """The records of a source as rows, with the codes `mapper` gives them (none
    without one)."""
    if mapper is None:
        return [_row(item, UNMAPPED) for item in items]
    codes = mapper.codes
    return [_row(item, codes(source, item.record.ref, item.record.work_date)) for item in items]


def _row(item: Incoming, codes: Codes) -> IncomingRow:
    return (
        item.record.external_id, item.source_revision, payload_hash(item.payload),
        *_field_values(item.record), *codes, item.payload, item.line_no,
    )  # fmt: skip


# The text of each member, one object each: `.value` is a Python-level descriptor (a
# million calls on a bulk import), and `str` of a member makes a new string each time,
# which a second process pickles each time.
_TEXT: dict[Approval | Category, str] = {m: m.value for m in (*Approval, *Category)}


def _field_values(rec: Canonical) -> tuple[Any, ...]:
    """The record's FIELDS, in that order."""
    ref = rec.ref
    return (
        ref.person, ref.project, ref.task, ref.client, rec.work_date, rec.start, rec.end,
        rec.duration_seconds, rec.timezone, rec.notes, _TEXT[rec.approval], rec.billable,
        _TEXT[rec.category], rec.source_rate, rec.deleted,
    )  # fmt: skip
