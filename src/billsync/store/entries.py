"""Time entries: bulk ingest of revisions, loading for the pipeline, finance actions.

Ingest is keyed by (source, external id). A record whose revision is older than the
stored one is kept as a raw record but never applied; the same content again changes
nothing; changed content becomes the next revision.
"""

from __future__ import annotations

import datetime as dt
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.types import NullType

from billsync.domain.canonical import Canonical, supersedes
from billsync.domain.entries import (
    Approval,
    Category,
    EntryState,
    SourceRef,
    TimeEntry,
    WriteAdjustment,
)
from billsync.domain.mapping import Codes

from .bulk import among, converted, insert_columns, update_rows
from .db import Tx
from .incoming import (
    CODES,
    FIELDS,
    MAPPED,
    OWN,
    UNMAPPED,
    Incoming,
    IncomingRow,
    Mapper,
    incoming_rows,
)
from .tables import entry_adjustments, raw_records, time_entries

CHUNK = 5000
# From this many new entries in one call (a chunk of a large import file), they are
# numbered and stored person by person, each person's in the order they came; fewer,
# in the order they came, so that a small file's ids follow its lines.
GROUPED_FROM = 1000
ANALYZE_FROM = 1000  # records in one call from which PostgreSQL's statistics are renewed


@dataclass
class IngestCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    stale: int = 0  # older than what is stored: kept as raw, not applied

    def add(self, other: IngestCounts) -> None:
        self.new += other.new
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.stale += other.stale

    def as_dict(self) -> dict[str, int]:
        return {
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "stale": self.stale,
        }


# Where a row holds what a raw record stores of it, by column.
_RAW = {"external_id": 0, "sha256": 2, "payload": -2, "line_no": -1}
# A new entry's columns, in the order of a row (which holds the payload and line after).
_NEW = ("external_id", "source_revision", "raw_sha256", *FIELDS, *MAPPED)
_external_id = itemgetter(0)
_person_of_row = itemgetter(CODES.start)


_fields_of_row = attrgetter(*FIELDS)  # a stored entry's FIELDS, comparable with an IncomingRow's


def _canonical_of_row(row: Any, stamp: str | None = None, deleted: bool | None = None) -> Canonical:
    """The stored revision as the parser would have made it."""
    return Canonical(
        row.external_id,
        SourceRef(row.src_person, row.src_project, row.src_task, row.src_client),
        row.work_date,
        row.duration_seconds,
        row.timezone,
        row.start_at,
        row.end_at,
        row.notes,
        Approval(row.approval),
        row.billable,
        Category(row.category),
        row.source_rate,
        stamp,
        row.deleted if deleted is None else deleted,
    )


@dataclass(frozen=True)
class Revised:
    entry_id: int
    external_id: str
    revision: int
    before: dict[str, Any]
    after: dict[str, Any]


def ingest(
    tx: Tx,
    source: str,
    items: Sequence[Incoming],
    batch_id: int | None,
    received_at: dt.datetime,
    mapper: Mapper | None = None,
) -> tuple[IngestCounts, list[Revised]]:
    """Write raw records and apply new revisions, all in the caller's transaction.

    With a `mapper`, new and changed entries are stored with their codes and its
    fingerprint, so the run does not map them again; without, they are stored unmapped
    and the run maps them."""
    rows = incoming_rows(source, items, mapper)
    fingerprint = mapper.fingerprint if mapper else ""
    return ingest_rows(tx, source, rows, batch_id, received_at, fingerprint)


