"""Validation: the checks a mapped entry must pass before it is billed, as findings.

Contract NSY-2026 (from 2026-01-01, at most 16 h a day) covers project P-1001; today is
2026-03-10. Kha records one Monday twice, once in each tool:

    before  entry 412 "A-17" from csv:     kha, P-1001, 2026-03-02, 10 h, submitted
            entry 413 "H-9"  from harvest: kha, P-1001, 2026-03-02, 10 h, approved

    after   entry.duplicate_source  warning   person-day:kha/2026-03-02  (412, 413)
              "kha has 10.00 h on P-1001 on 2026-03-02 in both csv (A-17) and harvest
               (H-9): likely the same work recorded twice. Delete it in one source, ..."
            entry.implausible_day   blocking  person-day:kha/2026-03-02  (412, 413)
              "kha logged 20.00 h on 2026-03-02 in 2 entries (A-17 from csv, H-9 from
               harvest), more than the 16 h a day contract NSY-2026 accepts: correct ..."
            entry.not_approved      blocking  entry:412
              "Entry A-17 from csv (kha, 2026-03-02) is submitted, not approved: approve
               it in csv or waive this exception."

Each check is a small pure function. Per-entry checks take ``(entry, ctx)`` and return a
finding or None; checks across entries (a person's day, overlapping times, the same work
from two sources) take every live entry. ``validate`` runs them all in single passes
with dict grouping, so a million entries take seconds.

Which entries are checked:

- only the newest revision of each entry id counts;
- entries finance wrote off are never checked (they will never be billed);
- entries deleted at the source are checked only for a change after billing;
- rejected entries are flagged as not approved but left out of the cross-entry checks:
  a rejected duplicate must not block the record that stays.

Findings are sorted by code, subject and entry ids, so the result does not depend on
the order the entries arrive in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from .canonical import zone as _zone
from .contracts import Contract
from .entries import Approval, EntryState, TimeEntry
from .findings import Finding, Severity
from .money import HOUR_SECONDS, hours, quantity
from .workspace import Phase, Project, Task

__all__ = [
    "DEFAULT_MAX_DAILY_HOURS",
    "ENTRY_CHECKS",
    "GROUP_CHECKS",
    "RateLookup",
    "ValidationContext",
    "check_billable",
    "check_changed_after_billing",
    "check_contract_dates",
    "check_duplicate_sources",
    "check_future",
    "check_implausible_days",
    "check_locked_period",
    "check_not_approved",
    "check_overlaps",
    "check_phase_dates",
    "check_rate",
    "check_unmapped",
    "finding_order",
    "validate",
]

RateLookup = Callable[[TimeEntry], Decimal | None]
# A day with no contract to say otherwise; the same default as Contract.max_daily_hours.
DEFAULT_MAX_DAILY_HOURS = Decimal(16)
_ONE_SECOND = timedelta(seconds=1)
_PERCENT_EXPONENT = Decimal("0.1")
# Enum members bound once: looking one up on its class costs more than a global name,
# and every entry asks.
_APPROVED, _REJECTED = Approval.APPROVED, Approval.REJECTED
_WRITTEN_OFF = EntryState.WRITTEN_OFF


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What the checks read besides the entries; built once per run."""

    today: date
    contracts_by_project: Mapping[str, Contract]
    projects: Mapping[str, Project]
    locked_until: date | None = None  # entries on or before this date are in a locked period
    billed: Mapping[int, int] = field(default_factory=dict)  # entry id -> revision invoiced
    # The contract's rate for an entry (rating's select_rate, adapted by the caller);
    # None skips the rate check.
    rate_lookup: RateLookup | None = None

    def contract_of(self, entry: TimeEntry) -> Contract | None:
        return self.contracts_by_project.get(entry.project)

    def task_of(self, entry: TimeEntry) -> Task | None:
        project = self.projects.get(entry.project)
        return None if project is None else project.task(entry.task)

    def phase_of(self, entry: TimeEntry) -> Phase | None:
        project = self.projects.get(entry.project)
        return None if project is None else project.phase(entry.phase)


# -- how findings talk about entries -----------------------------------------------------


@lru_cache(maxsize=4096)
def _hours(seconds: int) -> Decimal:
    """Hours as findings print them; durations repeat, and Decimal division is not free."""
    return quantity(hours(seconds))


def _entry_text(entry: TimeEntry) -> str:
    """'Entry A-17 from csv (kha, 2026-03-02)': what a person needs to find it."""
    person = entry.person or entry.ref.person or "no person"
    return f"Entry {entry.external_id} from {entry.source} ({person}, {entry.work_date})"


