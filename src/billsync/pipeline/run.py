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
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
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
from billsync.domain.mapping import Codes, MappingContext, mapped_codes
from billsync.domain.rated import Adjustment, Portion, RatedEntry
from billsync.domain.rating import PersonInfo, rate_entries, select_rate
from billsync.domain.validation import ValidationContext, finding_order, validate
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
BATCH = 25_000  # entries checked and rated at a time: a batch is its own peak of memory
STAGES = ("load", "map", "validate", "rate", "cap")  # of prepare


@dataclass
class Prepared:
    """A contract-by-contract view of what can be billed now."""

    ws: Workspace
    today: dt.date
    count: int  # current entries
    billed: dict[int, int]
    findings: list[Finding]
    portions: dict[str, list[Portion]]  # contract -> billable, not blocked, not billed
    adjustments: dict[str, list[LimitAdjustment]]
    held: dict[str, list[Portion]]
    # Entry id -> revision, for every entry a finding names (their fingerprints).
    revisions: dict[int, int]
    # Entry id -> how its billable time differs from worked time, for entries in portions.
    written: dict[int, tuple[Adjustment, ...]]
    # Every entry and what rating made of it: kept only when asked (reports want them;
    # a run does without, and holds a batch's entries only while it rates them).
    entries: dict[int, TimeEntry] = field(default_factory=dict)
    rated: dict[int, RatedEntry] = field(default_factory=dict)
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


Moved = dict[int, tuple[str, str]]  # entry id -> (project, task) finance moved it to


def _said(entry_id: int, ref: SourceRef, moved: Moved) -> SourceRef:
    """What mapping starts from: a transfer by finance stands in for what the source said."""
    if entry_id not in moved:
        return ref
    return SourceRef(ref.person, *moved[entry_id], ref.client)


def _map_all(tx: Tx, context: MappingContext, moved: Moved) -> dict[str, array[int]]:
    """Map the entries whose codes may be stale (new or changed since, the mapping
    inputs changed, moved by finance), store their codes, and group every entry's id
    by person. Entries are read and written in id order, so each page of the table is
    visited once (batch by batch, their ids are all over it)."""
    fingerprint = context.fingerprint()
    changed, which = array("q"), array("I")  # what to store, and which codes: compact
    kinds: dict[Codes, int] = {}
    for entry_id, source, ref, day in entry_store.to_map(tx, fingerprint):
        codes = mapped_codes(context, source, _said(entry_id, ref, moved), day)
        changed.append(entry_id)
        which.append(kinds.setdefault(codes, len(kinds)))
    distinct = list(kinds)
    entry_store.save_mapping(
        tx, ((i, distinct[k]) for i, k in zip(changed, which, strict=True)), fingerprint
    )
    people: dict[str, array[int]] = defaultdict(lambda: array("q"))
    for entry_id, person in entry_store.people_of_entries(tx):
        people[person].append(entry_id)
    return people