def ingest_rows(
    tx: Tx,
    source: str,
    rows: Sequence[IncomingRow],
    batch_id: int | None,
    received_at: dt.datetime,
    fingerprint: str,
) -> tuple[IngestCounts, list[Revised]]:
    """`ingest` of records as rows that carry their codes, resolved under the mapping
    inputs `fingerprint` ("": not mapped). An entry finance moved maps from where it
    was moved to, which only the run works out: a change to one leaves it unmapped."""
    if tx.conn.dialect.name == "postgresql" and len(rows) >= ANALYZE_FROM:
        # Rows this transaction inserted are not in the planner's statistics: it would
        # look keys up by workspace and source alone and filter the rest, which grows
        # with every chunk. Fresh statistics make it use the whole key. (A webhook's
        # few records are not worth it: ANALYZE reads the tables and runs one at a time.)
        tx.conn.exec_driver_sql("ANALYZE time_entries, raw_records")
    counts = IngestCounts()
    revised: list[Revised] = []
    newest = _newest(rows)
    counts.stale += len(rows) - len(newest)

    _store_raw(tx, source, rows, batch_id, received_at, ids_repeat=len(newest) < len(rows))
    existing = _existing(tx, source, list(newest))
    inserts: list[IncomingRow] = []
    updates: list[dict[str, Any]] = []
    restamped: list[dict[str, Any]] = []

    for external_id, item in newest.items():
        row = existing.get(external_id)
        source_revision = item[1]
        if row is None:
            inserts.append(item)
        elif not supersedes(source_revision, row.source_revision):
            counts.stale += 1
        elif item[OWN] == _fields_of_row(row):
            counts.unchanged += 1
            if source_revision != row.source_revision and not source_revision.startswith("a:"):
                # Same work, newer stamp: remember it, or an older revision could win later
                # (an arrival time orders nothing: what arrives later wins anyway).
                restamped.append({"id": row.id, "source_revision": source_revision})
        else:
            counts.changed += 1
            fields = dict(zip(FIELDS, item[OWN], strict=True))
            moved = bool(row.transfer_project)
            updates.append(
                {
                    "id": row.id,
                    "revision": row.revision + 1,
                    "source_revision": source_revision,
                    "raw_sha256": item[2],
                    "updated_at": received_at,
                    **dict(zip(MAPPED, UNMAPPED if moved else item[CODES], strict=True)),
                    "mapped_with": "" if moved else fingerprint,
                    **fields,
                }
            )
            before = {k: getattr(row, k) for k in fields}
            revised.append(
                Revised(
                    row.id,
                    external_id,
                    row.revision + 1,
                    _diff(before, fields)[0],
                    _diff(before, fields)[1],
                )
            )
    counts.new += len(inserts)
    if len(inserts) >= GROUPED_FROM:
        # Each person's new entries side by side: a run reads entries a batch of whole
        # people at a time, and one person's rows then share pages (a million-entry
        # run: loading 4.0 s -> 3.2 s, its second process's CPU 10 s -> 8.5 s).
        inserts.sort(key=_person_of_row)
    if inserts:
        # What a new entry's row holds of its own, then what the import knows.
        written = dict(zip(_NEW, zip(*inserts, strict=True), strict=False))
        same = {"workspace_id": tx.workspace_id, "source": source, "revision": 1,
                "updated_at": received_at, "mapped_with": fingerprint}  # fmt: skip
        insert_columns(tx.conn, time_entries, written, same=same)
    update_rows(tx.conn, time_entries, "id", updates)
    update_rows(tx.conn, time_entries, "id", restamped)
    return counts, revised


def revision_events(revised: Iterable[Revised]) -> list[tuple[str, str, Any, Any]]:
    """The audit events of entries that got a new revision."""
    return [
        ("entry.revised", f"entry:{r.entry_id}", r.before, {"revision": r.revision, **r.after})
        for r in revised
    ]


def _diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def _newest(rows: Sequence[IncomingRow]) -> dict[str, IncomingRow]:
    """Each external id's row: within one delivery the newest revision of each id
    wins, whatever the order."""
    newest = dict(zip(map(_external_id, rows), rows, strict=True))
    if len(newest) == len(rows):
        return newest  # each id once, as in most deliveries: nothing to choose
    newest.clear()
    for item in rows:
        seen = newest.get(item[0])
        if seen is None or supersedes(item[1], seen[1]):
            newest[item[0]] = item
    return newest


def _store_raw(
    tx: Tx,
    source: str,
    rows: Sequence[IncomingRow],
    batch_id: int | None,
    received_at: dt.datetime,
    *,
    ids_repeat: bool,
) -> None:
    """Every payload verbatim; one already stored (same id and hash) is kept once."""
    if ids_repeat:  # the same record twice is one raw record
        rows = list({(row[0], row[2]): row for row in rows}.values())
    columns = {name: list(map(itemgetter(at), rows)) for name, at in _RAW.items()}
    same = {"workspace_id": tx.workspace_id, "source": source, "batch_id": batch_id,
            "received_at": received_at}  # fmt: skip
    insert_columns(tx.conn, raw_records, columns, same=same, skip_existing=True)


