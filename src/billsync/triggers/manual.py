"""Out-of-cycle invoicing by an authorised person: every billable entry of one
contract up to a day, drafted now, with who and why on the invoice and in the trail.
Also the release of retainage, which finance decides."""

from __future__ import annotations

import datetime as dt

from billsync.domain.billing import DueInvoice, out_of_cycle
from billsync.domain.contracts import Contract
from billsync.errors import UserError
from billsync.pipeline.run import Planned, Prepared, RunReport, run
from billsync.store import invoices as invoice_store
from billsync.store.db import Store, Tx


class TriggerError(UserError):
    pass


def _contract(prep: Prepared, code: str) -> Contract:
    contract = prep.ws.contracts.get(code)
    if contract is None:
        raise TriggerError(f"contract {code!r}: no such contract; nothing was drafted")
    return contract


def invoice_now(
    store: Store,
    *,
    contract: str,
    reason: str,
    actor: str,
    today: dt.date,
    through: dt.date | None = None,
) -> RunReport:
    if not reason.strip():
        raise TriggerError("a manual invoice needs a reason")

    def plan(_tx: Tx, prep: Prepared) -> list[Planned]:
        chosen = _contract(prep, contract)
        due = out_of_cycle(prep.portions.get(contract, []), through or today, "manual")
        if due is None:
            raise TriggerError(
                f"contract {contract}: nothing billable up to "
                f"{through or today}; nothing was drafted"
            )
        return [Planned(chosen, due, f"manual:{actor}", reason)]

    return run(store, today=today, actor=actor, planner=plan, action="manual_invoice")


def release_retainage(
    store: Store, *, contract: str, reason: str, actor: str, today: dt.date
) -> RunReport:
    if not reason.strip():
        raise TriggerError("releasing retainage needs a reason")

    def plan(tx: Tx, prep: Prepared) -> list[Planned]:
        chosen = _contract(prep, contract)
        if invoice_store.history(tx, contract).retainage_held <= 0:
            raise TriggerError(f"contract {contract}: no retainage is held; nothing was drafted")
        return [Planned(chosen, DueInvoice("release", ()), f"manual:{actor}", reason)]

    return run(store, today=today, actor=actor, planner=plan, action="manual_invoice")
