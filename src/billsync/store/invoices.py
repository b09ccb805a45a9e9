"""Invoices: drafting writes the invoice and marks its entries in one transaction.

`billed_entries` holds one live row per billed entry, under a unique partial index,
so an entry revision sits on at most one live invoice even when two runs race: the
second insert fails and its whole transaction (invoice and marks) rolls back.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain, compress
from operator import attrgetter, ne
from typing import Any

from sqlalchemy import ColumnElement, delete, false, insert, select, update

from billsync.domain.caps import CapUsage, cap_limits, covers, usage_key
from billsync.domain.contracts import Contract, OverCap
from billsync.domain.invoicing import BillingHistory, InvoiceDraft, LineKind
from billsync.domain.rated import Adjustment, Portion
from billsync.errors import UserError

from . import outbox
from .access import authorize
from .audit import AuditLog
from .bulk import CHUNK, insert_columns
from .db import Tx, utcnow
from .tables import billed_entries, invoice_lines, invoices, line_entries, time_entries

LIVE = ("draft", "approved")
ZERO = Decimal(0)


class InvoiceError(UserError):
    pass


@dataclass(frozen=True)
class Meta:
    """Who drafted it, why, and from which version of the contract."""

    kind: str  # period, continuous, milestone, completion, manual, threshold, release, credit
    trigger: str
    reason: str
    actor: str
    client: str
    contract_version: int
    credit_of: int | None = None


def insert_draft(tx: Tx, draft: InvoiceDraft, meta: Meta, audit: AuditLog) -> int:
    number = tx.next_invoice_number("CN" if meta.kind == "credit" else "INV")
    now = utcnow()
    invoice_id = int(
        tx.conn.execute(
            insert(invoices)
            .values(
                workspace_id=tx.workspace_id,
                number=number,
                contract=draft.contract,
                contract_version=meta.contract_version,
                client=meta.client,
                kind=meta.kind,
                status="draft",
                currency=draft.currency,
                period_start=draft.period_start,
                period_end=draft.period_end,
                issue_date=draft.issue_date,
                due_date=draft.due_date,
                po_number=draft.po_number,
                subtotal=draft.subtotal,
                tax_rate=draft.tax_rate,
                tax=draft.tax,
                total=draft.total,
                retainage=draft.retainage,
                amount_due=draft.amount_due,
                contract_status=_status_json(draft),
                trigger=meta.trigger,
                reason=meta.reason,
                credit_of=meta.credit_of,
                created_by=meta.actor,
                created_at=now,
            )
            .returning(invoices.c.id)
        ).scalar_one()
    )
    marked = _insert_lines(tx, invoice_id, draft)
    audit.record(
        "invoice.drafted",
        f"invoice:{invoice_id}",
        None,
        {
            "number": number,
            "contract": draft.contract,
            "kind": meta.kind,
            "trigger": meta.trigger,
            "reason": meta.reason,
            "total": draft.total,
            "lines": len(draft.lines),
            "entries": marked,
        },
    )
    return invoice_id


def _status_json(draft: InvoiceDraft) -> dict[str, str | None]:
    status = draft.status
    return {
        name: None if (v := getattr(status, name)) is None else str(v) for name in status.__slots__
    }


# A line entry's columns (after its line's id), each read of a portion in C.
_LINE_ENTRY = {
    "entry_id": attrgetter("entry_id"),
    "revision": attrgetter("revision"),
    "seconds": attrgetter("seconds"),
    "quantity": attrgetter("quantity"),
    "unit_price": attrgetter("price.unit_price"),
    "amount": attrgetter("amount"),
    "premium": attrgetter("price.premium"),
    "work_date": attrgetter("work_date"),
    "phase": attrgetter("worked.phase"),
    "task": attrgetter("worked.task"),
}
_entry_id = attrgetter("entry_id")
_revision = attrgetter("revision")
_adjustments = attrgetter("adjustments")
_portions = attrgetter("portions")


def _insert_lines(tx: Tx, invoice_id: int, draft: InvoiceDraft) -> list[int]:
    """Write the draft's lines, what each bills and the marks on its entries; returns
    the ids of the entries marked, in order. Rows go in column by column, a chunk at a
    time: a run writes a million, and no row is built in Python."""
    line_ids = _insert_line_rows(tx, invoice_id, draft)
    marked = _first_of_each_entry(draft)
    entry_ids = list(map(_entry_id, marked))
    for i in range(0, len(marked), CHUNK):
        chunk = marked[i : i + CHUNK]
        columns = {
            "entry_id": entry_ids[i : i + CHUNK],
            "revision": list(map(_revision, chunk)),
            "adjustments": _as_json(list(map(_adjustments, chunk))),
        }
        same = {"invoice_id": invoice_id, "live": True}
        insert_columns(tx.conn, billed_entries, columns, same=same)
    for line_id, line in zip(line_ids, draft.lines, strict=True):
        for i in range(0, len(line.portions), CHUNK):
            portions = line.portions[i : i + CHUNK]
            columns = {name: list(map(read, portions)) for name, read in _LINE_ENTRY.items()}
            insert_columns(tx.conn, line_entries, columns, same={"line_id": line_id})
    return entry_ids


def _first_of_each_entry(draft: InvoiceDraft) -> list[Portion]:
    """A portion of each entry the draft bills, in id order. From its portions sorted by
    entry (a dict of a million entries would take several times the memory), each the
    first of its entry: where its id differs from the one before."""
    ordered = sorted(chain.from_iterable(map(_portions, draft.lines)), key=_entry_id)
    entry_ids = list(map(_entry_id, ordered))
    return list(compress(ordered, map(ne, entry_ids, chain((None,), entry_ids))))


def _as_json(written: list[tuple[Adjustment, ...]]) -> list[list[dict[str, Any]]]:
    """Entries' differences as JSON values: one list per kind of difference, not one per
    entry, so that the rows share it and it is converted once. The kinds are tuples that
    the portions share: told apart by id."""
    kinds = dict(zip(map(id, written), written, strict=True))
    as_json = {
        key: [{"reason": a.reason, "seconds": a.seconds} for a in kind]
        for key, kind in kinds.items()
    }
    return list(map(as_json.__getitem__, map(id, written)))


def _insert_line_rows(tx: Tx, invoice_id: int, draft: InvoiceDraft) -> list[int]:
    """The draft's lines in one statement; their ids in the order of the lines."""
    if not draft.lines:
        return []
    statement = insert(invoice_lines).returning(invoice_lines.c.id, sort_by_parameter_order=True)
    rows = [
        {
            "invoice_id": invoice_id,
            "position": position,
            "kind": line.kind.value,
            "description": line.description,
            "quantity": line.quantity,
            "unit": line.unit,
            "unit_price": line.unit_price,
            "amount": line.amount,
            "group_key": list(line.key),
        }
        for position, line in enumerate(draft.lines, start=1)
    ]
    return [int(line_id) for line_id in tx.conn.execute(statement, rows).scalars()]


