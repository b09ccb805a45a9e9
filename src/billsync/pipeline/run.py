"""The pipeline: map, validate, rate, cap, raise exceptions, draft what is due.

One run is one transaction, so it is all or nothing, and running it again with nothing
new changes nothing: mapping finds the same codes, findings have the same fingerprints,
and entries already on a live invoice are never drafted again.

    prepare()  -> everything up to the billable portions of each contract
    run()      -> prepare, then contract by contract: its caps, and the invoices the
                  clock, milestones and thresholds make due (one contract's portions
                  held at a time); then the exceptions queue
    triggers/ (manual, project status) -> run() with a planner of their own
"""

from __future__ import annotations

import datetime as dt
import time
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from operator import attrgetter

from billsync.domain.billing import (
    DueInvoice,
    due_invoices,
    hold_whole_entries,
    over_threshold,
    threshold_finding,
)
from billsync.domain.caps import CapResult, LimitAdjustment, apply_caps
from billsync.domain.contracts import Contract
from billsync.domain.entries import TimeEntry
from billsync.domain.findings import Finding
from billsync.domain.invoicing import draft_invoice
from billsync.domain.mapping import Codes, MappingContext, mapped_codes
from billsync.domain.rated import Portion, RatedEntry
from billsync.domain.validation import finding_order, validate
from billsync.domain.workspace import ProjectStatus
from billsync.store import entries as entry_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx, export_snapshot

from .batches import (
    BATCH,
    SECOND_PROCESS_FROM,
    Batch,
    Moved,
    Setting,
    Totals,
    batches,
    blocked,
    load,
    rate_batch,
    rated_elsewhere,
    said,
)
from .collector import bulk_work
from .second_process import Shared, sharing_with_second_process
from .workspace import Workspace

Progress = Callable[[str], None]
People = dict[str, "array[int]"]  # person code -> the ids of their entries
STAGES = ("load", "map", "validate", "rate", "cap")  # of prepare
AHEAD = 2  # batches the second process holds: the one it rates and the next


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
    # Every entry and what rating made of it: kept only when asked (reports want them;
    # a run does without, and holds a batch's entries only while it rates them).
    entries: dict[int, TimeEntry] = field(default_factory=dict)
    rated: dict[int, RatedEntry] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # The contracts' eligible portions as columns, until each is capped (`cap`).
    uncapped: Totals = field(default_factory=Totals)
    waived: set[str] = field(default_factory=set)
    forgotten: set[str] = field(default_factory=set)

    def cap(self, tx: Tx, code: str) -> list[Portion]:
        """A contract's billable portions, its caps applied (once): its held work and
        limit adjustments are then here too, and its cap findings among `findings`."""
        if code in self.forgotten:
            raise RuntimeError(f"contract {code}: its portions were let go")
        if code in self.portions or code not in self.uncapped.first:
            return self.portions.get(code, [])  # capped, or no unbilled work
        contract = self.ws.contracts[code]
        held_back = self.uncapped.eligible.pop(code, None)
        eligible = held_back.portions() if held_back is not None else []
        del held_back
        result: CapResult = apply_caps(
            contract, eligible, invoice_store.cap_usage(tx, contract, self.today), self.today
        )
        self.findings.extend(result.findings)
        named_ids = {i for f in result.findings for i in f.entry_ids}
        # A pass over every portion, for the few that findings name (mostly none).
        named = (
            {p.entry_id: p.revision for p in eligible if p.entry_id in named_ids}
            if named_ids
            else {}
        )
        del eligible
        self.revisions.update(named)
        billable, waiting = hold_whole_entries(result)
        released = blocked(result.findings, self.waived, named)
        # A waived cap finding lets its entries through; the rest wait behind it.
        self.portions[code] = billable + [p for p in waiting if p.entry_id not in released]
        self.held[code] = [p for p in waiting if p.entry_id in released]
        self.adjustments[code] = list(result.limit_adjustments)
        return self.portions[code]

    def forget(self, code: str) -> None:
        """Let go of a contract's portions: a run drafts contract after contract and
        holds one contract's at a time (a million portions take 150 MB)."""
        for held in (self.portions, self.held, self.adjustments):
            held.pop(code, None)
        self.forgotten.add(code)


@dataclass
class RunReport:
    entries: int
    findings: dict[str, int]
    exceptions: exception_store.SyncCounts
    drafted: list[int]
    seconds: dict[str, float]


