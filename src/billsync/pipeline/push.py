"""Approved invoices to an accounting system, through the outbox.

    billsync push --connection qbo      (also part of `billsync run`)
    INV-000014 -> qbo 1043 (open)

For each queued invoice: a preflight asks the vendor for a document with the same
number; only when there is none is it created, with the outbox row's fixed idempotency
key. So a retry after an outage, or after a crash between the vendor accepting and
billsync recording, finds or replays the first invoice and never makes a second. The
vendor's number and status go into the outbox and the audit trail; `refresh` reads the
status back later (paid, void, ...), and time that came from the same platform is
marked billed there where the platform allows it.

The vendor invoice carries billsync's lines as they are, with the invoice's tax rate
on taxable lines, and the retainage withheld as a last line without tax, so the
vendor's balance is what billsync says is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from billsync.connectors.base import OutgoingInvoice, OutgoingLine, RemoteInvoice, Sink
from billsync.domain.invoicing import LineKind
from billsync.errors import UserError
from billsync.store import invoices as invoice_store
from billsync.store import outbox
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx

from .connections import Hooks, context_for, open_sink
from .workspace import load_workspace

UNTAXED = {LineKind.RETAINAGE_RELEASE.value}


@dataclass
class PushSummary:
    connection: str
    sent: list[tuple[str, RemoteInvoice]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    marked: int = 0  # the connection's own time entries marked billed at the vendor
    restatused: list[tuple[str, str, str]] = field(default_factory=list)  # number, was, is


def outgoing(tx: Tx, invoice_id: int) -> OutgoingInvoice:
    inv = invoice_store.get(tx, invoice_id)
    client = load_workspace(tx).clients.get(inv["client"])
    tax_rate = Decimal(inv["tax_rate"])
    lines = [
        OutgoingLine(
            description=line["description"],
            item=line["kind"].replace("_", " ").capitalize(),
            quantity=Decimal(line["quantity"]),
            unit=line["unit"],
            unit_price=Decimal(line["unit_price"]),
            amount=Decimal(line["amount"]),
            tax_percent=Decimal(0) if line["kind"] in UNTAXED else tax_rate,
        )
        for line in invoice_store.lines_of(tx, invoice_id)
    ]
    retainage = Decimal(inv["retainage"])
    if retainage:
        lines.append(
            OutgoingLine(
                "Retainage withheld",
                "Retainage",
                Decimal(1),
                "retainage",
                -retainage,
                -retainage,
                Decimal(0),
            )
        )
    return OutgoingInvoice(
        number=inv["number"],
        client_code=inv["client"],
        client_name=client.name if client else inv["client"],
        currency=inv["currency"],
        issue_date=inv["issue_date"],
        due_date=inv["due_date"],
        po_number=inv["po_number"],
        memo=inv["reason"],
        lines=lines,
        subtotal=Decimal(inv["subtotal"]),
        tax=Decimal(inv["tax"]),
        total=Decimal(inv["amount_due"]),
    )


def push(store: Store, code: str, actor: str, hooks: Hooks | None = None) -> PushSummary:
    with store.transaction() as tx:
        authorize(tx, actor, "push")
        outbox.enqueue_approved(tx, code)
        queued = outbox.pending(tx, code)
    summary = PushSummary(code)
    if not queued:
        return summary
    chosen, context = context_for(store, code, hooks)
    sink = open_sink(chosen, context)
    for item in queued:
        with store.transaction() as tx:
            if not outbox.attempt(tx, item):
                continue  # voided since it was listed: never sent
            invoice = outgoing(tx, item.invoice_id)
        try:
            remote = deliver(sink, invoice, item.idempotency_key)
        except UserError as exc:  # the vendor refused, or the connection lacks a setting
            with store.transaction() as tx:
                outbox.failed(tx, item, str(exc))
                AuditLog(tx, actor).record(
                    "invoice.push_failed",
                    f"invoice:{item.invoice_id}",
                    None,
                    {"connection": code, "error": str(exc), "attempt": item.attempts + 1},
                )
            summary.failed.append((item.number, str(exc)))
            continue
        record(store, item, remote, actor)
        summary.sent.append((item.number, remote))
        summary.marked += mark_billed(store, sink, item, remote, actor)
    return summary


def mark_billed(
    store: Store, sink: Sink, item: outbox.Queued, remote: RemoteInvoice, actor: str
) -> int:
    """Where the invoice bills time that came from this same platform, mark it billed
    there too (so nobody bills it again from the vendor's side), where it can."""
    with store.reading() as tx:
        ids = invoice_store.source_ids(tx, item.invoice_id, item.connection)
    if not ids:
        return 0
    error: str | None = None
    try:
        marked = sink.mark_billed(ids, remote)
    except UserError as exc:  # the invoice is out; the marks can be made again later
        marked, error = 0, str(exc)
    with store.transaction() as tx:
        AuditLog(tx, actor).record(
            "invoice.time_marked_billed",
            f"invoice:{item.invoice_id}",
            None,
            {
                "connection": item.connection,
                "entries": len(ids),
                "marked": marked,
                **({"error": error} if error else {}),
            },
        )
    return marked


def refresh(store: Store, code: str, actor: str, hooks: Hooks | None = None) -> PushSummary:
    """Read back the vendor's status of every invoice sent there; audit each change."""
    summary = PushSummary(code)
    with store.reading() as tx:
        sent = outbox.sent_rows(tx, code)
    if not sent:
        return summary
    chosen, context = context_for(store, code, hooks)
    sink = open_sink(chosen, context)
    for item, remote_id, was in sent:
        try:
            now = sink.invoice_status(remote_id).status
        except UserError as exc:
            summary.failed.append((item.number, str(exc)))
            continue
        if now == was:
            continue
        with store.transaction() as tx:
            outbox.restatus(tx, item, now)
            AuditLog(tx, actor).record(
                "invoice.remote_status",
                f"invoice:{item.invoice_id}",
                {"remote_status": was},
                {"connection": code, "remote_id": remote_id, "remote_status": now},
            )
        summary.restatused.append((item.number, was, now))
    return summary


def deliver(sink: Sink, invoice: OutgoingInvoice, key: str) -> RemoteInvoice:
    """The vendor's invoice: the one already there with this number, or a new one."""
    return sink.find_invoice(invoice.number) or sink.create_invoice(invoice, key)


def record(store: Store, item: outbox.Queued, remote: RemoteInvoice, actor: str) -> None:
    with store.transaction() as tx:
        outbox.sent(tx, item, remote.remote_id, remote.number, remote.status)
        AuditLog(tx, actor).record(
            "invoice.pushed",
            f"invoice:{item.invoice_id}",
            None,
            {
                "connection": item.connection,
                "number": item.number,
                "remote_id": remote.remote_id,
                "remote_number": remote.number,
                "remote_status": remote.status,
            },
        )
