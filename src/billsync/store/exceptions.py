"""The exceptions queue: findings a person must act on, with their status.

A finding is identified by its fingerprint: code, subject and the revisions of the
entries it is about. Running the pipeline again finds the same fingerprints and changes
nothing; a finding that is no longer found is resolved by the pipeline; a waiver covers
exactly what was waived, so a new revision of a waived entry raises it again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import select, update

from billsync.domain.findings import Finding
from billsync.errors import UserError

from .access import authorize
from .audit import AuditLog
from .bulk import CHUNK, among, insert_rows
from .db import Tx, utcnow
from .tables import exceptions

OPEN, RESOLVED, WAIVED = "open", "resolved", "waived"
PIPELINE = "pipeline"


def fingerprint(finding: Finding, revisions: Mapping[int, int]) -> str:
    parts = [finding.code, finding.subject]
    parts += [f"{e}@{revisions.get(e, 0)}" for e in sorted(finding.entry_ids)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


@dataclass
class SyncCounts:
    opened: int = 0
    reopened: int = 0
    resolved: int = 0


def sync(
    tx: Tx, findings: Iterable[Finding], revisions: Mapping[int, int], audit: AuditLog
) -> SyncCounts:
    """Make the open queue match what the pipeline found now."""
    now = utcnow()
    found = {fingerprint(f, revisions): f for f in findings}
    rows = {
        r.fingerprint: r
        for r in tx.conn.execute(
            select(
                exceptions.c.id,
                exceptions.c.fingerprint,
                exceptions.c.status,
                exceptions.c.closed_by,
                exceptions.c.code,
                exceptions.c.subject,
                exceptions.c.notice,
            ).where(exceptions.c.workspace_id == tx.workspace_id)
        )
    }
    counts = SyncCounts()
    # Opened a slice at a time: a first run over a million entries finds tens of
    # thousands, and their rows and events need not all be in memory at once.
    fresh = ((fp, f) for fp, f in found.items() if fp not in rows)
    while chunk := list(islice(fresh, CHUNK)):
        _open(tx, chunk, now, audit)
        counts.opened += len(chunk)
    # Resolved, yet found again: whatever fixed it did not hold. Waivers stay.
    again = [r for fp, r in rows.items() if fp in found and r.status == RESOLVED]
    # No longer found: resolved, unless it is a notice someone must acknowledge.
    gone = [r for fp, r in rows.items() if fp not in found and r.status == OPEN and not r.notice]
    for subset, values, action in (
        (
            again,
            {"status": OPEN, "closed_by": None, "closed_reason": None, "closed_at": None},
            "exception.reopened",
        ),
        (
            gone,
            {
                "status": RESOLVED,
                "closed_by": PIPELINE,
                "closed_reason": "no longer found",
                "closed_at": now,
            },
            "exception.resolved",
        ),
    ):
        ids = [r.id for r in subset]
        if ids:
            tx.conn.execute(
                update(exceptions).where(among(tx, exceptions.c.id, ids)).values(**values)
            )
        audit.record_many(
            [
                (action, f"exception:{r.id}", None, {"code": r.code, "subject": r.subject})
                for r in subset
            ]
        )
    counts.reopened, counts.resolved = len(again), len(gone)
    return counts


def _open(tx: Tx, found: list[tuple[str, Finding]], now: dt.datetime, audit: AuditLog) -> None:
    """Insert findings not in the queue yet as open exceptions, each with its event."""
    fresh = [
        {
            "workspace_id": tx.workspace_id,
            "fingerprint": fp,
            "code": f.code,
            "severity": f.severity.value,
            "subject": f.subject,
            "contract": f.contract,
            "message": f.message,
            "entry_ids": sorted(f.entry_ids),
            "amount": f.amount,
            "hours": f.hours,
            "status": OPEN,
            "notice": f.notice,
            "created_at": now,
        }
        for fp, f in found
    ]
    insert_rows(tx.conn, exceptions, fresh)
    new_ids = _ids(tx, [str(row["fingerprint"]) for row in fresh])
    audit.record_many(
        [
            (
                "exception.opened",
                f"exception:{new_ids[str(row['fingerprint'])]}",
                None,
                {
                    "code": row["code"],
                    "subject": row["subject"],
                    "severity": row["severity"],
                    "entry_ids": row["entry_ids"],
                },
            )
            for row in fresh
        ]
    )


def _ids(tx: Tx, fingerprints: list[str]) -> dict[str, int]:
    rows = tx.conn.execute(
        select(exceptions.c.fingerprint, exceptions.c.id).where(
            exceptions.c.workspace_id == tx.workspace_id,
            among(tx, exceptions.c.fingerprint, fingerprints),
        )
    )
    return {fingerprint: exception_id for fingerprint, exception_id in rows}


def blocked_entries(tx: Tx) -> set[int]:
    """Entries held off invoices by an open blocking exception."""
    blocked: set[int] = set()
    rows = tx.conn.execute(
        select(exceptions.c.entry_ids).where(
            exceptions.c.workspace_id == tx.workspace_id,
            exceptions.c.status == OPEN,
            exceptions.c.severity == "blocking",
        )
    )
    for (ids,) in rows:
        blocked.update(ids)
    return blocked


def listing(tx: Tx, *, status: str | None = OPEN, code: str | None = None) -> list[dict[str, Any]]:
    query = select(exceptions).where(exceptions.c.workspace_id == tx.workspace_id)
    if status:
        query = query.where(exceptions.c.status == status)
    if code:
        # Only * is a wildcard: codes hold "_" (entry.not_approved), which LIKE would
        # take for any character.
        escaped = code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(exceptions.c.code.like(escaped.replace("*", "%"), escape="\\"))
    return [dict(r._mapping) for r in tx.conn.execute(query.order_by(exceptions.c.id))]


def get(tx: Tx, exception_id: int) -> dict[str, Any] | None:
    row = tx.conn.execute(
        select(exceptions).where(
            exceptions.c.workspace_id == tx.workspace_id, exceptions.c.id == exception_id
        )
    ).first()
    return dict(row._mapping) if row else None


class ExceptionError(UserError):
    pass


def close(
    tx: Tx, exception_id: int, *, status: str, actor: str, reason: str, audit: AuditLog
) -> dict[str, Any]:
    """Resolve or waive one exception, always with who and why."""
    if not reason.strip():
        raise ExceptionError(f"exception {exception_id}: a reason is required")
    authorize(tx, actor, "exceptions")
    row = get(tx, exception_id)
    if row is None:
        raise ExceptionError(f"exception {exception_id}: no such exception")
    if row["status"] != OPEN:
        raise ExceptionError(f"exception {exception_id}: already {row['status']}")
    tx.conn.execute(
        update(exceptions)
        .where(exceptions.c.id == exception_id)
        .values(status=status, closed_by=actor, closed_reason=reason, closed_at=utcnow())
    )
    audit.record(
        f"exception.{status}",
        f"exception:{exception_id}",
        {"status": OPEN},
        {"status": status, "reason": reason, "code": row["code"], "entry_ids": row["entry_ids"]},
    )
    return {**row, "status": status}
