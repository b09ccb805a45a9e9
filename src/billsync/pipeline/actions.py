"""Finance's hand on entries, one or many at a time, always with a reason:
hold and release, write off (never billed, reported as leakage; not a deletion),
transfer to another project or task, write billable time up or down. Also period locks.

An entry already on a live invoice cannot be changed here: void or credit the
invoice first, so what a client was sent never changes behind it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from billsync.domain.canonical import MAX_SECONDS
from billsync.domain.entries import EntryState
from billsync.errors import UserError
from billsync.store import invoices as invoice_store
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.bulk import among
from billsync.store.db import Store, Tx, utcnow
from billsync.store.entries import adjustments_by_entry
from billsync.store.tables import entry_adjustments, time_entries, workspaces

from .workspace import load_workspace


class ActionError(UserError):
    pass


# What each action needs the entry's state to be, and what it makes it.
STATE_CHANGES = {
    "hold": ({EntryState.ACTIVE}, EntryState.HELD),
    "release": ({EntryState.HELD}, EntryState.ACTIVE),
    "write-off": ({EntryState.ACTIVE, EntryState.HELD}, EntryState.WRITTEN_OFF),
}
ADJUST_REASONS = ("write_up", "write_down")


def _distinct(ids: Sequence[int]) -> list[int]:
    """Each id once, in the order given: an id listed twice (12,12 or 2-4,4) is acted
    on once, not written up twice."""
    return list(dict.fromkeys(ids))


def _entries(tx: Tx, ids: Sequence[int]) -> dict[int, Any]:
    rows = tx.conn.execute(
        select(time_entries).where(
            time_entries.c.workspace_id == tx.workspace_id, among(tx, time_entries.c.id, ids)
        )
    )
    found = {r.id: r for r in rows}
    missing = sorted(set(ids) - set(found))
    if missing:
        raise ActionError(f"entry {missing[0]}: no such entry; nothing was changed")
    return found


def _not_billed(tx: Tx, ids: Sequence[int], action: str) -> None:
    billed = invoice_store.billed_revisions(tx)
    on_invoice = [i for i in ids if i in billed]
    if on_invoice:
        raise ActionError(
            f"entry {on_invoice[0]}: is on a live invoice; void or credit it before you "
            f"{action} it; nothing was changed"
        )


def _need_reason(reason: str) -> None:
    if not reason.strip():
        raise ActionError("a reason is required; nothing was changed")


def change_state(store: Store, ids: Sequence[int], action: str, *, reason: str, actor: str) -> int:
    _need_reason(reason)
    ids = _distinct(ids)
    allowed, target = STATE_CHANGES[action]
    with store.transaction() as tx:
        authorize(tx, actor, "entries")
        rows = _entries(tx, ids)
        _not_billed(tx, ids, action)
        for entry_id in ids:
            if EntryState(rows[entry_id].state) not in allowed:
                raise ActionError(
                    f"entry {entry_id}: is {rows[entry_id].state}, cannot "
                    f"{action} it; nothing was changed"
                )
        tx.conn.execute(
            update(time_entries)
            .where(among(tx, time_entries.c.id, ids))
            .values(state=target.value, updated_at=utcnow())
        )
        AuditLog(tx, actor).record_many(
            [
                (
                    f"entry.{action.replace('-', '_')}",
                    f"entry:{i}",
                    {"state": rows[i].state},
                    {"state": target.value, "reason": reason},
                )
                for i in ids
            ]
        )
        return len(ids)


def transfer(
    store: Store, ids: Sequence[int], *, project: str, task: str, reason: str, actor: str
) -> int:
    _need_reason(reason)
    ids = _distinct(ids)
    with store.transaction() as tx:
        authorize(tx, actor, "entries")
        ws = load_workspace(tx)
        target = ws.projects.get(project)
        if target is None:
            raise ActionError(f"project {project!r}: no such project; nothing was changed")
        if task and target.task(task) is None:
            raise ActionError(
                f"task {task!r}: not a task of project {project}; nothing was changed"
            )
        rows = _entries(tx, ids)
        _not_billed(tx, ids, "transfer")
        tx.conn.execute(
            update(time_entries)
            .where(among(tx, time_entries.c.id, ids))
            .values(
                transfer_project=project, transfer_task=task, mapped_with="", updated_at=utcnow()
            )
        )
        AuditLog(tx, actor).record_many(
            [
                (
                    "entry.transferred",
                    f"entry:{i}",
                    {"project": rows[i].project, "task": rows[i].task},
                    {"project": project, "task": task, "reason": reason},
                )
                for i in ids
            ]
        )
        return len(ids)


def adjust(
    store: Store, ids: Sequence[int], *, minutes: int, reason: str, note: str, actor: str
) -> int:
    """Write billable time up (minutes > 0) or down; worked time stays as recorded."""
    _need_reason(note)
    if reason not in ADJUST_REASONS:
        raise ActionError(f"reason code {reason!r}: use one of {', '.join(ADJUST_REASONS)}")
    if minutes == 0 or (reason == "write_up") != (minutes > 0):
        raise ActionError(
            f"{reason} needs {'a positive' if reason == 'write_up' else 'a negative'}"
            " number of minutes"
        )
    ids = _distinct(ids)
    with store.transaction() as tx:
        authorize(tx, actor, "entries")
        rows = _entries(tx, ids)
        _not_billed(tx, ids, "adjust")
        _within_a_day(tx, rows, ids, minutes)
        now = utcnow()
        tx.conn.execute(
            insert(entry_adjustments),
            [
                {
                    "entry_id": i,
                    "seconds": minutes * 60,
                    "reason": reason,
                    "note": note,
                    "actor": actor,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        AuditLog(tx, actor).record_many(
            [
                (
                    "entry.adjusted",
                    f"entry:{i}",
                    None,
                    {"seconds": minutes * 60, "reason": reason, "note": note},
                )
                for i in ids
            ]
        )
        return len(ids)


def _within_a_day(tx: Tx, rows: dict[int, Any], ids: Sequence[int], minutes: int) -> None:
    """An entry's time with all its writes stays between nothing and a day, as its
    worked time does: a write-down past zero would drop it from invoices unseen, and
    a write-up past a day is a typo (and past the store's integers, breaks every run)."""
    written = adjustments_by_entry(tx, ids)
    for entry_id in ids:
        before = rows[entry_id].duration_seconds + sum(w.seconds for w in written.get(entry_id, ()))
        after = before + minutes * 60
        if not 0 <= after <= MAX_SECONDS:
            raise ActionError(
                f"entry {entry_id}: {before / 3600:g} h with its writes; {minutes:+d} min "
                f"would make it {'less than nothing' if after < 0 else 'more than a day'}; "
                "nothing was changed"
            )


def lock_period(store: Store, *, through: dt.date, reason: str, actor: str, today: dt.date) -> None:
    """Lock entries dated up to `through`. A day after today is refused: a typo there
    (2062 for 2026) would stop all billing with a lock no one meant."""
    _need_reason(reason)
    if through > today:
        raise ActionError(
            f"--through {through}: is after today ({today}); a period is locked once it "
            "has ended; nothing was changed"
        )
    with store.transaction() as tx:
        authorize(tx, actor, "lock_period")
        before = tx.conn.execute(
            select(workspaces.c.locked_until).where(workspaces.c.id == tx.workspace_id)
        ).scalar()
        tx.conn.execute(
            update(workspaces)
            .where(workspaces.c.id == tx.workspace_id)
            .values(locked_until=through)
        )
        AuditLog(tx, actor).record(
            "period.locked",
            "workspace",
            {"locked_until": before},
            {"locked_until": through, "reason": reason},
        )
