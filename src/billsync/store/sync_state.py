"""Where each connection's incremental sync stands: the newest change stamp seen, when
it last read everything, when it last swept for deletions, and its last summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select

from .db import Tx
from .tables import sync_state


@dataclass
class SyncState:
    watermark: dt.datetime | None = None
    full_at: dt.datetime | None = None
    reconciled_at: dt.datetime | None = None
    last: dict[str, Any] = field(default_factory=dict)


def load(tx: Tx, connection: str) -> SyncState:
    row = tx.conn.execute(
        select(sync_state).where(
            sync_state.c.workspace_id == tx.workspace_id, sync_state.c.connection == connection
        )
    ).first()
    if row is None:
        return SyncState()
    return SyncState(row.watermark, row.full_at, row.reconciled_at, dict(row.last))


def save(tx: Tx, connection: str, state: SyncState) -> None:
    key = {"workspace_id": tx.workspace_id, "connection": connection}
    tx.conn.execute(delete(sync_state).filter_by(**key))
    tx.conn.execute(
        sync_state.insert().values(
            **key,
            watermark=state.watermark,
            full_at=state.full_at,
            reconciled_at=state.reconciled_at,
            last=state.last,
        )
    )


def all_states(tx: Tx) -> dict[str, SyncState]:
    rows = tx.conn.execute(select(sync_state).where(sync_state.c.workspace_id == tx.workspace_id))
    return {
        r.connection: SyncState(r.watermark, r.full_at, r.reconciled_at, dict(r.last)) for r in rows
    }