def billed_revisions(tx: Tx, *, growing: bool = True) -> dict[int, int]:
    """Entry id -> the revision that sits on a live invoice. With growing=False, leave
    out continuous drafts: their entries are drafted again as the draft grows."""
    query = (
        select(billed_entries.c.entry_id, billed_entries.c.revision)
        .join(invoices, invoices.c.id == billed_entries.c.invoice_id)
        .where(invoices.c.workspace_id == tx.workspace_id, billed_entries.c.live)
    )
    if not growing:
        query = query.where(~_growing())
    return dict(tx.conn.execute(query).all())


def _growing() -> ColumnElement[bool]:
    return (invoices.c.kind == "continuous") & (invoices.c.status == "draft")


def continuous_draft(tx: Tx, contract: str) -> int | None:
    found = tx.conn.execute(
        select(invoices.c.id).where(
            invoices.c.workspace_id == tx.workspace_id,
            invoices.c.contract == contract,
            invoices.c.kind == "continuous",
            invoices.c.status == "draft",
        )
    ).scalar()
    return int(found) if found is not None else None


def replace_draft(
    tx: Tx,
    invoice_id: int,
    draft: InvoiceDraft,
    contract_version: int,
    audit: AuditLog,
) -> bool:
    """Grow a continuous draft to `draft`; False when it already is exactly that."""
    old = get(tx, invoice_id)
    _refuse_credited(tx, old)
    old_marks = {
        (r.entry_id, r.revision)
        for r in tx.conn.execute(
            select(billed_entries.c.entry_id, billed_entries.c.revision).where(
                billed_entries.c.invoice_id == invoice_id, billed_entries.c.live
            )
        )
    }
    new_marks = {(p.entry_id, p.revision) for line in draft.lines for p in line.portions}
    if (
        old_marks == new_marks
        and old["total"] == draft.total
        and old["contract_version"] == contract_version
    ):
        return False
    line_ids = select(invoice_lines.c.id).where(invoice_lines.c.invoice_id == invoice_id)
    tx.conn.execute(delete(line_entries).where(line_entries.c.line_id.in_(line_ids)))
    tx.conn.execute(delete(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id))
    tx.conn.execute(delete(billed_entries).where(billed_entries.c.invoice_id == invoice_id))
    tx.conn.execute(
        update(invoices)
        .where(invoices.c.id == invoice_id)
        .values(
            issue_date=draft.issue_date,
            due_date=draft.due_date,
            contract_version=contract_version,
            # The version it is drafted with now may bill in another currency, at
            # another tax rate, under another order number.
            currency=draft.currency,
            tax_rate=draft.tax_rate,
            po_number=draft.po_number,
            subtotal=draft.subtotal,
            tax=draft.tax,
            total=draft.total,
            retainage=draft.retainage,
            amount_due=draft.amount_due,
            contract_status=_status_json(draft),
        )
    )
    _insert_lines(tx, invoice_id, draft)
    audit.record(
        "invoice.grown",
        f"invoice:{invoice_id}",
        {"total": old["total"], "entries": len(old_marks)},
        {
            "total": draft.total,
            "entries": len(new_marks),
            "added": sorted(e for e, _ in new_marks - old_marks),
        },
    )
    return True