def _ids_text(entries: Iterable[TimeEntry]) -> str:
    return ", ".join(f"{e.external_id} from {e.source}" for e in entries)


def _dates_text(start: date | None, end: date | None) -> str:
    return f"{start or 'open start'} to {end or 'open end'}"


def _entry_details(entry: TimeEntry, **extra: str) -> dict[str, str]:
    return {
        "source": entry.source,
        "external_id": entry.external_id,
        "person": entry.person or entry.ref.person,
        "project": entry.project or entry.ref.project,
        "date": entry.work_date.isoformat(),
        **extra,
    }


def _entry_finding(
    code: str,
    severity: Severity,
    entry: TimeEntry,
    message: str,
    *,
    contract: Contract | None = None,
    **details: str,
) -> Finding:
    return Finding(
        code=code,
        severity=severity,
        subject=f"entry:{entry.id}",
        message=message,
        entry_ids=(entry.id,),
        contract=contract.code if contract else "",
        hours=_hours(entry.duration_seconds),
        details=_entry_details(entry, **details),
    )


# -- one entry at a time -----------------------------------------------------------------


def check_unmapped(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.unmapped: no person or no project after mapping."""
    if entry.mapped:
        return None
    ref = entry.ref
    said = {"person": ref.person, "project": ref.project}
    missing = [name for name in said if not getattr(entry, name)]
    named = [
        f'{name} (the source calls it "{said[name]}")' if said[name] else f"{name} (none given)"
        for name in missing
    ]
    message = (
        f"{_entry_text(entry)} has no {' and no '.join(named)}: add a mapping rule for it, "
        f"or add the code to the workspace, and the next run will pick it up."
    )
    return _entry_finding(
        "entry.unmapped",
        Severity.BLOCKING,
        entry,
        message,
        source_person=ref.person,
        source_project=ref.project,
        source_task=ref.task,
    )


def check_not_approved(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.not_approved: only approved time is billed."""
    if entry.approval is _APPROVED:
        return None
    message = (
        f"{_entry_text(entry)} is {entry.approval}, not approved: approve it in "
        f"{entry.source} or waive this exception."
    )
    return _entry_finding(
        "entry.not_approved",
        Severity.BLOCKING,
        entry,
        message,
        contract=ctx.contract_of(entry),
        approval=str(entry.approval),
    )


def check_contract_dates(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.no_contract when the project has none; entry.outside_contract when the
    work date lies outside the contract's start and end."""
    if not entry.project:
        return None  # unmapped: check_unmapped says what to do
    contract = ctx.contract_of(entry)
    if contract is None:
        message = (
            f"{_entry_text(entry)} is on project {entry.project}, which has no contract: "
            f"link the project to a contract, or remap the entry."
        )
        return _entry_finding("entry.no_contract", Severity.BLOCKING, entry, message)
    if contract.covers(entry.work_date):
        return None
    message = (
        f"{_entry_text(entry)} falls outside contract {contract.code} "
        f"({_dates_text(contract.start, contract.end)}): correct the date in {entry.source}, "
        f"extend the contract, or write the entry off."
    )
    return _entry_finding(
        "entry.outside_contract", Severity.BLOCKING, entry, message, contract=contract
    )


def check_phase_dates(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.outside_phase: the entry's phase does not cover its work date (a phase the
    project does not have covers no date)."""
    if not entry.phase or entry.project not in ctx.projects:
        return None
    phase = ctx.phase_of(entry)
    if phase is not None and phase.covers(entry.work_date):
        return None
    if phase is None:
        why = f"project {entry.project} has no phase {entry.phase}"
    else:
        why = f"phase {phase.code} of {entry.project} runs {_dates_text(phase.start, phase.end)}"
    message = (
        f"{_entry_text(entry)} is booked to phase {entry.phase}, but {why}: correct the "
        f"date or the phase mapping, or change the phase dates."
    )
    return _entry_finding(
        "entry.outside_phase",
        Severity.BLOCKING,
        entry,
        message,
        contract=ctx.contract_of(entry),
        phase=entry.phase,
    )


def check_billable(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.non_billable_task: the project's task or the source says not billable.
    The task is named first: it is the more specific reason, and callers may already
    have cleared ``billable`` because of it."""
    task = ctx.task_of(entry)
    if task is not None and not task.billable:
        why = f"is on task {task.code}, which project {entry.project} marks non-billable"
        act = "write it off, or remap it to a billable task if the client should pay"
    elif not entry.billable:
        why = f"is marked non-billable in {entry.source}"
        act = "it stays off invoices; mark it billable at the source if the client should pay"
    else:
        return None
    return _entry_finding(
        "entry.non_billable_task",
        Severity.WARNING,
        entry,
        f"{_entry_text(entry)} {why}: {act}.",
        contract=ctx.contract_of(entry),
        task=entry.task,
    )


def check_future(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.future: work cannot be billed before the day it is done."""
    if entry.work_date <= ctx.today:
        return None
    message = (
        f"{_entry_text(entry)} is dated after today ({ctx.today}): correct the date in "
        f"{entry.source}; future time is not billed."
    )
    return _entry_finding(
        "entry.future", Severity.BLOCKING, entry, message, contract=ctx.contract_of(entry)
    )


def check_locked_period(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.locked_period: an unbilled entry dated in a period already closed."""
    if ctx.locked_until is None or entry.work_date > ctx.locked_until or entry.id in ctx.billed:
        return None
    message = (
        f"{_entry_text(entry)} falls in a locked period (closed up to {ctx.locked_until}) "
        f"and is on no invoice: bill it on the next invoice as late time, reopen the "
        f"period, or write it off."
    )
    return _entry_finding(
        "entry.locked_period",
        Severity.BLOCKING,
        entry,
        message,
        contract=ctx.contract_of(entry),
        locked_until=ctx.locked_until.isoformat(),
    )


def check_changed_after_billing(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.changed_after_billing: a newer revision, or a deletion, of invoiced time.
    The invoice stays as it was; the difference is billed by an adjustment."""
    billed_revision = ctx.billed.get(entry.id)
    if billed_revision is None or not (entry.deleted or entry.revision > billed_revision):
        return None
    if entry.deleted:
        change = f"was deleted in {entry.source} after revision {billed_revision} was invoiced"
        act = "issue a credit note for it, or add a negative adjustment line to the next invoice"
    else:
        change = (
            f"changed in {entry.source} (now revision {entry.revision}) after revision "
            f"{billed_revision} was invoiced"
        )
        act = (
            "add an adjustment line for the difference to the next invoice, or issue a "
            "credit note and bill the new revision"
        )
    return _entry_finding(
        "entry.changed_after_billing",
        Severity.BLOCKING,
        entry,
        f"{_entry_text(entry)} {change}: the invoice stays as it is; {act}.",
        contract=ctx.contract_of(entry),
        billed_revision=str(billed_revision),
        revision=str(entry.revision),
        deleted=str(entry.deleted).lower(),
    )


def check_rate(entry: TimeEntry, ctx: ValidationContext) -> Finding | None:
    """entry.rate_mismatch: the source's rate is further from the contract's than the
    contract's tolerance (percent of the contract rate)."""
    if entry.source_rate is None or ctx.rate_lookup is None or not entry.mapped:
        return None
    contract = ctx.contract_of(entry)
    if contract is None:
        return None
    rate = ctx.rate_lookup(entry)
    if rate is None or rate == entry.source_rate:
        return None  # no rate at all is rating's rate.missing
    difference = abs(entry.source_rate - rate)
    if difference * 100 <= contract.rate_tolerance * rate:
        return None
    apart = (
        f"{(difference * 100 / rate).quantize(_PERCENT_EXPONENT)}% apart"
        if rate
        else "the contract rate is zero"
    )
    message = (
        f"{_entry_text(entry)} carries rate {entry.source_rate} from {entry.source}, but "
        f"contract {contract.code} rates it {rate} {contract.currency} ({apart}, tolerance "
        f"{contract.rate_tolerance}%): invoices use the contract rate; correct the rate in "
        f"{entry.source} or the contract's rate card."
    )
    return _entry_finding(
        "entry.rate_mismatch",
        Severity.WARNING,
        entry,
        message,
        contract=contract,
        source_rate=str(entry.source_rate),
        contract_rate=str(rate),
    )


# -- across entries ----------------------------------------------------------------------


_DayKey = tuple[str, date]  # person, local work day


def check_implausible_days(entries: Sequence[TimeEntry], ctx: ValidationContext) -> list[Finding]:
    """entry.implausible_day: one person's entries of one local day add up to more than
    the strictest ``max_daily_hours`` among the contracts they are on (16 h without one)."""
    seconds: dict[_DayKey, int] = defaultdict(int)
    for entry in entries:
        if entry.person:
            seconds[entry.person, entry.work_date] += entry.duration_seconds
    # Only a day above the lowest limit anywhere can be implausible; a clean run stops here.
    floor = min((c.max_daily_hours for c in ctx.contracts_by_project.values()), default=None)
    floor = DEFAULT_MAX_DAILY_HOURS if floor is None else min(floor, DEFAULT_MAX_DAILY_HOURS)
    candidates = {key for key, total in seconds.items() if total > floor * HOUR_SECONDS}
    if not candidates:
        return []
    days: dict[_DayKey, list[TimeEntry]] = defaultdict(list)
    limits: dict[_DayKey, tuple[Decimal, str]] = {}
    for entry in entries:
        key = (entry.person, entry.work_date)
        if key not in candidates:
            continue
        days[key].append(entry)
        contract = ctx.contract_of(entry)
        if contract is not None:
            limit = (contract.max_daily_hours, contract.code)
            if key not in limits or limit < limits[key]:
                limits[key] = limit
    findings = []
    for key, found in days.items():
        max_hours, contract_code = limits.get(key, (DEFAULT_MAX_DAILY_HOURS, ""))
        if seconds[key] > max_hours * HOUR_SECONDS:
            findings.append(_implausible_day(key, seconds[key], max_hours, contract_code, found))
    return findings


def _implausible_day(
    key: _DayKey, total: int, max_hours: Decimal, contract: str, entries: list[TimeEntry]
) -> Finding:
    person, day = key
    entries.sort(key=lambda e: (e.source, e.external_id, e.id))
    terms = f"contract {contract} accepts" if contract else "is plausible"
    logged = _hours(total)
    message = (
        f"{person} logged {logged} h on {day} in {len(entries)} entries "
        f"({_ids_text(entries)}), more than the {max_hours} h a day {terms}: correct the "
        f"hours at the source, or waive this exception if the day really was that long."
    )
    return Finding(
        code="entry.implausible_day",
        severity=Severity.BLOCKING,
        subject=f"person-day:{person}/{day}",
        message=message,
        entry_ids=tuple(sorted(e.id for e in entries)),
        contract=contract,
        hours=logged,
        details={"person": person, "date": day.isoformat(), "max_daily_hours": str(max_hours)},
    )


_Span = tuple[datetime, datetime, int, TimeEntry]  # start, end, entry id, entry


def check_overlaps(entries: Sequence[TimeEntry], ctx: ValidationContext) -> list[Finding]:
    """entry.overlap: two entries of one person whose start-end times overlap.

    A sweep per person over entries sorted by start: an entry overlaps an earlier one
    exactly when it starts before the furthest end seen so far, so each entry is
    reported once, against the entry reaching furthest (O(n log n), never pairwise).
    Touching times (one ends as the next starts) do not overlap.
    """
    timed: dict[str, list[TimeEntry]] = defaultdict(list)
    for entry in entries:
        if entry.person and entry.start is not None and entry.end is not None:
            timed[entry.person].append(entry)
    findings: list[Finding] = []
    for person_entries in timed.values():
        # Span tuples live for one person at a time: a million of them kept at once
        # would cost more in garbage collection than the sweep itself.
        spans = sorted(_spans(person_entries))
        if not spans:
            continue
        furthest = spans[0]
        for span in spans[1:]:
            if span[0] < furthest[1]:
                findings.append(_overlap(furthest, span))
            if span[1] > furthest[1]:
                furthest = span
    return findings


def _spans(entries: Iterable[TimeEntry]) -> Iterator[_Span]:
    """Entries with a positive start-end time; ids are unique, so sorting these never
    compares the entries themselves."""
    for entry in entries:
        start, end = entry.start, entry.end
        if start is not None and end is not None and end > start:
            yield (start, end, entry.id, entry)


def _span_text(span: _Span) -> str:
    start, end, _, entry = span
    zone = _zone(entry.timezone)
    if zone is not None:  # as the person saw the clock
        start, end = start.astimezone(zone), end.astimezone(zone)
    # A night shift's end names its day too. (strftime is slow with a zone; isoformat not.)
    same_day = end.date() == start.date()
    until = end.time().isoformat("minutes") if same_day else end.isoformat(timespec="minutes")
    since = start.isoformat(timespec="minutes")
    return f"{entry.external_id} from {entry.source} ({since} to {until})"


def _overlap(earlier: _Span, later: _Span) -> Finding:
    overlap = _hours((min(earlier[1], later[1]) - later[0]) // _ONE_SECOND)
    entry = later[3]
    message = (
        f"{entry.person} has overlapping entries {_span_text(earlier)} and "
        f"{_span_text(later)}, {overlap} h in common: one person cannot do both; correct "
        f"the times at the source or delete the one recorded twice."
    )
    return Finding(
        code="entry.overlap",
        severity=Severity.BLOCKING,
        subject=f"entry:{entry.id}",
        message=message,
        entry_ids=tuple(sorted((earlier[2], later[2]))),
        hours=overlap,
        details=_entry_details(entry, overlaps=f"entry:{earlier[2]}"),
    )


_DuplicateKey = tuple[str, str, date, int]  # person, project, work date, seconds


def check_duplicate_sources(entries: Sequence[TimeEntry], ctx: ValidationContext) -> list[Finding]:
    """entry.duplicate_source: same person, project, day and duration from two
    different sources, most likely the same work recorded twice."""
    # The first pass keeps one source per key, not the entries: most keys are unique.
    first_source: dict[_DuplicateKey, str] = {}
    mixed: set[_DuplicateKey] = set()
    for entry in entries:
        if entry.person and entry.project and entry.duration_seconds > 0:
            key = (entry.person, entry.project, entry.work_date, entry.duration_seconds)
            if first_source.setdefault(key, entry.source) != entry.source:
                mixed.add(key)
    if not mixed:
        return []
    groups: dict[_DuplicateKey, list[TimeEntry]] = defaultdict(list)
    for entry in entries:
        key = (entry.person, entry.project, entry.work_date, entry.duration_seconds)
        if key in mixed:
            groups[key].append(entry)
    return [_duplicate(key, group) for key, group in groups.items()]


def _duplicate(key: _DuplicateKey, group: list[TimeEntry]) -> Finding:
    person, project, day, seconds = key
    group.sort(key=lambda e: (e.source, e.external_id, e.id))
    by_source: dict[str, list[str]] = defaultdict(list)
    for entry in group:
        by_source[entry.source].append(entry.external_id)
    recorded = " and ".join(f"{source} ({', '.join(ids)})" for source, ids in by_source.items())
    worked = _hours(seconds)
    message = (
        f"{person} has {worked} h on {project} on {day} in both {recorded}: likely the "
        f"same work recorded twice. Delete it in one source, or waive this warning if "
        f"both are real."
    )
    return Finding(
        code="entry.duplicate_source",
        severity=Severity.WARNING,
        subject=f"person-day:{person}/{day}",
        message=message,
        entry_ids=tuple(sorted(e.id for e in group)),
        hours=worked,
        details={
            "person": person,
            "project": project,
            "date": day.isoformat(),
            "sources": ",".join(by_source),
        },
    )


# -- all together ------------------------------------------------------------------------

EntryCheck = Callable[[TimeEntry, ValidationContext], Finding | None]
GroupCheck = Callable[[Sequence[TimeEntry], ValidationContext], list[Finding]]

ENTRY_CHECKS: tuple[EntryCheck, ...] = (
    check_unmapped,
    check_not_approved,
    check_contract_dates,
    check_phase_dates,
    check_billable,
    check_future,
    check_locked_period,
    check_rate,
)
GROUP_CHECKS: tuple[GroupCheck, ...] = (
    check_implausible_days,
    check_overlaps,
    check_duplicate_sources,
)


def _newest_revisions(entries: Iterable[TimeEntry]) -> Iterator[TimeEntry]:
    newest: dict[int, TimeEntry] = {}
    for entry in entries:
        seen = newest.get(entry.id)
        if seen is None or entry.revision > seen.revision:
            newest[entry.id] = entry
    return iter(newest.values())


def finding_order(finding: Finding) -> tuple[str, str, tuple[int, ...], str]:
    return (finding.code, finding.subject, finding.entry_ids, finding.message)


def validate(entries: Sequence[TimeEntry], ctx: ValidationContext) -> list[Finding]:
    """Every finding about these entries, sorted by code, subject and entry ids."""
    findings: list[Finding] = []
    together: list[TimeEntry] = []  # live and not rejected: the cross-entry checks' input
    for entry in _newest_revisions(entries):
        if entry.state is _WRITTEN_OFF:
            continue
        changed = check_changed_after_billing(entry, ctx)
        if changed is not None:
            findings.append(changed)
        if entry.deleted:
            continue
        for check in ENTRY_CHECKS:
            finding = check(entry, ctx)
            if finding is not None:
                findings.append(finding)
        if entry.approval is not _REJECTED:
            together.append(entry)
    for group_check in GROUP_CHECKS:
        findings.extend(group_check(together, ctx))
    findings.sort(key=finding_order)
    return findings
