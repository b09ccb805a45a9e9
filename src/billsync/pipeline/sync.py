"""Sync one connection: pull what changed, sweep for deletions, keep the raw payloads.

    billsync sync --connection harvest
    harvest: fetched 2,140  new 2,100  changed 38  unchanged 2  deleted 3  rejected 0

Incremental by the vendor's change stamps: the read starts `overlap_minutes` before the
newest stamp seen, so a late write is not missed; a watermark older than the vendor's
change window (or none) means a full read. Each page is written in its own
transaction, so none is ever half-written; the watermark moves only when the read has
finished, so an interrupted sync reads again from where the last one ended. Every
record is kept verbatim as a raw record; one the canonical parser refuses, or whose
fields the connector cannot read (a wrong type, no id), is quarantined with its
reasons, and the rest of its page is ingested. The reconcile sweep lists what the
vendor holds over the last `reconcile_days` and marks stored entries it no longer has
as deleted, after asking for each by id (a paging glitch never deletes anything).
Ingest is idempotent: syncing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from sqlalchemy import insert

from billsync.connectors.base import Page, Source, VendorRecord
from billsync.connectors.fields import BadField
from billsync.domain.canonical import Defaults, arrival_stamp, parse_record, revision_stamp
from billsync.store import entries as entry_store
from billsync.store import sync_state
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx, utcnow
from billsync.store.entries import IngestCounts
from billsync.store.incoming import Incoming, Mapper
from billsync.store.tables import import_batches, quarantine

from .collector import bulk_work
from .connections import Hooks, context_for, open_source
from .ingest_mapping import ingest_mapper

RECONCILE_EVERY = dt.timedelta(hours=24)
PREFETCH = 2  # pages read ahead while the current one is converted and written
# What reading one odd vendor record can raise in a connector: that record's fault,
# quarantined; anything else (a VendorError: the vendor is down) stops the sync.
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError, RecursionError)
REASON_LIMIT = 300
_PAYLOAD = json.JSONEncoder(sort_keys=True, default=str)  # the raw record's text


@dataclass
class SyncSummary:
    connection: str
    full: bool = False
    fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    rejected: int = 0

    def add_from(self, other: SyncSummary) -> None:
        for name in ("fetched", "new", "changed", "unchanged", "stale", "deleted", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def add(self, counts: IngestCounts) -> None:
        self.new += counts.new
        self.changed += counts.changed
        self.unchanged += counts.unchanged
        self.stale += counts.stale


def stamp_of(record: VendorRecord) -> str | None:
    return None if record.updated_at is None else revision_stamp(record.updated_at.isoformat())


def convert(
    source: Source, records: Sequence[VendorRecord], defaults: Defaults
) -> tuple[list[Incoming], list[tuple[VendorRecord, list[dict[str, str]]]]]:
    """Canonical entries of the vendor records, and the records refused with why."""
    good: list[Incoming] = []
    bad: list[tuple[VendorRecord, list[dict[str, str]]]] = []
    for record in records:
        fields = fields_of(source, record)
        if isinstance(fields, list):
            bad.append((record, fields))
            continue
        parsed = parse_record(fields, defaults)
        if isinstance(parsed, list):
            bad.append((record, [{"field": e.field, "reason": e.reason} for e in parsed]))
            continue
        payload = _PAYLOAD.encode(record.payload)  # as json.dumps(sort_keys=True, default=str)
        stamp = parsed.source_revision or stamp_of(record) or arrival_stamp(utcnow())
        good.append(Incoming(parsed, payload, None, stamp))
    return good, bad


def fields_of(source: Source, record: VendorRecord) -> dict[str, str] | list[dict[str, str]]:
    """The record's canonical fields, or why the connector could not read them."""
    if record.problems:
        return [{"field": field, "reason": reason} for field, reason in record.problems]
    try:
        return source.fields(record)
    except BadField as exc:
        return [{"field": exc.field, "reason": exc.reason}]
    except UNREADABLE as exc:  # no field to name: say what the connector tripped on
        said = f"the connector could not read it ({type(exc).__name__}: {exc})"
        return [{"field": "record", "reason": said[:REASON_LIMIT]}]


def write(
    tx: Tx,
    code: str,
    batch_id: int,
    items: Sequence[Incoming],
    bad: Sequence[tuple[VendorRecord, list[dict[str, str]]]],
    audit: AuditLog,
    mapper: Mapper | None = None,
) -> IngestCounts:
    """Ingest converted records and quarantine refused ones, in the caller's transaction
    (mapped with `mapper`, when given: see `ingest`)."""
    received_at = utcnow()
    counts, revised = entry_store.ingest(tx, code, items, batch_id, received_at, mapper)
    if bad:
        tx.conn.execute(
            insert(quarantine),
            [
                {
                    "workspace_id": tx.workspace_id,
                    "batch_id": batch_id,
                    "line_no": 0,
                    "payload": json.dumps(record.payload, sort_keys=True, default=str),
                    "errors": errors,
                    "created_at": received_at,
                }
                for record, errors in bad
            ],
        )
    audit.record_many(entry_store.revision_events(revised))
    return counts