def _refuse_credited(tx: Tx, inv: dict[str, Any]) -> None:
    """A draft cannot be credited now, but one credited before that was refused would
    lose its credited lines to the regrowth, leaving the credit note crediting none."""
    credited = tx.conn.execute(
        select(invoice_lines.c.position, invoices.c.number)
        .join(invoices, invoices.c.id == invoice_lines.c.credited_by)
        .where(invoice_lines.c.invoice_id == inv["id"], invoices.c.status != "void")
        .order_by(invoice_lines.c.position)
    ).first()
    if credited is not None:
        raise InvoiceError(
            f"invoice {inv['number']} line {credited.position}: is credited by "
            f"{credited.number}; void the credit note first"
        )


def invoiced_milestones(tx: Tx, contract: str) -> set[str]:
    rows = tx.conn.execute(
        select(invoice_lines.c.group_key)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(
            invoices.c.workspace_id == tx.workspace_id,
            invoices.c.contract == contract,
            invoices.c.status.in_(LIVE),
            invoice_lines.c.kind == LineKind.MILESTONE.value,
            invoice_lines.c.credited_by.is_(None),
        )
    )
    return {key[0] for (key,) in rows}


def get(tx: Tx, ref: str | int) -> dict[str, Any]:
    row = tx.conn.execute(select(invoices).where(matching(tx, ref))).first()
    if row is None:
        raise InvoiceError(f"invoice {ref}: no such invoice")
    return dict(row._mapping)


MAX_ID = 2**63 - 1  # ids are 64-bit on every backend
NUMBER_LENGTH = 32  # invoices.number


