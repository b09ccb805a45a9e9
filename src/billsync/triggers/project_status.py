"""A project's status changes: set to ready for billing, its completion invoice is
drafted at once with every billable entry of the project; once every project of a
contract is completed, the retainage held on it is released by its own invoice."""

from __future__ import annotations

import datetime as dt

from billsync.domain.billing import DueInvoice
from billsync.domain.contracts import Contract
from billsync.domain.workspace import ProjectStatus
from billsync.pipeline.run import Planned, Planner, Prepared, RunReport, run
from billsync.pipeline.workspace import load_workspace
from billsync.store import invoices as invoice_store
from billsync.store import records
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx

from .manual import TriggerError


def set_status(
    store: Store, code: str, status: ProjectStatus, *, actor: str, today: dt.date
) -> RunReport | None:
    """Set the status, and draft what it triggers in the same transaction: a failed
    draft leaves the status as it was, and setting a status again drafts what is due
    then (a completion invoice of entries that arrived since)."""
    planner = {
        ProjectStatus.READY_FOR_BILLING: _completion(code),
        ProjectStatus.COMPLETED: _release_when_done(code),
    }.get(status)

    def change(tx: Tx, audit: AuditLog) -> None:
        project = load_workspace(tx).projects.get(code)
        if project is None:
            raise TriggerError(f"project {code!r}: no such project")
        if project.status is status:
            return
        body = project.model_copy(update={"status": status}).model_dump(
            mode="json", exclude_defaults=True
        )
        records.put(tx, "project", code, body)
        audit.record(
            "project.status",
            f"project:{code}",
            {"status": project.status.value},
            {"status": status.value},
        )

    if planner is None:
        with store.transaction() as tx:
            authorize(tx, actor, "project_status")
            change(tx, AuditLog(tx, actor))
        return None
    # Rating does not read a project's status: the run's second process, which rates
    # from the last commit, needs not see it.
    return run(
        store, today=today, actor=actor, planner=planner, action="project_status", first=change
    )


def _completion(code: str) -> Planner:
    def plan(tx: Tx, prep: Prepared, contract: Contract) -> list[Planned]:
        if prep.ws.projects[code].contract != contract.code:
            return []
        portions = tuple(p for p in prep.cap(tx, contract.code) if p.project == code)
        if not portions:
            return []
        return [
            Planned(
                contract,
                DueInvoice("completion", portions, project=code),
                "project_status",
                f"project {code} ready for billing",
            )
        ]

    return plan


def _release_when_done(code: str) -> Planner:
    def plan(tx: Tx, prep: Prepared, contract: Contract) -> list[Planned]:
        contract_code = prep.ws.projects[code].contract
        if contract_code != contract.code:
            return []
        siblings = [p for p in prep.ws.projects.values() if p.contract == contract_code]
        done = (ProjectStatus.COMPLETED, ProjectStatus.CLOSED)
        if any(p.status not in done for p in siblings):
            return []
        if invoice_store.history(tx, contract_code).retainage_held <= 0:
            return []
        return [
            Planned(
                contract,
                DueInvoice("release", ()),
                "project_status",
                f"every project of {contract_code} completed",
            )
        ]

    return plan
