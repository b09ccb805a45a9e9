"""`billsync invoices ...`: list, show, approve, void, credit, export."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from billsync.documents.invoice_export import as_csv, as_json, invoice_document
from billsync.pipeline.credits import credit
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog

from .common import (
    Format,
    FormatOption,
    TodayOption,
    console,
    emit,
    fail,
    open_default,
    parse_lines,
    today_of,
    write_output,
)

app = typer.Typer(no_args_is_help=True, help="Invoice drafts, approval, voids, credit notes.")


class Status(StrEnum):
    """An invoice's states (a filter that is none of them would list nothing)."""

    DRAFT = "draft"
    APPROVED = "approved"
    VOID = "void"


@app.command("list")
def list_(
    contract: Annotated[str | None, typer.Option()] = None,
    status: Annotated[Status | None, typer.Option(help="draft, approved or void")] = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Invoices with their totals."""
    store, _ = open_default()
    with store.reading() as tx:
        rows = invoice_store.listing(tx, contract=contract, status=status and status.value)
    emit(
        [
            {
                "number": r["number"],
                "contract": r["contract"],
                "kind": r["kind"],
                "status": r["status"],
                "period": f"{r['period_start'] or ''}..{r['period_end'] or ''}",
                "currency": r["currency"],
                "subtotal": r["subtotal"],
                "tax": r["tax"],
                "total": r["total"],
                "retainage": r["retainage"],
                "due": r["amount_due"],
            }
            for r in rows
        ],
        fmt,
        title="Invoices",
    )


@app.command()
def show(invoice: str) -> None:
    """One invoice: lines (each quantity x unit price = amount) and contract status."""
    store, _ = open_default()
    with store.reading() as tx:
        doc = invoice_document(tx, invoice)
    console.print(
        f"[bold]{doc['number']}[/bold]  {doc['kind']}  {doc['status']}  contract "
        f"{doc['contract']} v{doc['contract_version']}  client {doc['client']}"
    )
    console.print(
        f"period {doc['period_start'] or '-'}..{doc['period_end'] or '-'}  issued "
        f"{doc['issue_date']}  due {doc['due_date']}  PO {doc['po_number'] or '-'}",
        highlight=False,
    )
    emit(
        [
            {
                k: ln[k]
                for k in ("position", "description", "quantity", "unit", "unit_price", "amount")
            }
            for ln in doc["lines"]
        ],
        Format.TABLE,
    )
    cur = doc["currency"]
    for label, key in (
        ("Subtotal", "subtotal"),
        (f"Tax {doc['tax_rate']}%", "tax"),
        ("Total", "total"),
        ("Retainage withheld", "retainage"),
        ("Amount due", "amount_due"),
    ):
        console.print(f"{label:>24}: {doc[key]} {cur}", highlight=False)
    status = doc["contract_status"]
    console.print(
        "Contract: value " + (status["value"] or "-") + f", billed before "
        f"{status['billed_before']}, this invoice {status['this_invoice']}, retainage "
        f"held {status['retainage_held']}, remaining {status['remaining'] or '-'}",
        highlight=False,
    )
    entries = len({row["entry_id"] for row in doc["time_detail"]})
    console.print(
        f"{entries} entries behind these lines, in the time-detail annex "
        f"(billsync invoices export {doc['number']})"
    )


@app.command()
def approve(invoice: str) -> None:
    """Approve a draft."""
    store, settings = open_default()
    with store.transaction() as tx:
        inv = invoice_store.approve(tx, invoice, settings.who, AuditLog(tx, settings.who))
    console.print(f"{inv['number']}: approved")


@app.command()
def void(invoice: str, reason: Annotated[str, typer.Option(help="Why (recorded)")]) -> None:
    """Void an invoice; the entries behind it are free to be billed again."""
    store, settings = open_default()
    with store.transaction() as tx:
        freed = invoice_store.void(tx, invoice, settings.who, reason, AuditLog(tx, settings.who))
    console.print(f"{invoice}: void; {len(freed)} entries freed")


@app.command("credit")
def credit_(
    invoice: str,
    reason: Annotated[str, typer.Option(help="Why (recorded)")],
    lines: Annotated[
        str | None, typer.Option(help="Line numbers, e.g. 2,3 or 2-4 (default: all)")
    ] = None,
    today: TodayOption = None,
) -> None:
    """Issue a credit note for some lines; their entries are freed for rebilling."""
    positions = None if lines is None else parse_lines(lines)
    store, settings = open_default()
    credit_id, freed = credit(
        store, invoice, positions, reason=reason, actor=settings.who, today=today_of(today)
    )
    with store.reading() as tx:
        note = invoice_store.get(tx, credit_id)
    console.print(
        f"{note['number']}: credit note {note['total']} {note['currency']}; "
        f"{len(freed)} entries freed",
        highlight=False,
    )


@app.command()
def export(
    invoice: str,
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """The invoice with its time-detail annex, for the client (docs/export.md)."""
    if fmt not in ("json", "csv"):
        fail(f"--format {fmt!r}: use json or csv")
    store, _ = open_default()
    with store.reading() as tx:
        doc = invoice_document(tx, invoice)
    text = as_json(doc) if fmt == "json" else as_csv(doc)
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)