def _batches(people: dict[str, array[int]]) -> Iterator[list[int]]:
    """Entry ids in batches of whole people, about BATCH entries each. Every rule across
    entries (overlaps, a person's day and week, the same work from two sources) is one
    person's, so a batch is checked and rated on its own."""
    batch: list[int] = []
    for person in sorted(people):
        ids = people.pop(person)
        # Entries of no known person meet no rule across entries: they split freely.
        pieces = [ids] if person else [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
        for piece in pieces:
            if batch and len(batch) + len(piece) > BATCH:
                yield batch
                batch = []
            batch.extend(piece)
    if batch:
        yield batch


def _as_mapped(ws: Workspace, moved: Moved, loaded: list[TimeEntry]) -> list[TimeEntry]:
    """Loaded entries (mapped already) as mapping saw them, non-billable tasks applied."""
    return [
        billable_on_task(
            e if e.id not in moved else replace(e, ref=_said(e.id, e.ref, moved)),
            ws.projects.get(e.project),
        )
        for e in loaded
    ]


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


class _Stages:
    """Seconds per stage, summed over the batches."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)  # in this order, whichever runs first
        self.clock = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] += now - self.clock
        self.clock = now


@dataclass
class _Rater:
    """Rates one batch of entries after another, contract by contract, keeping what the
    caps and the drafts need: the unblocked portions, the revisions findings name and
    the adjustments of the entries in portions."""

    ws: Workspace
    by_project: dict[str, Contract]
    billed: dict[int, int]
    waived: set[str]
    findings: list[Finding] = field(default_factory=list)  # validation's, batch by batch
    first: dict[str, int] = field(default_factory=dict)  # contract -> its first entry id
    # Rating's findings by contract, with the entry each is about.
    rating: dict[str, list[tuple[int, Finding]]] = field(default_factory=dict)
    eligible: dict[str, list[Portion]] = field(default_factory=dict)
    revisions: dict[int, int] = field(default_factory=dict)
    written: dict[int, tuple[Adjustment, ...]] = field(default_factory=dict)
    info: dict[str, PersonInfo] = field(init=False)

    def __post_init__(self) -> None:
        self.info = people_info(self.ws)

    def rate(self, entries: list[TimeEntry], checked: list[Finding]) -> dict[int, RatedEntry]:
        """Rate a batch whose validation found `checked`; returns what rating made of it."""
        billed = self.billed
        per_contract: dict[str, list[TimeEntry]] = defaultdict(list)
        invoiced: dict[str, list[TimeEntry]] = defaultdict(list)
        for e in entries:
            contract = self.by_project.get(e.project)
            if contract is None or e.deleted or e.state is not EntryState.ACTIVE:
                continue
            (invoiced if e.id in billed else per_contract)[contract.code].append(e)
        rated: dict[int, RatedEntry] = {}
        found = list(checked)
        for code, group in per_contract.items():
            self.first[code] = min(self.first.get(code, group[0].id), group[0].id)
            context = overtime_context(invoiced.get(code, []), group)
            rating = self.rating.setdefault(code, [])
            for r in rate_entries(
                group + context, self.ws.contracts[code], self.info, {e.id for e in context}
            ):
                if r.entry.id not in billed:
                    rated[r.entry.id] = r
                    if r.findings:
                        rating += [(r.entry.id, f) for f in r.findings]
                        found += r.findings
        revisions = {e.id: e.revision for e in entries}
        self.revisions.update((i, revisions[i]) for f in found for i in f.entry_ids)
        blocked = _blocked(found, self.waived, revisions)
        for code, group in per_contract.items():
            eligible = self.eligible.setdefault(code, [])
            for e in group:
                if e.id not in blocked and (r := rated[e.id]).portions:
                    eligible += r.portions
                    if r.adjustments:
                        self.written[e.id] = r.adjustments
        self.findings += checked
        return rated

    def contracts(self) -> list[str]:
        """Contracts with unbilled work, in the order of their first entry."""
        return sorted(self.first, key=self.first.__getitem__)

    def rating_findings(self) -> list[Finding]:
        """Rating's findings, contract by contract and entry by entry."""
        return [
            f
            for code in self.contracts()
            for _, f in sorted(self.rating[code], key=lambda found: found[0])
        ]


def prepare(
    tx: Tx, today: dt.date, progress: Progress | None = None, *, keep_entries: bool = True
) -> Prepared:
    """Map, validate and rate the entries batch by batch, then cap each contract's work.
    With `keep_entries`, every entry and its rating are kept in the result."""
    stages = _Stages()
    ws = load_workspace(tx)
    by_project = contracts_by_project(ws)
    billed = invoice_store.billed_revisions(tx, growing=False)
    waived = {r["fingerprint"] for r in exception_store.listing(tx, status="waived")}
    locked = (
        tx.conn.execute(workspaces.select().where(workspaces.c.id == tx.workspace_id))
        .one()
        .locked_until
    )
    checks = ValidationContext(
        today=today,
        contracts_by_project=by_project,
        projects=ws.projects,
        locked_until=locked,
        billed=billed,
        rate_lookup=_rate_lookup(ws, by_project),
    )
    context = ws.mapping()
    moved = entry_store.transfers(tx)
    rater = _Rater(ws, by_project, billed, waived)
    kept: dict[int, TimeEntry] = {}
    kept_rated: dict[int, RatedEntry] = {}
    count = 0
    people = _map_all(tx, context, moved)
    stages.done("map")
    for ids in _batches(people):
        loaded = list(entry_store.load_entries(tx, ids))
        count += len(loaded)
        entries = _as_mapped(ws, moved, loaded)
        del loaded  # one copy of a batch in memory
        stages.done("load")
        checked = validate(entries, checks)
        stages.done("validate")
        rated = rater.rate(entries, checked)
        if keep_entries:
            kept.update((e.id, e) for e in entries)
            kept_rated.update(rated)
        stages.done("rate")
    for name in STAGES[:-1]:
        if progress:
            progress(name)
    findings = sorted(rater.findings, key=finding_order) + rater.rating_findings()
    portions: dict[str, list[Portion]] = {}
    held: dict[str, list[Portion]] = {}
    adjustments: dict[str, list[LimitAdjustment]] = {}
    for code in rater.contracts():
        contract = ws.contracts[code]
        eligible = rater.eligible.pop(code, [])
        result: CapResult = apply_caps(
            contract, eligible, invoice_store.cap_usage(tx, contract, today), today
        )
        findings.extend(result.findings)
        named_ids = {i for f in result.findings for i in f.entry_ids}
        named = {p.entry_id: p.revision for p in eligible if p.entry_id in named_ids}
        del eligible
        rater.revisions.update(named)
        billable, waiting = hold_whole_entries(result)
        released = _blocked(result.findings, waived, named)
        # A waived cap finding lets its entries through; the rest wait behind it.
        portions[code] = billable + [p for p in waiting if p.entry_id not in released]
        held[code] = [p for p in waiting if p.entry_id in released]
        adjustments[code] = list(result.limit_adjustments)
    stages.done("cap")
    if progress:
        progress("cap")
    return Prepared(
        ws,
        today,
        count,
        billed,
        findings,
        portions,
        adjustments,
        held,
        rater.revisions,
        rater.written,
        kept,
        kept_rated,
        {name: round(spent, 3) for name, spent in stages.seconds.items()},
    )


def _threshold_findings(prep: Prepared, plan: list[Planned]) -> list[Finding]:
    """A threshold is judged on what the contract's other invoices leave unbilled
    (what it takes to know that is gone again before the drafts are written)."""
    found = []
    for code, portions in prep.portions.items():
        contract = prep.ws.contracts[code]
        if contract.threshold is None:
            continue  # nothing to judge: no set of what is planned for it
        planned = {
            p.entry_id
            for item in plan
            if item.contract.code == code and item.due.kind != "threshold"
            for p in item.due.portions
        }
        finding = threshold_finding(contract, [p for p in portions if p.entry_id not in planned])
        if finding is not None:
            found.append(finding)
    return found


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
    limits = prep.adjustments.get(contract.code, [])
    # The entries limit adjustments name are few; the due ones may be a million.
    named = {i for a in limits for i in a.entry_ids}
    present = {p.entry_id for p in due.portions if p.entry_id in named}
    limit = [a for a in limits if not present.isdisjoint(a.entry_ids)]
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
        changed = invoice_store.replace_draft(tx, growing, draft, version, audit, prep.written)
        return growing if changed else None
    meta = invoice_store.Meta(
        kind=due.kind,
        trigger=trigger,
        reason=reason,
        actor=actor,
        client=contract.client,
        contract_version=prep.ws.contract_versions.get(contract.code, 1),
    )
    return invoice_store.insert_draft(tx, draft, meta, audit, prep.written)


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
        prep = prepare(tx, today, progress, keep_entries=False)
        clock = time.perf_counter()
        plan = planner(tx, prep)
        findings = prep.findings + _threshold_findings(prep, plan)
        synced = exception_store.sync(tx, findings, prep.revisions, audit)
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
                "entries": prep.count,
                "drafted": drafted,
                "opened": synced.opened,
                "resolved": synced.resolved,
            },
        )
        return RunReport(prep.count, dict(counts), synced, drafted, prep.seconds)


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
