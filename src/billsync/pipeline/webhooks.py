"""Webhook deliveries: accept (verify, store durably), then process (ingest).

    accept()   -> the platform's handshake answer, or the stored event's id; a forged
                  delivery (401) or a malformed one (400) stores nothing
    process()  -> the connection's pending events ingested, oldest first, by one caller
                  at a time; an event that only names ids is completed by fetching each
                  entity by id

The receiver answers 2xx only after the event is committed, so an accepted delivery is
never lost, and accepting never waits for processing. Processing can fail (the vendor
is down for a fetch) and is retried by the next delivery or `billsync sync`; an event
that can never be processed (a vendor record of a shape billsync cannot read) is marked
failed with why, and the events after it go on. Ingest is idempotent and order-proof,
so a duplicated or reordered delivery changes nothing.

One caller at a time processes a connection's events, whether the callers are threads
of one server, several servers or `billsync sync`: a fetch reads the vendor's state as
it is now, so its write must land before a later fetch's, or an older state replaces a
newer one with the same change stamp (QuickBooks stamps whole seconds). The caller that
holds the connection's lease (store/leases.py) processes every pending event, those
stored while it works too; a caller that finds the lease held leaves its event to the
holder and returns at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from billsync.connectors.base import (
    Source,
    VendorRecord,
    WebhookMalformed,
    WebhookReply,
    WebhookRequest,
)
from billsync.connectors.http import without
from billsync.domain.canonical import Defaults, revision_stamp
from billsync.errors import UserError
from billsync.store import entries as entry_store
from billsync.store import leases, webhook_events
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx, utcnow
from billsync.store.webhook_events import StoredEvent

from .connections import Hooks, UnknownConnection, context_for, open_source
from .sync import SyncSummary, convert, new_batch, write

log = logging.getLogger(__name__)

# What parsing an unforeseen body or header can raise: the sender's fault, never a 500.
BAD_INPUT = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)

# How long a caller's hold on a connection lasts without a write: longer than one
# event's fetches with all their retries (connectors/http.py Retry), so only a caller
# that died (or a long outage) loses it.
LEASE = dt.timedelta(minutes=10)
ERROR_LIMIT = 500  # characters of a failed event's reason


@dataclass
class Processed(SyncSummary):
    """What process() did, and the events it could not process, with why."""

    failed: list[tuple[int, str]] = field(default_factory=list)  # for good: status failed
    retry: list[tuple[int, str]] = field(default_factory=list)  # left pending: the vendor


class Refused(UserError):
    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Accepted:
    reply: WebhookReply | None = None  # a handshake: answer this, nothing stored
    event_id: int | None = None


def _source(store: Store, code: str, hooks: Hooks | None) -> tuple[Source, str | None]:
    try:
        chosen, context = context_for(store, code, hooks)
    except UnknownConnection as exc:
        raise Refused(404, str(exc)) from exc
    if not chosen.webhooks:
        raise Refused(404, f"billsync takes no webhooks from {chosen.title}")
    return open_source(chosen, context), context.credentials.get("webhook_secret")


def accept(
    store: Store, code: str, request: WebhookRequest, hooks: Hooks | None = None
) -> Accepted:
    source, secret = _source(store, code, hooks)
    try:
        reply = source.handshake(request, secret)
        if reply is not None:
            return Accepted(reply=reply)
        if not source.verify(request, secret):
            raise Refused(401, "the signature does not verify")
        source.events(request)
    except WebhookMalformed as exc:
        raise Refused(400, f"malformed delivery: {exc}") from exc
    except BAD_INPUT as exc:  # a shape the platform's parser did not foresee: still 400
        log.warning("%s: malformed delivery", code, exc_info=True)
        raise Refused(400, f"malformed delivery ({type(exc).__name__})") from exc
    with store.transaction(lock=False) as tx:  # no audit event: no turn to wait for
        event_id = webhook_events.store(
            tx, code, request.headers, request.body, source.secret_headers
        )
    return Accepted(event_id=event_id)


def process(store: Store, code: str, hooks: Hooks | None = None) -> Processed:
    """Ingest the connection's pending events, oldest first; nothing when another
    caller holds the connection's lease (it ingests them). An event that cannot be
    processed is marked failed with why, and the next one goes on; one the vendor
    could not answer for (down, credentials) stays pending for the next call."""
    source, _ = _source(store, code, hooks)
    summary = Processed(code)
    failed: set[int] = set()  # tried once by this call; left pending for the next
    holder = uuid.uuid4().hex
    # After letting go, look again: an event stored just before then found the lease
    # held, and was left to this holder.
    while _next(store, code, failed) is not None and _claim(store, code, holder):
        try:
            while (event := _next(store, code, failed)) is not None:
                if not _ingest(store, source, event, holder, summary):
                    failed.add(event.id)
        except _Overtaken:
            return summary  # the caller that took the lease over goes on
        finally:
            with store.transaction(lock=False) as tx:
                leases.release(tx, code, holder)
    return summary


class _Overtaken(Exception):
    """This caller's lease ran out during a fetch and another caller took it."""


