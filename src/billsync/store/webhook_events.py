"""Webhook deliveries, kept verbatim. A delivery is stored (and committed) before the
platform gets its 2xx, so an accepted event is never lost. A repeated delivery is
stored again and processed again: ingest is idempotent, so it changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
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


def store(tx: Tx, connection: str, headers: Mapping[str, str], body: bytes) -> int:
    """Keep one delivery verbatim (without auth headers); its id."""
    return int(
        tx.conn.execute(
            insert(webhook_events)
            .values(
                workspace_id=tx.workspace_id,
                connection=connection,
                sha256=hashlib.sha256(body).hexdigest(),
                headers={k: v for k, v in headers.items() if k not in DROPPED_HEADERS},
                body=body.decode("utf-8", errors="replace"),
                received_at=utcnow(),
                status="pending",
            )
            .returning(webhook_events.c.id)
        ).scalar_one()
    )


def pending(tx: Tx, connection: str, event_id: int | None = None) -> list[StoredEvent]:
    """The connection's events not yet processed (only `event_id`, when given)."""
    query = select(webhook_events).where(
        webhook_events.c.workspace_id == tx.workspace_id,
        webhook_events.c.connection == connection,
        webhook_events.c.status == "pending",
    )
    if event_id is not None:
        query = query.where(webhook_events.c.id == event_id)
    return [
        StoredEvent(r.id, r.connection, dict(r.headers), r.body.encode())
        for r in tx.conn.execute(query.order_by(webhook_events.c.id))
    ]


def finish(tx: Tx, event_id: int) -> None:
    tx.conn.execute(
        update(webhook_events)
        .where(webhook_events.c.id == event_id)
        .values(status="processed", processed_at=utcnow(), error=None)
    )


def note_error(tx: Tx, event_id: int, error: str) -> None:
    """Processing failed (the vendor was down for a fetch by id): it stays pending."""
    tx.conn.execute(
        update(webhook_events).where(webhook_events.c.id == event_id).values(error=error)
    )