def _map_all(tx: Tx, context: MappingContext, moved: Moved) -> tuple[People, Remapped]:
    """Map the entries whose codes may be stale (new or changed since, the mapping
    inputs changed, moved by finance), store their codes, and group every entry's id
    by person. Entries are read and written in id order, so each page of the table is
    visited once (batch by batch, their ids are all over it). Also the codes stored,
    for a second process, which does not see them."""
    fingerprint = context.fingerprint()
    changed, which = array("q"), array("I")  # what to store, and which codes: compact
    kinds: dict[Codes, int] = {}
    people, to_map = entry_store.people_of_entries(tx, fingerprint)
    if not to_map:  # mostly so: import and sync map what they store
        return people, Remapped(changed, which, [])
    for entry_id, source, ref, day in entry_store.to_map(tx, fingerprint):
        codes = mapped_codes(context, source, said(entry_id, ref, moved), day)
        changed.append(entry_id)
        which.append(kinds.setdefault(codes, len(kinds)))
    distinct = list(kinds)
    entry_store.save_mapping(
        tx, ((i, distinct[k]) for i, k in zip(changed, which, strict=True)), fingerprint
    )
    people, _ = entry_store.people_of_entries(tx, fingerprint)  # their codes may be new
    return people, Remapped(changed, which, distinct)


@dataclass
class Remapped:
    """The codes a run's mapping stored: entry ids in order, and which codes each got."""

    ids: array[int]
    which: array[int]
    distinct: list[Codes]

    def of(self, batch: array[int]) -> dict[int, Codes]:
        """Those of a batch's entries (found by bisection: the ids may be a million)."""
        ids, out = self.ids, {}
        for entry_id in batch if ids else ():
            at = bisect_left(ids, entry_id)
            if at < len(ids) and ids[at] == entry_id:
                out[entry_id] = self.distinct[self.which[at]]
        return out


class _Stages:
    """Seconds per stage, summed over the batches."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)  # in this order, whichever runs first
        self.clock = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.clock
        self.clock = now


@contextmanager
def _second_process(tx: Tx, today: dt.date) -> Iterator[Shared[tuple[int, Batch]]]:
    """A second process that checks and rates the batches it is given."""
    url = tx.conn.engine.url.render_as_string(hide_password=False)
    with sharing_with_second_process(
        rated_elsewhere, url, tx.workspace_id, export_snapshot(tx), today
    ) as shared:
        yield shared


def prepare(
    tx: Tx,
    today: dt.date,
    progress: Progress | None = None,
    *,
    keep_entries: bool = True,
    batch_size: int = BATCH,
    second_process_from: int = SECOND_PROCESS_FROM,
    capped: bool = True,
) -> Prepared:
    """Map, validate and rate the entries batch by batch, then cap each contract's work.
    With `keep_entries`, every entry and its rating are kept in the result (in this
    process); without, from `second_process_from` entries a second process rates
    batches too, each going to whichever process is free. Without `capped`, each
    contract is capped when `Prepared.cap` asks for it."""
    stages = _Stages()
    # The second process starts first: its start and its own read of the setting
    # overlap this process's, and mapping's.
    apart = (
        not keep_entries
        and entry_store.has_entries(tx, at_least=second_process_from)
        and tx.conn.engine.url.database not in (None, "", ":memory:")  # another can open it
    )
    with _second_process(tx, today) if apart else nullcontext(None) as there:
        setting = Setting.read(tx, today)
        ws = setting.ws
        people, remapped = _map_all(tx, ws.mapping(), setting.moved)
        work = list(batches(people, batch_size))
        stages.done("map")
        done: dict[int, Batch] = {}  # rated, waiting for the batches before them to be added
        unclaimed = iter(range(len(work)))
        totals = Totals()
        kept: dict[int, TimeEntry] = {}
        kept_rated: dict[int, RatedEntry] = {}
        lent = 0  # batches the second process has been given and has not answered
        for index in unclaimed:
            if there is not None:
                for theirs, batch in there.made():
                    done[theirs] = batch
                    lent -= 1
                # It holds the next while it rates one: it never waits for this process.
                while lent < AHEAD and (given := next(unclaimed, None)) is not None:
                    there.give((given, work[given], remapped.of(work[given])))
                    lent += 1
                stages.done("wait")
            entries = load(tx, setting, work[index], {})
            stages.done("load")
            checked = validate(entries, setting.checks)
            stages.done("validate")
            done[index], rated = rate_batch(setting, entries, checked)
            if keep_entries:
                kept.update((e.id, e) for e in entries)
                kept_rated.update(rated)
            totals.add_in_order(done)
            stages.done("rate")
        if there is not None:
            done.update(there.rest())
            stages.done("wait")
    totals.add_in_order(done)
    for name in STAGES[:-1]:
        if progress:
            progress(name)
    prep = Prepared(
        ws,
        today,
        totals.count,
        setting.billed,
        sorted(totals.findings, key=finding_order) + totals.rating_findings(),
        {},
        {},
        {},
        totals.revisions,
        kept,
        kept_rated,
        uncapped=totals,
        waived=setting.waived,
    )
    if capped:
        for code in totals.contracts():
            prep.cap(tx, code)
        stages.done("cap")
        if progress:
            progress("cap")
    prep.seconds = {name: round(spent, 3) for name, spent in stages.seconds.items()}
    return prep


def _threshold_finding(
    contract: Contract, portions: list[Portion], plan: list[Planned]
) -> Finding | None:
    """A threshold is judged on what the contract's other invoices leave unbilled."""
    if contract.threshold is None:
        return None  # nothing to judge: no set of what is planned for it
    return threshold_finding(contract, _unplanned(portions, plan))


