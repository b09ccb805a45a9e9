"""Webhook deliveries: accept (verify, store durably), then process (ingest).

    accept()   -> the platform's handshake answer, or the stored event's id; a forged
                  delivery (401) or a malformed one (400) stores nothing
    process()  -> every pending event of the connection ingested; an event that only
                  names ids is completed by fetching each entity by id

The receiver answers 2xx only after the event is committed, so an accepted delivery is
never lost; processing can fail (the vendor is down for a fetch) and is retried by the
next delivery or `billsync sync`. Ingest is idempotent and order-proof, so a
duplicated or reordered delivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from billsync.connectors.base import (
    Source,
    VendorRecord,
    WebhookMalformed,
    WebhookReply,
    WebhookRequest,
)
from billsync.connectors.http import VendorError
from billsync.domain.canonical import Defaults, revision_stamp
from billsync.errors import UserError
from billsync.store import entries as entry_store
from billsync.store import webhook_events
from billsync.store.audit import AuditLog
from billsync.store.db import Store, utcnow

from .connections import Hooks, UnknownConnection, context_for, open_source
from .sync import SyncSummary, convert, new_batch, write


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
        raise Refused(404, f"{chosen.title} sends no webhooks")
    return open_source(chosen, context), context.credentials.get("webhook_secret")


def accept(
    store: Store, code: str, request: WebhookRequest, hooks: Hooks | None = None
) -> Accepted:
    source, secret = _source(store, code, hooks)
    reply = source.handshake(request, secret)
    if reply is not None:
        return Accepted(reply=reply)
    if not source.verify(request, secret):
        raise Refused(401, "the signature does not verify")
    try:
        source.events(request)
    except WebhookMalformed as exc:
        raise Refused(400, f"malformed delivery: {exc}") from exc
    with store.transaction(lock=False) as tx:  # no audit event: no turn to wait for
        event_id = webhook_events.store(tx, code, request.headers, request.body)
    return Accepted(event_id=event_id)


def process(
    store: Store, code: str, hooks: Hooks | None = None, event_id: int | None = None
) -> SyncSummary:
    """Ingest the connection's pending events, oldest first (only `event_id`: the one
    just received, while a sync retries whatever is left)."""
    source, _ = _source(store, code, hooks)
    defaults = Defaults(timezone=source.context.connection.timezone)
    actor = f"webhook:{code}"
    summary = SyncSummary(code)
    with store.reading() as tx:
        pending = webhook_events.pending(tx, code, event_id)
    for event in pending:
        request = WebhookRequest("", event.headers, event.body)
        try:
            upserts, deleted = _records(source, request)
        except (VendorError, WebhookMalformed) as exc:
            with store.transaction() as tx:
                webhook_events.note_error(tx, event.id, str(exc))
            continue
        items, bad = convert(source, upserts, defaults)
        summary.fetched += len(upserts)
        summary.rejected += len(bad)
        with store.transaction() as tx:
            batch_id = new_batch(tx, code, source.context.connection.platform, actor)
            audit = AuditLog(tx, actor)
            summary.add(write(tx, code, batch_id, items, bad, audit))
            if deleted:
                stamp = revision_stamp(utcnow().isoformat())
                gone = entry_store.tombstones(tx, code, deleted, stamp)
                summary.deleted += write(tx, code, batch_id, gone, [], audit).changed
            webhook_events.finish(tx, event.id)
    return summary


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
