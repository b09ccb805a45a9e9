"""The pipeline: map, validate, rate, cap, raise exceptions, draft what is due.

One run is one transaction, so it is all or nothing, and running it again with nothing
new changes nothing: mapping finds the same codes, findings have the same fingerprints,
and entries already on a live invoice are never drafted again.

    prepare()  -> everything up to the billable portions of each contract
    run()      -> prepare + the invoices the clock, milestones and thresholds make due
    triggers/ (manual, project status) -> run() with a planner of their own
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from billsync.domain.billing import (
    DueInvoice,
    billable_on_task,
    due_invoices,
    hold_whole_entries,
    over_threshold,
    overtime_context,
    threshold_finding,
)
from billsync.domain.caps import CapResult, LimitAdjustment, apply_caps
from billsync.domain.contracts import Contract
from billsync.domain.entries import EntryState, SourceRef, TimeEntry
from billsync.domain.findings import Finding, Severity
from billsync.domain.invoicing import draft_invoice
from billsync.domain.mapping import MappingContext, map_entries
from billsync.domain.rated import Portion, RatedEntry
from billsync.domain.rating import PersonInfo, rate_entries, select_rate
from billsync.domain.validation import ValidationContext, validate
from billsync.domain.workspace import ProjectStatus
from billsync.store import entries as entry_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx
from billsync.store.tables import workspaces

from .collector import bulk_work
from .workspace import Workspace, load_workspace

Progress = Callable[[str], None]


@dataclass
class Prepared:
    """A contract-by-contract view of what can be billed now."""

    ws: Workspace
    today: dt.date
    entries: dict[int, TimeEntry]
    billed: dict[int, int]
    findings: list[Finding]
    portions: dict[str, list[Portion]]  # contract -> billable, not blocked, not billed
    adjustments: dict[str, list[LimitAdjustment]]
    held: dict[str, list[Portion]]
    rated: dict[int, RatedEntry]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RunReport:
    entries: int
    findings: dict[str, int]
    exceptions: exception_store.SyncCounts
    drafted: list[int]
    seconds: dict[str, float]


def people_info(ws: Workspace) -> dict[str, PersonInfo]:
    out = {}
    for code, person in ws.people.items():
        site = ws.sites[person.site]
        out[code] = PersonInfo(person.role, site.timezone, site.country, site.subdivision)
    return out


def contracts_by_project(ws: Workspace) -> dict[str, Contract]:
    return {
        code: ws.contracts[p.contract]
        for code, p in ws.projects.items()
        if p.contract and p.contract in ws.contracts
    }


def _map(tx: Tx, ws: Workspace, entries: list[TimeEntry]) -> tuple[list[TimeEntry], int]:
    context = MappingContext.of(ws.projects.values(), ws.people.values(), ws.rules)
    moved = entry_store.transfers(tx)
    # A transfer by finance stands in for what the source said.
    sources = [
        replace(e, ref=SourceRef(e.ref.person, *moved[e.id], e.ref.client)) if e.id in moved else e
        for e in entries
    ]
    mapped = map_entries(sources, context)
    return mapped, entry_store.save_mapping(tx, entries, mapped)


def _rate_lookup(
    ws: Workspace, by_project: dict[str, Contract]
) -> Callable[[TimeEntry], Decimal | None]:
    def lookup(entry: TimeEntry) -> Decimal | None:
        contract = by_project.get(entry.project)
        person = ws.people.get(entry.person)
        if contract is None or person is None:
            return None
        rate = select_rate(
            contract,
            person=entry.person,
            role=person.role,
            task=entry.task,
            phase=entry.phase,
            category=entry.category,
            on=entry.work_date,
        )
        return rate.rate if rate is not None else None

    return lookup


def _blocked(findings: Iterable[Finding], waived: set[str], revisions: dict[int, int]) -> set[int]:
    blocked: set[int] = set()
    for f in findings:
        if (
            f.severity is Severity.BLOCKING
            and exception_store.fingerprint(f, revisions) not in waived
        ):
            blocked.update(f.entry_ids)
    return blocked


def prepare(tx: Tx, today: dt.date, progress: Progress | None = None) -> Prepared:
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 3)
        clock = now
        if progress:
            progress(name)

    ws = load_workspace(tx)
    loaded = list(entry_store.load_entries(tx))
    stage("load")
    mapped, _ = _map(tx, ws, loaded)
    del loaded  # the entries as loaded are no longer needed: keep one copy in memory
    entries = [billable_on_task(e, ws.projects.get(e.project)) for e in mapped]
    del mapped
    stage("map")
    by_project = contracts_by_project(ws)
    billed = invoice_store.billed_revisions(tx, growing=False)
    locked = (
        tx.conn.execute(workspaces.select().where(workspaces.c.id == tx.workspace_id))
        .one()
        .locked_until
    )
    findings = validate(
        entries,
        ValidationContext(
            today=today,
            contracts_by_project=by_project,
            projects=ws.projects,
            locked_until=locked,
            billed=billed,
            rate_lookup=_rate_lookup(ws, by_project),
        ),
    )
    stage("validate")
    per_contract: dict[str, list[TimeEntry]] = defaultdict(list)
    invoiced: dict[str, list[TimeEntry]] = defaultdict(list)
    for e in entries:
        contract = by_project.get(e.project)
        if contract is None or e.deleted or e.state is not EntryState.ACTIVE:
            continue
        (invoiced if e.id in billed else per_contract)[contract.code].append(e)
    info = people_info(ws)
    rated: dict[int, RatedEntry] = {}
    for code, group in per_contract.items():
        context = overtime_context(invoiced.get(code, []), group)
        for r in rate_entries(
            group + context, ws.contracts[code], info, billed={e.id for e in context}
        ):
            if r.entry.id not in billed:
                rated[r.entry.id] = r
                findings.extend(r.findings)
    stage("rate")
    revisions = {e.id: e.revision for e in entries}
    waived = {r["fingerprint"] for r in exception_store.listing(tx, status="waived")}
    blocked = _blocked(findings, waived, revisions)
    portions: dict[str, list[Portion]] = {}
    held: dict[str, list[Portion]] = {}
    adjustments: dict[str, list[LimitAdjustment]] = {}
    for code, group in per_contract.items():
        contract = ws.contracts[code]
        eligible = [p for e in group if e.id not in blocked for p in rated[e.id].portions]
        result: CapResult = apply_caps(
            contract, eligible, invoice_store.cap_usage(tx, contract, today), today
        )
        findings.extend(result.findings)
        billable, waiting = hold_whole_entries(result)
        released = _blocked(result.findings, waived, revisions)
        # A waived cap finding lets its entries through; the rest wait behind it.
        portions[code] = billable + [p for p in waiting if p.entry_id not in released]
        held[code] = [p for p in waiting if p.entry_id in released]
        adjustments[code] = list(result.limit_adjustments)
    stage("cap")
    return Prepared(
        ws,
        today,
        {e.id: e for e in entries},
        billed,
        findings,
        portions,
        adjustments,
        held,
        rated,
        seconds,
    )


def _threshold_findings(prep: Prepared, remaining: dict[str, list[Portion]]) -> list[Finding]:
    found = (threshold_finding(prep.ws.contracts[code], p) for code, p in remaining.items())
    return [f for f in found if f is not None]


def draft_due(
    tx: Tx,
    prep: Prepared,
    due: DueInvoice,
    contract: Contract,
    *,
    trigger: str,
    reason: str,
    actor: str,
    audit: AuditLog,
) -> int | None:
    """Write one draft: the invoice, its lines and the marks on its entries, together.
    None when the draft is a growing one that already holds exactly this."""
    entry_ids = {p.entry_id for p in due.portions}
    adjusted = {e: prep.rated[e].adjustments for e in entry_ids if prep.rated[e].adjustments}
    limit = [a for a in prep.adjustments.get(contract.code, []) if set(a.entry_ids) & entry_ids]
    growing = (
        invoice_store.continuous_draft(tx, contract.code) if due.kind == "continuous" else None
    )
    draft = draft_invoice(
        contract,
        portions=due.portions,
        issue_date=prep.today,
        history=invoice_store.history(tx, contract.code, exclude=growing),
        period=due.period,
        milestones=due.milestones,
        limit_adjustments=limit,
        release_retainage=due.kind == "release",
    )
    if growing is not None:
        version = prep.ws.contract_versions.get(contract.code, 1)
        changed = invoice_store.replace_draft(tx, growing, draft, version, audit, adjusted)
        return growing if changed else None
    meta = invoice_store.Meta(
        kind=due.kind,
        trigger=trigger,
        reason=reason,
        actor=actor,
        client=contract.client,
        contract_version=prep.ws.contract_versions.get(contract.code, 1),
    )
    return invoice_store.insert_draft(tx, draft, meta, audit, adjusted)


@dataclass(frozen=True)
class Planned:
    contract: Contract
    due: DueInvoice
    trigger: str
    reason: str


Planner = Callable[[Tx, Prepared], list[Planned]]


def clock_plan(tx: Tx, prep: Prepared) -> list[Planned]:
    """What the clock, milestones, ready projects and thresholds make due today."""
    plan: list[Planned] = []
    for code, contract in sorted(prep.ws.contracts.items()):
        portions = prep.portions.get(code, [])
        due = _due_for(tx, prep, contract, portions)
        plan += [
            Planned(contract, d, "clock", f"{d.kind} invoice due on {prep.today}") for d in due
        ]
        planned = {p.entry_id for d in due for p in d.portions}
        rest = [p for p in portions if p.entry_id not in planned]
        if contract.threshold and contract.threshold.draft and over_threshold(contract, rest):
            plan.append(
                Planned(
                    contract,
                    DueInvoice("threshold", tuple(rest)),
                    "threshold",
                    "unbilled work beyond the contract threshold",
                )
            )
    return plan


def run(
    store: Store,
    *,
    today: dt.date,
    actor: str,
    progress: Progress | None = None,
    planner: Planner = clock_plan,
    action: str = "run",
) -> RunReport:
    """Prepare, sync the exceptions queue, and draft what the planner says is due."""
    with bulk_work(), store.transaction() as tx:
        authorize(tx, actor, action)
        audit = AuditLog(tx, actor)
        prep = prepare(tx, today, progress)
        clock = time.perf_counter()
        plan = planner(tx, prep)
        # The threshold is judged on what the other invoices leave unbilled.
        planned = {
            p.entry_id for item in plan if item.due.kind != "threshold" for p in item.due.portions
        }
        remaining = {
            code: [p for p in portions if p.entry_id not in planned]
            for code, portions in prep.portions.items()
        }
        findings = prep.findings + _threshold_findings(prep, remaining)
        revisions = {e.id: e.revision for e in prep.entries.values()}
        synced = exception_store.sync(tx, findings, revisions, audit)
        written = [
            draft_due(
                tx,
                prep,
                item.due,
                item.contract,
                trigger=item.trigger,
                reason=item.reason,
                actor=actor,
                audit=audit,
            )
            for item in plan
        ]
        drafted = [invoice_id for invoice_id in written if invoice_id is not None]
        prep.seconds["draft"] = round(time.perf_counter() - clock, 3)
        if progress:
            progress("draft")
        counts: dict[str, int] = defaultdict(int)
        for f in findings:
            counts[f.code] += 1
        audit.record(
            "pipeline.run",
            "workspace",
            None,
            {
                "today": today,
                "entries": len(prep.entries),
                "drafted": drafted,
                "opened": synced.opened,
                "resolved": synced.resolved,
            },
        )
        return RunReport(len(prep.entries), dict(counts), synced, drafted, prep.seconds)


def _due_for(
    tx: Tx, prep: Prepared, contract: Contract, portions: list[Portion]
) -> list[DueInvoice]:
    ready = {
        code
        for code, p in prep.ws.projects.items()
        if p.contract == contract.code and p.status is ProjectStatus.READY_FOR_BILLING
    }
    due = due_invoices(
        contract,
        portions,
        today=prep.today,
        ready_projects=ready,
        invoiced_milestones=invoice_store.invoiced_milestones(tx, contract.code),
    )
    return due