def matching(tx: Tx, ref: str | int) -> ColumnElement[bool]:
    """The workspace's invoice with this id (an int, or ASCII digits) or number. A ref
    that can be neither matches nothing rather than reach the database, which would
    refuse it: an id beyond 64 bits, text no number holds (a NUL, half a surrogate
    pair, more than a number's length)."""
    mine = invoices.c.workspace_id == tx.workspace_id
    text = str(ref)
    if isinstance(ref, int) or (text.isascii() and text.isdigit()):
        valid = len(text) <= len(str(MAX_ID)) and 0 < int(text) <= MAX_ID
        return mine & (invoices.c.id == int(text)) if valid else false()
    if len(text) > NUMBER_LENGTH or not text.isprintable():
        return false()
    return mine & (invoices.c.number == text)


def lines_of(tx: Tx, invoice_id: int) -> list[dict[str, Any]]:
    rows = tx.conn.execute(
        select(invoice_lines)
        .where(invoice_lines.c.invoice_id == invoice_id)
        .order_by(invoice_lines.c.position)
    )
    return [dict(r._mapping) for r in rows]


def portions_of(tx: Tx, invoice_id: int) -> list[dict[str, Any]]:
    rows = tx.conn.execute(
        select(line_entries, invoice_lines.c.position)
        .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
        .where(invoice_lines.c.invoice_id == invoice_id)
        .order_by(invoice_lines.c.position, line_entries.c.work_date, line_entries.c.entry_id)
    )
    return [dict(r._mapping) for r in rows]


def source_ids(tx: Tx, invoice_id: int, source: str) -> list[str]:
    """External ids of the invoice's entries that came from `source`."""
    rows = tx.conn.execute(
        select(time_entries.c.external_id)
        .distinct()
        .join(line_entries, line_entries.c.entry_id == time_entries.c.id)
        .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
        .where(invoice_lines.c.invoice_id == invoice_id, time_entries.c.source == source)
    )
    return sorted(r.external_id for r in rows)


