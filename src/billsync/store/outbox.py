"""The outbox: approved invoices on their way to an accounting system.

Each row's idempotency key is fixed when the invoice is queued, so every retry (after
an outage, or after a crash between the vendor accepting and billsync recording) is
the same request at the vendor, and the sink's preflight finds what was sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from .bulk import insert_rows
from .db import Tx, utcnow
from .tables import invoices, outbox, workspaces

UNSENT = ("pending", "failed")  # still to be sent; "cancelled" when voided before
# What a vendor's read-back calls an invoice voided there (QuickBooks; Xero).
REMOTE_VOID = ("void", "voided", "deleted")


@dataclass(frozen=True)
class Queued:
    id: int
    invoice_id: int
    number: str
    connection: str
    idempotency_key: str
    attempts: int


def key_for(workspace: str, number: str, connection: str) -> str:
    return hashlib.sha256(f"{workspace}/{connection}/{number}".encode()).hexdigest()[:40]


def enqueue_approved(tx: Tx, connection: str) -> int:
    """Queue every approved invoice not yet queued for `connection`; how many."""
    name = tx.conn.execute(
        select(workspaces.c.name).where(workspaces.c.id == tx.workspace_id)
    ).scalar_one()
    queued = select(outbox.c.invoice_id).where(
        outbox.c.workspace_id == tx.workspace_id, outbox.c.connection == connection
    )
    rows = tx.conn.execute(
        select(invoices.c.id, invoices.c.number).where(
            invoices.c.workspace_id == tx.workspace_id,
            invoices.c.status == "approved",
            invoices.c.id.not_in(queued),
        )
    ).all()
    now = utcnow()
    insert_rows(
        tx.conn,
        outbox,
        [
            {
                "workspace_id": tx.workspace_id,
                "invoice_id": r.id,
                "connection": connection,
                "idempotency_key": key_for(name, r.number, connection),
                "status": "pending",
                "attempts": 0,
                "created_at": now,
            }
            for r in rows
        ],
        skip_existing=True,
    )
    return len(rows)


def pending(tx: Tx, connection: str) -> list[Queued]:
    rows = tx.conn.execute(
        select(outbox, invoices.c.number)
        .join(invoices, invoices.c.id == outbox.c.invoice_id)
        .where(
            outbox.c.workspace_id == tx.workspace_id,
            outbox.c.connection == connection,
            outbox.c.status.in_(UNSENT),
        )
        .order_by(outbox.c.id)
    )
    return [
        Queued(r.id, r.invoice_id, r.number, r.connection, r.idempotency_key, r.attempts)
        for r in rows
    ]


def attempt(tx: Tx, queued: Queued) -> bool:
    """Count an attempt; False when the row was cancelled since it was listed (its
    invoice voided meanwhile), so it must not be sent."""
    counted = tx.conn.execute(
        update(outbox)
        .where(outbox.c.id == queued.id, outbox.c.status.in_(UNSENT))
        .values(attempts=outbox.c.attempts + 1)
    )
    return counted.rowcount == 1


def of_invoice(tx: Tx, invoice_id: int) -> list[dict[str, Any]]:
    """The invoice's rows, one per connection it was queued for."""
    found = tx.conn.execute(
        select(outbox).where(outbox.c.invoice_id == invoice_id).order_by(outbox.c.id)
    )
    return [dict(r._mapping) for r in found]


def cancel(tx: Tx, row_id: int) -> bool:
    """Never send this row; False when a push attempted it meanwhile (then it may have
    reached the vendor)."""
    cancelled = tx.conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.status.in_(UNSENT), outbox.c.attempts == 0)
        .values(status="cancelled")
    )
    return cancelled.rowcount == 1


def sent(tx: Tx, queued: Queued, remote_id: str, number: str, status: str) -> None:
    tx.conn.execute(
        update(outbox)
        .where(outbox.c.id == queued.id)
        .values(
            status="sent",
            remote_id=remote_id,
            remote_number=number,
            remote_status=status,
            sent_at=utcnow(),
            last_error=None,
        )
    )


def sent_rows(tx: Tx, connection: str) -> list[tuple[Queued, str, str]]:
    """Invoices at the vendor: (row, remote id, last status seen)."""
    found = tx.conn.execute(
        select(outbox, invoices.c.number)
        .join(invoices, invoices.c.id == outbox.c.invoice_id)
        .where(
            outbox.c.workspace_id == tx.workspace_id,
            outbox.c.connection == connection,
            outbox.c.status == "sent",
        )
        .order_by(outbox.c.id)
    )
    return [
        (
            Queued(r.id, r.invoice_id, r.number, r.connection, r.idempotency_key, r.attempts),
            r.remote_id,
            r.remote_status or "",
        )
        for r in found
    ]


def restatus(tx: Tx, queued: Queued, status: str) -> None:
    tx.conn.execute(update(outbox).where(outbox.c.id == queued.id).values(remote_status=status))


def failed(tx: Tx, queued: Queued, error: str) -> None:
    tx.conn.execute(
        update(outbox).where(outbox.c.id == queued.id).values(status="failed", last_error=error)
    )


def rows(tx: Tx) -> list[dict[str, object]]:
    found = tx.conn.execute(
        select(outbox, invoices.c.number)
        .join(invoices, invoices.c.id == outbox.c.invoice_id)
        .where(outbox.c.workspace_id == tx.workspace_id)
        .order_by(outbox.c.id)
    )
    return [dict(r._mapping) for r in found]
