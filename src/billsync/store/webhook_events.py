"""Webhook deliveries, kept verbatim. A delivery is stored (and committed) before the
platform gets its 2xx, so an accepted event is never lost. A repeated delivery is
stored again and processed again: ingest is idempotent, so it changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from .db import Tx, utcnow
from .tables import webhook_events

DROPPED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@dataclass(frozen=True)
class StoredEvent:
    id: int
    connection: str
    headers: dict[str, str]
    body: bytes


def store(
    tx: Tx,
    connection: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_headers: Collection[str] = (),
) -> int:
    """Keep one delivery verbatim, without auth headers and the platform's
    `secret_headers` (a header that is the webhook secret itself); its id."""
    dropped = DROPPED_HEADERS.union(secret_headers)
    return int(
        tx.conn.execute(
            insert(webhook_events)
            .values(
                workspace_id=tx.workspace_id,
                connection=connection,
                sha256=hashlib.sha256(body).hexdigest(),
                headers={k: v for k, v in headers.items() if k not in dropped},
                body=body.decode("utf-8", errors="replace"),
                received_at=utcnow(),
                status="pending",
            )
            .returning(webhook_events.c.id)
        ).scalar_one()
    )


def next_pending(tx: Tx, connection: str, skip: Collection[int] = ()) -> StoredEvent | None:
    """The connection's oldest event not yet processed, other than those in `skip`."""
    query = select(webhook_events).where(
        webhook_events.c.workspace_id == tx.workspace_id,
        webhook_events.c.connection == connection,
        webhook_events.c.status == "pending",
    )
    if skip:
        query = query.where(webhook_events.c.id.not_in(skip))
    row = tx.conn.execute(query.order_by(webhook_events.c.id).limit(1)).first()
    if row is None:
        return None
    return StoredEvent(row.id, row.connection, dict(row.headers), row.body.encode())


def finish(tx: Tx, event_id: int) -> None:
    tx.conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status="processed", processed_at=utcnow(), error=None)
    )


def fail(tx: Tx, event_id: int, error: str) -> None:
    """Processing failed for good (the delivery or the vendor's record is of a shape
    billsync cannot use): no longer pending, so it blocks no later event."""
    tx.conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status="failed", processed_at=utcnow(), error=error)
    )


def note_error(tx: Tx, event_id: int, error: str) -> None:
    """Processing failed (the vendor was down for a fetch by id): it stays pending."""
    tx.conn.execute(
        update(webhook_events).where(webhook_events.c.id == event_id).values(error=error)
    )
