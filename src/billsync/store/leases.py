"""Leases: which caller may process a connection's webhook events now.

One holder at a time per workspace and connection, whether the callers are threads of
one server or processes sharing the database: a row names the holder and when its
lease runs out. Each call here is one statement's worth of row locking in a short
transaction, never held across a vendor call (a token refresh during a fetch writes in
its own transaction, and SQLite has one writer). A holder that dies leaves a row that
runs out; one that is only slow finds out at its next write (`renew` in that write's
transaction), so it never writes after whoever took the lease over.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, delete, select, update

from .bulk import insert_rows
from .db import Tx, utcnow
from .tables import webhook_leases


def _key(tx: Tx, connection: str) -> tuple[ColumnElement[bool], ...]:
    return (
        webhook_leases.c.workspace_id == tx.workspace_id,
        webhook_leases.c.connection == connection,
    )


def claim(tx: Tx, connection: str, holder: str, ttl: dt.timedelta) -> bool:
    """Take the connection's lease for `ttl` if it is free or has run out; whether
    `holder` has it now."""
    now = utcnow()
    row = {"workspace_id": tx.workspace_id, "connection": connection}
    taking = {**row, "holder": holder, "expires_at": now + ttl}
    insert_rows(tx.conn, webhook_leases, [taking], skip_existing=True)
    # A concurrent claim waits on the row and then finds it taken (not run out).
    tx.conn.execute(
        update(webhook_leases)
        .where(*_key(tx, connection), webhook_leases.c.expires_at < now)
        .values(holder=holder, expires_at=now + ttl)
    )
    taken = tx.conn.execute(select(webhook_leases.c.holder).where(*_key(tx, connection)))
    return taken.scalar() == holder


def renew(tx: Tx, connection: str, holder: str, ttl: dt.timedelta) -> bool:
    """Extend `holder`'s lease to `ttl` from now, in the caller's transaction; False
    when another has taken it over (it ran out), and the caller must not write."""
    renewed = tx.conn.execute(
        update(webhook_leases)
        .where(*_key(tx, connection), webhook_leases.c.holder == holder)
        .values(expires_at=utcnow() + ttl)
    )
    return renewed.rowcount == 1


def release(tx: Tx, connection: str, holder: str) -> None:
    tx.conn.execute(
        delete(webhook_leases).where(*_key(tx, connection), webhook_leases.c.holder == holder)
    )