def _unplanned(portions: list[Portion], plan: list[Planned]) -> list[Portion]:
    """The portions that the plan's invoices, a threshold's aside, leave unbilled."""
    planned = {
        p.entry_id for item in plan if item.due.kind != "threshold" for p in item.due.portions
    }
    return [p for p in portions if p.entry_id not in planned]


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
    # Limit adjustments name few entries (mostly none); the due ones may be a million.
    named = {i for a in limits for i in a.entry_ids}
    present = named.intersection(map(_entry_id, due.portions)) if named else named
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
        changed = invoice_store.replace_draft(tx, growing, draft, version, audit)
        return growing if changed else None
    meta = invoice_store.Meta(
        kind=due.kind,
        trigger=trigger,
        reason=reason,
        actor=actor,
        client=contract.client,
        contract_version=prep.ws.contract_versions.get(contract.code, 1),
    )
    return invoice_store.insert_draft(tx, draft, meta, audit)


_entry_id = attrgetter("entry_id")


@dataclass(frozen=True)
class Planned:
    contract: Contract
    due: DueInvoice
    trigger: str
    reason: str


# What is due of one contract, its caps applied (`Prepared.cap`); called for each
# contract in turn, in the order of their codes.
Planner = Callable[[Tx, Prepared, Contract], list[Planned]]


def clock_plan(tx: Tx, prep: Prepared, contract: Contract) -> list[Planned]:
    """What the clock, milestones, ready projects and thresholds make due today."""
    portions = prep.cap(tx, contract.code)
    due = _due_for(tx, prep, contract, portions)
    plan = [Planned(contract, d, "clock", f"{d.kind} invoice due on {prep.today}") for d in due]
    if not (contract.threshold and contract.threshold.draft):
        return plan  # what the due invoices leave is not looked at: two passes saved
    rest = _unplanned(portions, plan)
    if over_threshold(contract, rest):
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
    batch_size: int = BATCH,
    second_process_from: int = SECOND_PROCESS_FROM,
    first: Callable[[Tx, AuditLog], None] | None = None,
) -> RunReport:
    """Prepare; then, contract by contract, cap its work and draft what the planner
    says is due (so that one contract's portions are held at a time); then sync the
    exceptions queue with everything found. `first` makes a change in the run's
    transaction before it reads anything, so that the change and what it triggers are
    written together or not at all. It must not change what rating reads: a second
    process rates from the last commit. (`batch_size` and `second_process_from`: see
    prepare.)"""
    with bulk_work(), store.transaction(large=True) as tx:
        authorize(tx, actor, action)
        audit = AuditLog(tx, actor)
        if first is not None:
            first(tx, audit)
        prep = prepare(
            tx,
            today,
            progress,
            keep_entries=False,
            batch_size=batch_size,
            second_process_from=second_process_from,
            capped=False,
        )
        thresholds: list[Finding] = []
        drafted: list[int] = []
        clock = time.perf_counter()
        capping = 0.0
        for code, contract in sorted(prep.ws.contracts.items()):
            started = time.perf_counter()
            prep.cap(tx, code)
            capping += time.perf_counter() - started
            ids, found = _draft_contract(tx, prep, contract, planner(tx, prep, contract), audit)
            drafted += ids
            thresholds += [found] if found is not None else []
            prep.forget(code)
        findings = prep.findings + thresholds
        synced = exception_store.sync(tx, findings, prep.revisions, audit)
        prep.seconds["cap"] = round(capping, 3)
        prep.seconds["draft"] = round(time.perf_counter() - clock - capping, 3)
        for name in ("cap", "draft"):
            if progress:
                progress(name)
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


def _draft_contract(
    tx: Tx, prep: Prepared, contract: Contract, plan: list[Planned], audit: AuditLog
) -> tuple[list[int], Finding | None]:
    """Draft a contract's planned invoices: their ids, and its threshold finding."""
    drafted = []
    for item in plan:
        invoice_id = draft_due(
            tx,
            prep,
            item.due,
            contract,
            trigger=item.trigger,
            reason=item.reason,
            actor=audit.actor,
            audit=audit,
        )
        if invoice_id is not None:
            drafted.append(invoice_id)
    return drafted, _threshold_finding(contract, prep.cap(tx, contract.code), plan)


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