def _existing(tx: Tx, source: str, external_ids: Sequence[str]) -> dict[str, Any]:
    rows = tx.conn.execute(
        select(time_entries).where(
            time_entries.c.workspace_id == tx.workspace_id,
            time_entries.c.source == source,
            among(tx, time_entries.c.external_id, external_ids),
        )
    )
    return {r.external_id: r for r in rows}


Processor = Callable[[Any], Any] | None  # a column type's result processor

# What loading reads of an entry: these columns one by one...
_READ = [
    time_entries.c[name]
    for name in (
        "id",
        "external_id",
        "work_date",
        "duration_seconds",
        "start_at",
        "end_at",
        "notes",
        "source_rate",
    )
]
# ...and these, whose values repeat across entries: built once per distinct set and
# shared by the entries that have it. Only text, integer and boolean columns (see
# _shared_read).
_SHARED = [
    time_entries.c[name]
    for name in (
        "revision",
        "source",
        "src_person",
        "src_project",
        "src_task",
        "src_client",
        "timezone",
        "approval",
        "billable",
        "category",
        "deleted",
        "state",
        "person",
        "project",
        "task",
        "phase",
        "cost_center",
    )
]


def _shared_read(tx: Tx) -> list[ColumnElement[Any]]:
    """How _SHARED is read. On SQLite, the driver making a value per column and row is
    most of loading's time: the columns come as one JSON array, parsed once per distinct
    array (JSON gives text, integers and booleans back exactly). On PostgreSQL, the
    driver makes the values faster than the server would build the arrays."""
    if tx.conn.dialect.name == "sqlite":
        return [func.json_array(*_SHARED)]
    return [_raw(column) for column in _SHARED]


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as the driver gives it: SQLAlchemy converts none of its values."""
    return type_coerce(column, NullType())


@dataclass
class _Loader:
    """Builds entries from rows of _READ and _shared_read, a chunk at a time and column
    by column: each conversion runs once per distinct value, the loops over rows run in
    C (map, zip, dict)."""

    read: list[Processor]  # the result processors of _READ
    shared: list[Processor]  # and of _SHARED
    packed: bool  # _SHARED is read as a JSON array
    adjustments: dict[int, tuple[WriteAdjustment, ...]]
    made: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)  # _made's
    interned: dict[Any, Any] = field(default_factory=dict)  # one object per text, reference

    @classmethod
    def of(
        cls, tx: Tx, described: Sequence[Any], adjustments: dict[int, tuple[WriteAdjustment, ...]]
    ) -> _Loader:
        """A loader for rows the driver `described`. A column's result processor is
        picked as SQLAlchemy picks it, by the driver's type of the column (those of
        text, integer and boolean columns depend on none)."""
        dialect = tx.conn.dialect
        read = zip(_READ, described[: len(_READ)], strict=True)
        return cls(
            [column.type._cached_result_processor(dialect, d[1]) for column, d in read],
            [column.type._cached_result_processor(dialect, None) for column in _SHARED],
            dialect.name == "sqlite",
            adjustments,
        )

    def entries(self, rows: Sequence[Sequence[Any]]) -> Iterator[TimeEntry]:
        columns = list(zip(*rows, strict=True))
        read, shared = columns[: len(_READ)], columns[len(_READ) :]
        ids, external_ids, days, seconds, starts, ends, notes, rates = (
            values if process is None else converted(values, process, column.type)
            for values, process, column in zip(read, self.read, _READ, strict=True)
        )
        keys = list(zip(*shared, strict=True))  # each row's _shared_read
        made = self.made
        for key in set(keys).difference(made):
            made[key] = self._made(key)
        revision, source, ref, zone, approval, billable, category, deleted, state, *codes = zip(
            *map(made.__getitem__, keys), strict=True
        )
        person, project, task, phase, cost_center = codes
        adjustments = map(self.adjustments.get, ids, repeat(()))
        return map(
            TimeEntry, ids, revision, source, external_ids, ref, days, seconds, zone, starts,
            ends, notes, approval, billable, category, rates, deleted, state, person, project,
            task, phase, cost_center, adjustments,
        )  # fmt: skip

    def _made(self, key: tuple[Any, ...]) -> tuple[Any, ...]:
        """What an entry takes of _SHARED, read as `key`: revision, source, what the
        source called things, zone, approval, billable, category, deleted, state and the
        five codes."""
        values = [
            value if process is None else process(value)
            for process, value in zip(
                self.shared, json.loads(key[0]) if self.packed else key, strict=True
            )
        ]
        (revision, source, person, project, task, client, zone, approval, billable, category,
         deleted, state, *codes) = values  # fmt: skip
        one = self.interned.setdefault
        said = (person, project, task, client)
        ref = self.interned.get(said) or one(said, SourceRef(*said))
        return (
            revision, one(source, source), ref, one(zone, zone), Approval(approval), billable,
            Category(category), deleted, EntryState(state), *[one(code, code) for code in codes],
        )  # fmt: skip


def adjustments_by_entry(
    tx: Tx, ids: Sequence[int] | None = None
) -> dict[int, tuple[WriteAdjustment, ...]]:
    """Finance's writes of every entry of the workspace (or of the given ids)."""
    query = select(
        entry_adjustments.c.entry_id, entry_adjustments.c.seconds, entry_adjustments.c.reason
    ).order_by(entry_adjustments.c.id)
    if ids is None:
        query = query.join(time_entries, time_entries.c.id == entry_adjustments.c.entry_id).where(
            time_entries.c.workspace_id == tx.workspace_id
        )
    else:
        query = query.where(among(tx, entry_adjustments.c.entry_id, ids))
    out: dict[int, list[WriteAdjustment]] = {}
    for r in tx.conn.execute(query):
        out.setdefault(r.entry_id, []).append(WriteAdjustment(r.reason, r.seconds))
    return {k: tuple(v) for k, v in out.items()}