def _next(store: Store, code: str, skip: set[int]) -> StoredEvent | None:
    with store.reading() as tx:
        return webhook_events.next_pending(tx, code, skip)


def _claim(store: Store, code: str, holder: str) -> bool:
    with store.transaction(lock=False) as tx:  # no audit event: no turn to wait for
        return leases.claim(tx, code, holder, LEASE)


@contextmanager
def _holding(store: Store, code: str, holder: str) -> Iterator[Tx]:
    """A write transaction, made only while `holder` still has the lease (renewed in
    it): a fetch that outlived its lease must not land after the next holder's."""
    with store.transaction() as tx:
        if not leases.renew(tx, code, holder, LEASE):
            raise _Overtaken
        yield tx


def _ingest(
    store: Store, source: Source, event: StoredEvent, holder: str, summary: Processed
) -> bool:
    """One event's entities fetched (outside any transaction: a token refresh writes
    in its own) and written; False when it failed and stays pending."""
    connection = source.context.connection
    try:
        upserts, deleted = _records(source, WebhookRequest("", event.headers, event.body))
        items, bad = convert(source, upserts, Defaults(timezone=connection.timezone))
    except UserError as exc:  # the vendor is down, or a credential or setting is wrong
        with _holding(store, connection.code, holder) as tx:
            webhook_events.note_error(tx, event.id, str(exc))
        summary.retry.append((event.id, str(exc)))
        return False
    except Exception as exc:  # the delivery or the vendor's record: trying again is futile
        error = _reason(source, exc)
        log.warning("%s: webhook event %d failed: %s", connection.code, event.id, error)
        with _holding(store, connection.code, holder) as tx:
            webhook_events.fail(tx, event.id, error)
        summary.failed.append((event.id, error))
        return True
    done = SyncSummary(connection.code, fetched=len(upserts), rejected=len(bad))
    actor = f"webhook:{connection.code}"
    with _holding(store, connection.code, holder) as tx:
        batch_id = new_batch(tx, connection.code, connection.platform, actor)
        audit = AuditLog(tx, actor)
        done.add(write(tx, connection.code, batch_id, items, bad, audit))
        if deleted:
            stamp = revision_stamp(utcnow().isoformat())
            gone = entry_store.tombstones(tx, connection.code, deleted, stamp)
            done.deleted += write(tx, connection.code, batch_id, gone, [], audit).changed
        webhook_events.finish(tx, event.id)
    summary.add_from(done)
    return True


def _reason(source: Source, exc: Exception) -> str:
    """Why an event failed, for its row and the operator: the exception, without any
    of the connection's secrets (a vendor's record could quote one)."""
    secrets = list(source.context.credentials.values.values())
    token = source.context.tokens.load() if source.context.tokens is not None else None
    secrets += [str(v) for k, v in (token or {}).items() if k.endswith("token")]
    said = without(f"{type(exc).__name__}: {exc}", secrets)
    return f"cannot be processed: {said}"[:ERROR_LIMIT]


def _records(source: Source, request: WebhookRequest) -> tuple[list[VendorRecord], list[str]]:
    """The delivery's entities (fetched by id where it names only ids or carries no
    change stamp), and the deleted ids."""
    upserts: list[VendorRecord] = []
    deleted: list[str] = []
    for event in source.events(request):
        if event.kind == "delete":
            deleted.append(event.external_id)
            continue
        record = event.record
        if record is None or record.updated_at is None:
            # Only ids, or an entity without a change stamp that could order it against
            # a late or repeated delivery: the vendor's current state decides.
            record = source.fetch(event.external_id)
        if record is None or record.deleted:  # gone by the time we asked
            deleted.append(event.external_id)
        else:
            upserts.append(record)
    return upserts, deleted
