"""Credit notes: take back some lines of an invoice, and free the entries behind them.

The credited invoice stays as it was sent; the credit note is a new document whose
lines mirror the credited ones with negative quantities (same unit prices, so each
line still checks by hand), at the tax rate of the original. Its entries are free to
be billed again, as they now are: this is how an entry changed after billing is put
right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from billsync.domain.invoicing import InvoiceDraft, InvoiceLine, LineKind, draft_invoice
from billsync.domain.money import quantize
from billsync.errors import UserError
from billsync.store import invoices as invoice_store
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store

from .workspace import load_workspace


class CreditError(UserError):
    pass


def credit(
    store: Store,
    ref: str,
    positions: Sequence[int] | None,
    *,
    reason: str,
    actor: str,
    today: dt.date,
) -> tuple[int, list[int]]:
    """Credit note id and the entries it freed; positions None credits every line."""
    if not reason.strip():
        raise CreditError(f"invoice {ref}: a credit note needs a reason")
    if positions is not None and not positions:
        # Only None means all lines: an empty choice (nothing parsed) must not widen.
        raise CreditError(f"invoice {ref}: no lines chosen to credit")
    with store.transaction() as tx:
        authorize(tx, actor, "credit")
        inv = invoice_store.get(tx, ref)
        if inv["status"] == "void" or inv["kind"] == "credit":
            raise CreditError(
                f"invoice {inv['number']}: a {inv['status']} {inv['kind']} "
                "invoice cannot be credited"
            )
        if inv["status"] != "approved":
            # Never sent, so nothing to take back; and a growing draft's lines are
            # replaced by the next run, which would leave the note crediting nothing.
            raise CreditError(
                f"invoice {inv['number']} is a draft; void it instead (a draft was never sent)"
            )
        if today < inv["issue_date"]:
            raise CreditError(
                f"invoice {inv['number']}: issued {inv['issue_date']}; a credit note of it "
                f"cannot be dated {today}, before it"
            )
        lines = {ln["position"]: ln for ln in invoice_store.lines_of(tx, inv["id"])}
        wanted = sorted(lines) if positions is None else sorted(set(positions))
        chosen = []
        for position in wanted:
            line = lines.get(position)
            if line is None:
                raise CreditError(f"invoice {inv['number']}: has no line {position}")
            if line["credited_by"] is not None:
                raise CreditError(f"invoice {inv['number']} line {position}: already credited")
            chosen.append(line)
        chosen_ids = {ln["id"] for ln in chosen}
        by_id = {ln["id"]: ln["position"] for ln in lines.values()}
        for entry_id, on in invoice_store.entries_on_lines(tx, sorted(chosen_ids)).items():
            others = sorted(by_id[i] for i in on - chosen_ids if i in by_id)
            if others:
                raise CreditError(
                    f"invoice {inv['number']}: entry {entry_id} also sits on line "
                    f"{others[0]}; credit those lines together"
                )
        ws = load_workspace(tx)
        contract = ws.contracts[inv["contract"]].model_copy(update={"tax_rate": inv["tax_rate"]})
        mirrored = [
            InvoiceLine(
                LineKind.ADJUSTMENT,
                f"Credit of {inv['number']} line {ln['position']}: {ln['description']}",
                -ln["quantity"],
                ln["unit"],
                ln["unit_price"],
                quantize(-ln["quantity"] * ln["unit_price"], inv["currency"]),
                (inv["number"], f"{ln['position']:04d}"),
            )
            for ln in chosen
        ]
        history = invoice_store.history(tx, contract.code)
        draft = _give_back_retainage(
            draft_invoice(
                contract, portions=(), issue_date=today, history=history, adjustments=mirrored
            ),
            inv,
        )
        audit = AuditLog(tx, actor)
        credit_id = invoice_store.insert_draft(
            tx,
            draft,
            invoice_store.Meta(
                kind="credit",
                trigger=f"manual:{actor}",
                reason=reason,
                actor=actor,
                client=inv["client"],
                contract_version=inv["contract_version"],
                credit_of=inv["id"],
            ),
            audit,
        )
        freed = invoice_store.mark_credited(tx, inv["id"], sorted(chosen_ids), credit_id)
        audit.record(
            "invoice.credited",
            f"invoice:{inv['id']}",
            None,
            {"credit_note": credit_id, "lines": wanted, "freed_entries": freed, "reason": reason},
        )
        return credit_id, freed


def _give_back_retainage(draft: InvoiceDraft, original: dict[str, Any]) -> InvoiceDraft:
    """The part of the original's retainage that the credited lines carried: it was
    never paid, so the credit note does not pay it back, and it is no longer held."""
    if not original["retainage"] or not original["subtotal"]:
        return draft
    share = quantize(
        original["retainage"] * draft.subtotal / original["subtotal"], original["currency"]
    )  # negative, as the credited subtotal is
    status = replace(draft.status, retainage_held=draft.status.retainage_held + share)
    return replace(draft, retainage=share, amount_due=draft.total - share, status=status)