def _whole_workspace(tx: Tx) -> ColumnElement[bool]:
    """The workspace's entries, for reading all of them in id order. On SQLite the
    workspace is an expression: given a plain column, SQLite searches an index by
    workspace, looks every row up from it and sorts them all again, where a scan of
    the table reads them in id order already."""
    column = time_entries.c.workspace_id
    return (column + 0 if tx.conn.dialect.name == "sqlite" else column) == tx.workspace_id


def load_entries(tx: Tx, ids: Sequence[int] | None = None) -> Iterator[TimeEntry]:
    """Every current entry of the workspace (or the given ids) in id order, streamed.
    Its values are what SQLAlchemy's row processing gives (each column type's result
    processor, run here once per distinct value); entries share the values they repeat
    (codes, what the source called things, days), which is most of an entry's memory."""
    query = select(*map(_raw, _READ), *_shared_read(tx)).order_by(time_entries.c.id)
    if ids is None:
        query = query.where(_whole_workspace(tx))
    else:
        query = query.where(
            among(tx, time_entries.c.id, ids),
            # The workspace as an expression: a plain column lets SQLite scan the
            # workspace's index instead of looking the ids up by key.
            time_entries.c.workspace_id + 0 == tx.workspace_id,
        )
    adjustments = adjustments_by_entry(tx, ids)
    result = tx.conn.execute(query.execution_options(yield_per=CHUNK))
    loader = _Loader.of(tx, result.cursor.description, adjustments)
    for rows in result.partitions():
        yield from loader.entries(rows)


def to_map(tx: Tx, fingerprint: str) -> Iterator[tuple[int, str, SourceRef, dt.date]]:
    """(id, source, what the source called things, work date) of the
    entries whose codes were not resolved under the mapping inputs `fingerprint`, and
    of those finance transferred (their transfer stands in for what the source said),
    in id order. Equal references are one object."""
    shared: dict[tuple[str, str, str, str], SourceRef] = {}
    c = time_entries.c
    rows = tx.conn.execute(
        select(
            c.id, c.source, c.src_person, c.src_project, c.src_task, c.src_client, c.work_date
        )
        .where(_whole_workspace(tx), _to_map(fingerprint))
        .order_by(c.id)
        .execution_options(yield_per=CHUNK)
    )  # fmt: skip
    for id_, source, person, project, task, client, day in rows:
        said = (person, project, task, client)
        ref = shared.get(said)
        if ref is None:
            ref = shared[said] = SourceRef(*said)
        yield id_, source, ref, day


