"""The whole story of one hour or one invoice, from raw record to invoice line, for
`billsync audit show`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from . import audit
from . import invoices as invoice_store
from .db import Tx
from .tables import (
    billed_entries,
    exceptions,
    import_batches,
    invoice_lines,
    invoices,
    line_entries,
    raw_records,
    time_entries,
)


def _row(tx: Tx, query: Any) -> dict[str, Any] | None:
    found = tx.conn.execute(query).first()
    return dict(found._mapping) if found else None


def entry_story(tx: Tx, entry_id: int) -> list[tuple[str, str]]:
    """(when, what happened) lines, oldest first."""
    entry = _row(
        tx,
        select(time_entries).where(
            time_entries.c.workspace_id == tx.workspace_id, time_entries.c.id == entry_id
        ),
    )
    if entry is None:
        raise LookupError(f"entry {entry_id}: no such entry")
    story: list[tuple[str, str]] = []
    raws = tx.conn.execute(
        select(raw_records, import_batches.c.filename)
        .outerjoin(import_batches, import_batches.c.id == raw_records.c.batch_id)
        .where(
            raw_records.c.workspace_id == tx.workspace_id,
            raw_records.c.source == entry["source"],
            raw_records.c.external_id == entry["external_id"],
        )
        .order_by(raw_records.c.id)
    )
    for r in raws:
        where = f" from {r.filename} line {r.line_no}" if r.filename else ""
        if r.sha256 == entry["raw_sha256"]:
            where += ", the current revision"
        story.append(
            (
                str(r.received_at),
                f"raw record {r.id} received{where} (sha256 {r.sha256[:16]}...): {r.payload}",
            )
        )
    for event in audit.events(tx, [f"entry:{entry_id}"]):
        story.append(
            (
                str(event["at"]),
                f"{event['action']} by {event['actor']}: {event['before']} -> {event['after']}",
            )
        )
    for exc in tx.conn.execute(
        select(exceptions).where(exceptions.c.workspace_id == tx.workspace_id)
    ):
        if entry_id in exc.entry_ids:
            closed = (
                f"; {exc.status} by {exc.closed_by}: {exc.closed_reason}" if exc.closed_by else ""
            )
            story.append(
                (
                    str(exc.created_at),
                    f"exception {exc.id} {exc.code} ({exc.severity}): {exc.message}{closed}",
                )
            )
    billed = tx.conn.execute(
        select(
            billed_entries.c.revision,
            billed_entries.c.live,
            billed_entries.c.adjustments,
            invoices.c.number,
            invoices.c.status,
            invoices.c.created_at,
            invoices.c.id,
        )
        .join(invoices, invoices.c.id == billed_entries.c.invoice_id)
        .where(billed_entries.c.entry_id == entry_id)
        .order_by(billed_entries.c.id)
    )
    for b in billed:
        lines = tx.conn.execute(
            select(
                invoice_lines.c.position,
                invoice_lines.c.description,
                line_entries.c.quantity,
                line_entries.c.unit_price,
            )
            .join(line_entries, line_entries.c.line_id == invoice_lines.c.id)
            .where(invoice_lines.c.invoice_id == b.id, line_entries.c.entry_id == entry_id)
        )
        parts = "; ".join(
            f"line {ln.position} '{ln.description}' {ln.quantity} x {ln.unit_price}" for ln in lines
        )
        state = "live" if b.live else "freed"
        if b.adjustments:
            parts += "; billable time adjusted: " + ", ".join(
                f"{a['reason']} {a['seconds'] / 60:+g} min" for a in b.adjustments
            )
        story.append(
            (
                str(b.created_at),
                f"revision {b.revision} billed on {b.number} ({b.status}, {state}): {parts}",
            )
        )
    current = (
        f"now revision {entry['revision']}: {entry['person'] or '?'} on "
        f"{entry['project'] or '?'}/{entry['task'] or '-'} {entry['work_date']} "
        f"{entry['duration_seconds'] / 3600:.2f} h, {entry['approval']}, "
        f"state {entry['state']}"
    )
    return sorted(story) + [("", current)]


def invoice_story(tx: Tx, ref: str) -> list[tuple[str, str]]:
    inv = _row(tx, select(invoices).where(invoice_store.matching(tx, ref)))
    if inv is None:
        raise LookupError(f"invoice {ref}: no such invoice")
    story = [
        (str(e["at"]), f"{e['action']} by {e['actor']}: {e['after']}")
        for e in audit.events(tx, [f"invoice:{inv['id']}"])
    ]
    entries = (
        tx.conn.execute(
            select(line_entries.c.entry_id)
            .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
            .where(invoice_lines.c.invoice_id == inv["id"])
        )
        .scalars()
        .all()
    )
    story.append(
        (
            "",
            f"{inv['number']} is {inv['status']}: total {inv['total']} "
            f"{inv['currency']}, {len(set(entries))} entries; see "
            "`billsync audit show --entry ID` for any of them",
        )
    )
    return story