def listing(
    tx: Tx, *, contract: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    query = select(invoices).where(invoices.c.workspace_id == tx.workspace_id)
    if contract:
        query = query.where(invoices.c.contract == contract)
    if status:
        query = query.where(invoices.c.status == status)
    return [dict(r._mapping) for r in tx.conn.execute(query.order_by(invoices.c.id))]


def history(tx: Tx, contract: str, *, exclude: int | None = None) -> BillingHistory:
    """What earlier live invoices of the contract billed and withheld (a growing draft
    leaves itself out)."""
    live = [
        inv
        for inv in listing(tx, contract=contract)
        if inv["status"] in LIVE and inv["id"] != exclude
    ]
    # Releases in one query, not one per invoice; summed in Python (exact on SQLite).
    releases = tx.conn.execute(
        select(invoice_lines.c.invoice_id, invoice_lines.c.amount)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(
            invoices.c.workspace_id == tx.workspace_id,
            invoices.c.contract == contract,
            invoice_lines.c.kind == LineKind.RETAINAGE_RELEASE.value,
        )
    )
    released: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for invoice_id, amount in releases:
        released[invoice_id] += amount
    billed = sum((inv["subtotal"] - released[inv["id"]] for inv in live), ZERO)
    held = sum((inv["retainage"] - released[inv["id"]] for inv in live), ZERO)
    return BillingHistory(billed_before=billed, retainage_held=held)


def cap_usage(tx: Tx, contract: Contract, as_of: dt.date) -> CapUsage:
    """What live invoices of the contract already billed, per cap (and per period).
    Work billed beyond a bill-and-adjust cap was taken off again by its limit
    adjustment line, so such a cap counts no more than its limit."""
    hours: dict[str, Decimal] = defaultdict(lambda: ZERO)
    amount: dict[str, Decimal] = defaultdict(lambda: ZERO)
    rows = tx.conn.execute(
        select(
            line_entries.c.seconds,
            line_entries.c.amount,
            line_entries.c.work_date,
            line_entries.c.phase,
            line_entries.c.task,
        )
        .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
        .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
        .where(
            invoices.c.workspace_id == tx.workspace_id,
            invoices.c.contract == contract.code,
            invoices.c.status.in_(LIVE),
            invoice_lines.c.credited_by.is_(None),
            ~_growing(),  # its entries are rated again as the draft grows
        )
    )
    for row in rows:
        for cap in contract.caps:
            if covers(cap, row.phase, row.task):
                key = usage_key(cap, row.work_date)
                hours[key] += Decimal(row.seconds) / 3600
                amount[key] += row.amount
    for cap in contract.caps:
        if cap.on_exceed is not OverCap.BILL_AND_ADJUST:
            continue
        limit_hours, limit_amount = cap_limits(contract, cap, as_of)
        for key in [k for k in hours if k == cap.key or k.startswith(f"{cap.key}@")]:
            if limit_hours is not None:
                hours[key] = min(hours[key], limit_hours)
            if limit_amount is not None:
                amount[key] = min(amount[key], limit_amount)
    return CapUsage(hours=dict(hours), amount=dict(amount))


def approve(tx: Tx, ref: str, actor: str, audit: AuditLog) -> dict[str, Any]:
    authorize(tx, actor, "approve")
    inv = get(tx, ref)
    if inv["status"] != "draft":
        raise InvoiceError(
            f"invoice {inv['number']}: is {inv['status']}, only a draft can be approved"
        )
    tx.conn.execute(
        update(invoices)
        .where(invoices.c.id == inv["id"])
        .values(status="approved", approved_by=actor, approved_at=utcnow())
    )
    audit.record(
        "invoice.approved",
        f"invoice:{inv['id']}",
        {"status": "draft"},
        {"status": "approved", "number": inv["number"], "total": inv["total"]},
    )
    return inv


def void(tx: Tx, ref: str, actor: str, reason: str, audit: AuditLog) -> list[int]:
    """Void an invoice and free exactly the entries behind it."""
    if not reason.strip():
        raise InvoiceError(f"invoice {ref}: voiding needs a reason")
    authorize(tx, actor, "void")
    inv = get(tx, ref)
    if inv["status"] == "void":
        raise InvoiceError(f"invoice {inv['number']}: is already void")
    _refuse_live_credit_note(tx, inv)
    _withdraw_from_outbox(tx, inv, audit)
    if inv["kind"] == "credit":
        _restore_credited(tx, inv, audit)
    freed = _free(tx, inv["id"], None)
    tx.conn.execute(
        update(invoices)
        .where(invoices.c.id == inv["id"])
        .values(status="void", voided_by=actor, voided_at=utcnow(), void_reason=reason)
    )
    audit.record(
        "invoice.voided",
        f"invoice:{inv['id']}",
        {"status": inv["status"]},
        {"status": "void", "number": inv["number"], "reason": reason, "freed_entries": freed},
    )
    return freed


def _refuse_live_credit_note(tx: Tx, inv: dict[str, Any]) -> None:
    """Voided under a live credit note, the invoice would be taken back twice."""
    note = tx.conn.execute(
        select(invoices.c.number)
        .where(invoices.c.credit_of == inv["id"], invoices.c.status != "void")
        .order_by(invoices.c.id)
    ).scalar()
    if note is not None:
        raise InvoiceError(
            f"invoice {inv['number']} has credit note {note}; void the credit note first"
        )


def _withdraw_from_outbox(tx: Tx, inv: dict[str, Any], audit: AuditLog) -> None:
    """An invoice at an accounting system stays open there: it is put right with a
    credit note, or voided there first (read back by the next push). One only queued
    is cancelled, so it is never sent; one whose push was tried and not recorded may
    have arrived, and the next push finds out."""
    number = inv["number"]
    for row in outbox.of_invoice(tx, inv["id"]):
        where = row["connection"]
        if row["status"] == "sent":
            if (row["remote_status"] or "").lower() in outbox.REMOTE_VOID:
                continue
            remote = row["remote_number"] or f"id {row['remote_id']}"
            raise InvoiceError(
                f"invoice {number} was sent to {where} as {remote}; credit it instead, "
                "or void it there first"
            )
        if row["status"] == "cancelled":
            continue
        if not outbox.cancel(tx, row["id"]):
            raise InvoiceError(
                f"invoice {number}: a push to {where} was tried and not recorded as arrived; "
                f"run `billsync push -c {where}` to settle it first"
            )
        audit.record(
            "invoice.push_cancelled",
            f"invoice:{inv['id']}",
            {"connection": where, "status": row["status"]},
            {"connection": where, "status": "cancelled"},
        )


def _restore_credited(tx: Tx, note: dict[str, Any], audit: AuditLog) -> None:
    """Voiding a credit note puts back what it took: the lines it credited charge
    again and their entries are billed on the original again, unless one of them has
    been billed since on another live invoice, which must go first."""
    original = get(tx, note["credit_of"])
    if original["status"] == "void":
        return  # nothing of it is billed any more
    lines = tx.conn.execute(
        select(invoice_lines.c.id, invoice_lines.c.position)
        .where(
            invoice_lines.c.invoice_id == original["id"],
            invoice_lines.c.credited_by == note["id"],
        )
        .order_by(invoice_lines.c.position)
    ).all()
    entry_ids = sorted(
        tx.conn.execute(
            select(line_entries.c.entry_id)
            .distinct()
            .where(line_entries.c.line_id.in_([ln.id for ln in lines]))
        ).scalars()
    )
    rebilled = tx.conn.execute(
        select(billed_entries.c.entry_id, invoices.c.number)
        .join(invoices, invoices.c.id == billed_entries.c.invoice_id)
        .where(billed_entries.c.live, billed_entries.c.entry_id.in_(entry_ids))
        .order_by(billed_entries.c.entry_id)
    ).first()
    if rebilled is not None:
        raise InvoiceError(
            f"credit note {note['number']}: entry {rebilled.entry_id} it freed is billed "
            f"again on {rebilled.number}; void or credit {rebilled.number} first"
        )
    tx.conn.execute(
        update(invoice_lines)
        .where(invoice_lines.c.id.in_([ln.id for ln in lines]))
        .values(credited_by=None)
    )
    tx.conn.execute(
        update(billed_entries)
        .where(
            billed_entries.c.invoice_id == original["id"],
            billed_entries.c.entry_id.in_(entry_ids),
        )
        .values(live=True)
    )
    audit.record(
        "invoice.uncredited",
        f"invoice:{original['id']}",
        None,
        {
            "credit_note": note["id"],
            "number": note["number"],
            "lines": [ln.position for ln in lines],
            "restored_entries": entry_ids,
        },
    )


def _free(tx: Tx, invoice_id: int, entry_ids: Sequence[int] | None) -> list[int]:
    query = select(billed_entries.c.entry_id).where(
        billed_entries.c.invoice_id == invoice_id, billed_entries.c.live
    )
    if entry_ids is not None:
        query = query.where(billed_entries.c.entry_id.in_(list(entry_ids)))
    freed = sorted(tx.conn.execute(query).scalars().all())
    if freed:
        statement = update(billed_entries).where(billed_entries.c.invoice_id == invoice_id)
        if entry_ids is not None:
            statement = statement.where(billed_entries.c.entry_id.in_(freed))
        tx.conn.execute(statement.values(live=False))
    return freed


def entries_on_lines(tx: Tx, line_ids: Sequence[int]) -> dict[int, set[int]]:
    """Entry id -> every line of its invoice it sits on."""
    rows = tx.conn.execute(
        select(line_entries.c.entry_id, line_entries.c.line_id).where(
            line_entries.c.line_id.in_(list(line_ids))
        )
    )
    entry_ids = {r.entry_id for r in rows}
    out: dict[int, set[int]] = defaultdict(set)
    for r in tx.conn.execute(
        select(line_entries.c.entry_id, line_entries.c.line_id).where(
            line_entries.c.entry_id.in_(sorted(entry_ids))
        )
    ):
        out[r.entry_id].add(r.line_id)
    return out


def mark_credited(tx: Tx, invoice_id: int, line_ids: Sequence[int], credit_id: int) -> list[int]:
    """Lines taken back by a credit note; frees the entries behind them."""
    tx.conn.execute(
        update(invoice_lines)
        .where(invoice_lines.c.id.in_(list(line_ids)))
        .values(credited_by=credit_id)
    )
    entry_ids = sorted(set(entries_on_lines(tx, line_ids)))
    return _free(tx, invoice_id, entry_ids)
