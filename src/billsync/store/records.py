"""Versioned declarative records: clients, sites, people, projects, contracts, rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update

from .bulk import among, insert_rows
from .db import Tx, utcnow
from .tables import records


def current(tx: Tx, kind: str | None = None) -> list[dict[str, Any]]:
    """Current records as rows: kind, code, version, body (in creation order)."""
    query = select(records.c.kind, records.c.code, records.c.version, records.c.body).where(
        records.c.workspace_id == tx.workspace_id, records.c.superseded_at.is_(None)
    )
    if kind:
        query = query.where(records.c.kind == kind)
    result = tx.conn.execute(query.order_by(records.c.id))
    names = list(result.keys())  # once: a row's own mapping builds them again (9,000 people)
    return [dict(zip(names, row, strict=True)) for row in result]


def body_at_current(tx: Tx, kind: str, code: str) -> dict[str, Any] | None:
    found = tx.conn.execute(
        select(records.c.body).where(
            records.c.workspace_id == tx.workspace_id,
            records.c.kind == kind,
            records.c.code == code,
            records.c.superseded_at.is_(None),
        )
    ).scalar()
    return dict(found) if found is not None else None


def body_at_version(tx: Tx, kind: str, code: str, version: int) -> dict[str, Any] | None:
    found = tx.conn.execute(
        select(records.c.body).where(
            records.c.workspace_id == tx.workspace_id,
            records.c.kind == kind,
            records.c.code == code,
            records.c.version == version,
        )
    ).scalar()
    return dict(found) if found is not None else None


def retire(tx: Tx, kind: str, code: str) -> None:
    """The record stops being current; its versions stay for what used them."""
    tx.conn.execute(
        update(records)
        .where(
            records.c.workspace_id == tx.workspace_id,
            records.c.kind == kind,
            records.c.code == code,
            records.c.superseded_at.is_(None),
        )
        .values(superseded_at=utcnow())
    )


def put(tx: Tx, kind: str, code: str, body: dict[str, Any]) -> int:
    """Store a new current version; returns its number (one past any earlier version,
    also of a record that was removed and comes back)."""
    return put_many(tx, [(kind, code, body)])[0]


Put = tuple[str, str, dict[str, Any]]  # kind, code, body


def put_many(tx: Tx, items: Sequence[Put]) -> list[int]:
    """`put` of each item, in a few statements: a roster applied at once may hold
    thousands of people. Each (kind, code) at most once."""
    now = utcnow()
    by_kind: dict[str, list[str]] = {}
    for kind, code, _ in items:
        by_kind.setdefault(kind, []).append(code)
    last: dict[tuple[str, str], int] = {}
    for kind, codes in by_kind.items():
        chosen = (
            records.c.workspace_id == tx.workspace_id,
            records.c.kind == kind,
            among(tx, records.c.code, codes),
        )
        tx.conn.execute(
            update(records)
            .where(*chosen, records.c.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        last.update(
            ((kind, code), version)
            for code, version in tx.conn.execute(
                select(records.c.code, func.max(records.c.version))
                .where(*chosen)
                .group_by(records.c.code)
            )
        )
    versions = [last.get((kind, code), 0) + 1 for kind, code, _ in items]
    rows = [
        {"workspace_id": tx.workspace_id, "kind": kind, "code": code, "version": version,
         "body": body, "created_at": now}
        for (kind, code, body), version in zip(items, versions, strict=True)
    ]  # fmt: skip
    insert_rows(tx.conn, records, rows)
    return versions