def new_batch(tx: Tx, code: str, platform: str, actor: str) -> int:
    return int(
        tx.conn.execute(
            insert(import_batches)
            .values(
                workspace_id=tx.workspace_id,
                source=code,
                filename=f"{platform} sync",
                sha256="",
                counts={},
                actor=actor,
                created_at=utcnow(),
            )
            .returning(import_batches.c.id)
        ).scalar_one()
    )


def read_plan(
    watermark: dt.datetime | None,
    change_window: dt.timedelta | None,
    overlap_minutes: int,
    now: dt.datetime,
    full: bool = False,
) -> tuple[bool, dt.datetime | None]:
    """(whether this is a full read, the `since` to read from). Full: asked for, never
    read, or the watermark is older than the vendor keeps changes; else from the
    watermark less the overlap, so a write stamped just before it is read too."""
    if full or watermark is None or (change_window is not None and now - watermark > change_window):
        return True, None
    return False, watermark - dt.timedelta(minutes=overlap_minutes)


def sync(
    store: Store,
    code: str,
    actor: str,
    *,
    full: bool = False,
    reconcile: bool | None = None,
    hooks: Hooks | None = None,
    progress: Callable[[SyncSummary], None] | None = None,
) -> SyncSummary:
    """Pull one connection's changes into the store; `reconcile` None: when due."""
    with store.transaction() as tx:
        authorize(tx, actor, "sync")
        state = sync_state.load(tx, code)
        mapper = ingest_mapper(tx)
    chosen, context = context_for(store, code, hooks)
    source = open_source(chosen, context)
    connection = context.connection
    defaults = Defaults(timezone=connection.timezone)
    now = utcnow()
    summary = SyncSummary(code)
    summary.full, since = read_plan(
        state.watermark, type(source).change_window, connection.overlap_minutes, now, full
    )
    with store.transaction() as tx:
        batch_id = new_batch(tx, code, chosen.name, actor)
    watermark = state.watermark
    with bulk_work(), read_ahead(source.pull(since)) as pages:
        for page in pages:
            summary.fetched += len(page.records)
            items, bad = convert(source, page.records, defaults)
            summary.rejected += len(bad)
            stamps = [r.updated_at for r in page.records if r.updated_at is not None]
            if stamps:
                newest = max(stamps)
                watermark = newest if watermark is None else max(watermark, newest)
            with store.transaction() as tx:
                summary.add(write(tx, code, batch_id, items, bad, AuditLog(tx, actor), mapper))
            if progress is not None:
                progress(summary)
    due = state.reconciled_at is None or now - state.reconciled_at >= RECONCILE_EVERY
    if connection.reconcile_days and (reconcile if reconcile is not None else due):
        summary.deleted = sweep(store, source, code, batch_id, actor, connection.reconcile_days)
        state.reconciled_at = now
    if summary.full:
        state.full_at = now
    # Only a finished read moves the watermark: pages need not come in stamp order, so
    # a read interrupted midway starts again from the old one (ingest is idempotent).
    state.watermark = watermark if type(source).change_stamps else now
    with store.transaction() as tx:
        state.last = {**asdict(summary), "at": now.isoformat()}
        sync_state.save(tx, code, state)
        AuditLog(tx, actor).record("sync.run", f"connection:{code}", None, state.last)
    return summary


@contextmanager
def read_ahead(pages: Iterator[Page], depth: int = PREFETCH) -> Iterator[Iterator[Page]]:
    """The pages, read `depth` ahead in a thread: the next request is on the wire (and
    its JSON decoded) while this page is converted and written. Pages come in their
    order; an error reading one is raised where that page would have come, after the
    pages before it. Leaving early stops the reader after the page it is on."""
    ahead: queue.Queue[tuple[Page | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[Page | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
            put((None, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))

    def consume() -> Iterator[Page]:
        while True:
            page, error = ahead.get()
            if error is not None:
                raise error
            if page is None:
                return
            yield page

    reader = threading.Thread(target=read, name="billsync sync read-ahead", daemon=True)
    reader.start()
    try:
        yield consume()
    finally:
        stop.set()
        reader.join()


def sweep(store: Store, source: Source, code: str, batch_id: int, actor: str, days: int) -> int:
    """Mark deleted what the vendor no longer holds in the last `days` days."""
    end = utcnow().date() + dt.timedelta(days=1)  # a day ahead: zones east of UTC
    start = end - dt.timedelta(days=days + 1)
    at_vendor = source.listed_ids(start, end)
    with store.reading() as tx:
        ours = entry_store.live_ids(tx, code, start, end)
    # Ask for each one by id before believing it gone.
    gone = sorted(i for i in ours - at_vendor if source.fetch(i) is None)
    if not gone:
        return 0
    stamp = revision_stamp(utcnow().isoformat())
    with store.transaction() as tx:
        items = entry_store.tombstones(tx, code, gone, stamp)
        counts = write(tx, code, batch_id, items, [], AuditLog(tx, actor))
    return counts.changed