def save_mapping(tx: Tx, mapped: Iterable[tuple[int, Codes]], fingerprint: str) -> None:
    """Store the codes mapping resolved and the fingerprint of the inputs it read (in
    id order, so that each page of the table is written once)."""
    rows = (
        {"id": entry_id, **dict(zip(MAPPED, codes, strict=True)), "mapped_with": fingerprint}
        for entry_id, codes in mapped
    )
    while chunk := list(islice(rows, CHUNK)):
        update_rows(tx.conn, time_entries, "id", chunk)


def _to_map(fingerprint: str) -> ColumnElement[bool]:
    """The entries `to_map` reads."""
    c = time_entries.c
    return (c.mapped_with != fingerprint) | (c.transfer_project != "")


def has_entries(tx: Tx, at_least: int) -> bool:
    """Whether the workspace has `at_least` current entries (counting no further)."""
    if at_least <= 0:
        return True
    query = select(time_entries.c.id).where(time_entries.c.workspace_id == tx.workspace_id)
    return tx.conn.execute(query.limit(1).offset(at_least - 1)).first() is not None


def people_of_entries(tx: Tx, fingerprint: str) -> tuple[dict[str, array[int]], int]:
    """The ids of every current entry by person code, ascending, and how many entries
    `to_map` would read under `fingerprint`: one read of the table. The ids of a person
    come as one value, so a million entries are not a million rows in Python."""
    c = time_entries.c
    ids: ColumnElement[Any] = (
        func.array_agg(aggregate_order_by(c.id, c.id))
        if tx.conn.dialect.name == "postgresql"
        else func.json_group_array(c.id)
    )
    to_map = func.count().filter(_to_map(fingerprint))
    query = select(c.person, ids, to_map).where(_whole_workspace(tx)).group_by(c.person)
    people: dict[str, array[int]] = {}
    count = 0
    for person, listed, mapped in tx.conn.execute(query):
        # SQLite lists them in no set order; PostgreSQL sorts them (sorted() is quick then).
        people[person] = array(
            "q", sorted(json.loads(listed) if isinstance(listed, str) else listed)
        )
        count += mapped
    return people, count


def transfers(tx: Tx) -> dict[int, tuple[str, str]]:
    """Entries finance moved to another project or task: id -> (project, task)."""
    c = time_entries.c
    rows = tx.conn.execute(
        # By ix_time_entries_moved: its condition as the index has it.
        select(c.id, c.transfer_project, c.transfer_task).where(
            c.workspace_id == tx.workspace_id, c.transfer_project != ""
        )
    )
    return {r.id: (r.transfer_project, r.transfer_task) for r in rows}


def live_ids(tx: Tx, source: str, start: dt.date, end: dt.date) -> set[str]:
    """External ids of the source's entries, not deleted, worked in [start, end]."""
    rows = tx.conn.execute(
        select(time_entries.c.external_id).where(
            time_entries.c.workspace_id == tx.workspace_id,
            time_entries.c.source == source,
            time_entries.c.deleted.is_(False),
            time_entries.c.work_date.between(start, end),
        )
    )
    return {r.external_id for r in rows}


def tombstones(tx: Tx, source: str, external_ids: Sequence[str], stamp: str) -> list[Incoming]:
    """A deleted revision of each stored entry: the same work marked deleted, stamped
    `stamp`, so ingest treats the deletion like any other change (and raises
    `entry.changed_after_billing` when the entry was billed)."""
    out = []
    for external_id, row in _existing(tx, source, external_ids).items():
        if row.deleted:
            continue
        record = _canonical_of_row(row, stamp, deleted=True)
        payload = json.dumps({"external_id": external_id, "deleted": True, "seen_missing": stamp})
        out.append(Incoming(record, payload, None, stamp))
    return out
