"""The audit trail: append-only, hash-chained per workspace.

Each event's hash covers its own content and the previous event's hash:

    hash_n = sha256(prev_hash | seq | at | actor | action | subject | before | after)

so editing an event breaks its own hash, removing one leaves a gap in `seq`, and
reordering breaks the `prev_hash` link. Events are written in the same transaction as
the change they record (callers pass their open `Tx`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from .bulk import insert_rows
from .db import Tx, utcnow
from .tables import audit_events, workspaces

GENESIS = "0" * 64
# Exactly these types (not their subclasses, such as enums) are JSON as they are.
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
# The text an event's hash covers; one encoder for all (json.dumps builds one per call
# when given options).
_HASHED_FORM = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """JSON-safe form of event data; Decimal and dates as text so hashes are stable."""
    if type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, dict):
        return {str(k): v if type(v) in _JSON_SCALARS else _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        # Lists of entry ids are long (a drafted invoice names every entry it bills).
        return [v if type(v) in _JSON_SCALARS else _plain(v) for v in value]
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def _digest(
    prev_hash: str,
    seq: int,
    at: str,
    actor: str,
    action: str,
    subject: str,
    before: Any,
    after: Any,
) -> str:
    body = _HASHED_FORM.encode([prev_hash, seq, at, actor, action, subject, before, after])
    return hashlib.sha256(body.encode()).hexdigest()


def _stamp(at: dt.datetime) -> str:
    # One text form on every backend (SQLite drops tzinfo; PostgreSQL keeps it).
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass
class AuditLog:
    """Appends events within one transaction, remembering the chain's head."""

    tx: Tx
    actor: str
    _head: tuple[int, str] | None = None

    def head(self) -> tuple[int, str]:
        """The newest event's sequence number and hash."""
        return self._head or self._load_head()

    def _load_head(self) -> tuple[int, str]:
        row = self.tx.conn.execute(
            select(workspaces.c.audit_seq, workspaces.c.audit_head).where(
                workspaces.c.id == self.tx.workspace_id
            )
        ).one()
        return int(row.audit_seq), str(row.audit_head)

    def record(self, action: str, subject: str, before: Any = None, after: Any = None) -> int:
        self.record_many([(action, subject, before, after)])
        return self._head[0] if self._head else 0

    def record_many(self, events: list[tuple[str, str, Any, Any]]) -> None:
        if not events:
            return
        seq, prev = self._head or self._load_head()
        at = utcnow()
        stamp = _stamp(at)
        rows = []
        for action, subject, before, after in events:
            seq += 1
            b, a = _plain(before), _plain(after)
            digest = _digest(prev, seq, stamp, self.actor, action, subject, b, a)
            rows.append(
                {
                    "workspace_id": self.tx.workspace_id,
                    "seq": seq,
                    "at": at,
                    "actor": self.actor,
                    "action": action,
                    "subject": subject,
                    "before": b,
                    "after": a,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        insert_rows(self.tx.conn, audit_events, rows)
        self.tx.conn.execute(
            update(workspaces)
            .where(workspaces.c.id == self.tx.workspace_id)
            .values(audit_seq=seq, audit_head=prev)
        )
        self._head = (seq, prev)


@dataclass(frozen=True)
class Break:
    seq: int
    event_id: int | None
    problem: str


def verify(tx: Tx) -> Break | None:
    """The first event that was edited, removed or reordered, or None if intact."""
    expected_seq, prev = 1, GENESIS
    for row in _events(tx):
        if row.seq != expected_seq:
            problem = (
                f"event {expected_seq} is missing (next is {row.seq})"
                if row.seq > expected_seq
                else f"event {row.seq} appears out of order"
            )
            return Break(expected_seq, row.id, problem)
        if row.prev_hash != prev:
            return Break(row.seq, row.id, f"event {row.seq} does not follow event {row.seq - 1}")
        digest = _digest(
            prev,
            row.seq,
            _stamp(row.at),
            row.actor,
            row.action,
            row.subject,
            row.before,
            row.after,
        )
        if digest != row.hash:
            return Break(row.seq, row.id, f"event {row.seq} was edited after it was written")
        expected_seq, prev = row.seq + 1, row.hash
    head_seq, head = AuditLog(tx, "")._load_head()
    if (head_seq, head) != (expected_seq - 1, prev):
        return Break(
            expected_seq,
            None,
            f"events after {expected_seq - 1} were removed (the chain's head is event {head_seq})",
        )
    return None


def _events(tx: Tx, subject_like: str | None = None) -> Iterator[Any]:
    query = (
        select(audit_events)
        .where(audit_events.c.workspace_id == tx.workspace_id)
        .order_by(audit_events.c.id)
    )
    if subject_like:
        query = query.where(audit_events.c.subject.like(subject_like))
    yield from tx.conn.execute(query.execution_options(yield_per=5000))


def events(tx: Tx, subjects: list[str] | None = None) -> list[dict[str, Any]]:
    query = (
        select(audit_events)
        .where(audit_events.c.workspace_id == tx.workspace_id)
        .order_by(audit_events.c.seq)
    )
    if subjects is not None:
        query = query.where(audit_events.c.subject.in_(subjects))
    return [dict(row._mapping) for row in tx.conn.execute(query)]
