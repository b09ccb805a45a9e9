"""Out-of-cycle invoicing by an authorised person: every billable entry of one
contract up to a day, drafted now, with who and why on the invoice and in the trail.
Also the release of retainage, which finance decides."""

from __future__ import annotations

import datetime as dt

from billsync.domain.billing import DueInvoice, out_of_cycle
from billsync.domain.contracts import Contract
from billsync.errors import UserError
from billsync.pipeline.run import Planned, Planner, Prepared, RunReport, run
from billsync.store import invoices as invoice_store
from billsync.store import records
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx


class TriggerError(UserError):
    pass


def _run_for(
    store: Store, contract: str, plan: Planner, *, actor: str, today: dt.date
) -> RunReport:
    """A run whose planner drafts for one contract, which must exist: checked before
    the run reads anything."""

    def exists(tx: Tx, _audit: AuditLog) -> None:
        if records.body_at_current(tx, "contract", contract) is None:
            raise TriggerError(f"contract {contract!r}: no such contract; nothing was drafted")

    return run(store, today=today, actor=actor, planner=plan, action="manual_invoice", first=exists)


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

    def plan(tx: Tx, prep: Prepared, chosen: Contract) -> list[Planned]:
        if chosen.code != contract:
            return []
        due = out_of_cycle(prep.cap(tx, contract), through or today, "manual")
        if due is None:
            raise TriggerError(
                f"contract {contract}: nothing billable up to "
                f"{through or today}; nothing was drafted"
            )
        return [Planned(chosen, due, f"manual:{actor}", reason)]

    return _run_for(store, contract, plan, actor=actor, today=today)


def release_retainage(
    store: Store, *, contract: str, reason: str, actor: str, today: dt.date
) -> RunReport:
    if not reason.strip():
        raise TriggerError("releasing retainage needs a reason")

    def plan(tx: Tx, _prep: Prepared, chosen: Contract) -> list[Planned]:
        if chosen.code != contract:
            return []
        if invoice_store.history(tx, contract).retainage_held <= 0:
            raise TriggerError(f"contract {contract}: no retainage is held; nothing was drafted")
        return [Planned(chosen, DueInvoice("release", ()), f"manual:{actor}", reason)]

    return _run_for(store, contract, plan, actor=actor, today=today)
