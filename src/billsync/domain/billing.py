"""Which invoices are due, and what goes on each: the billing modes as strategies.

Given a contract's billable portions (rated, capped, not yet billed, not blocked):

    time_and_materials, monthly, today 2026-04-03:
      portions of March -> one "period" invoice for 2026-03-01..2026-03-31
      portions of April -> wait: April has not ended
    continuous:        every portion -> the contract's one growing draft
    milestone:         no time billed; each reached milestone -> a "milestone" invoice
    completion:        portions of projects ready for billing -> one "completion" invoice

Manual and threshold invoices take every billable portion up to a day, whatever the
mode (`out_of_cycle`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from .caps import CapResult
from .contracts import BillingMode, Contract, Milestone
from .entries import TimeEntry
from .findings import Finding, Severity
from .money import ZERO, hours
from .periods import closed_periods, period_bounds
from .rated import Portion
from .workspace import Project


@dataclass(frozen=True, slots=True)
class DueInvoice:
    kind: str  # period, continuous, milestone, completion, manual, threshold
    portions: tuple[Portion, ...]
    period: tuple[date, date] | None = None
    milestones: tuple[Milestone, ...] = ()
    project: str = ""


def hold_whole_entries(result: CapResult) -> tuple[list[Portion], list[Portion]]:
    """An entry is billed once, whole: when part of it is held behind a cap, all of it
    waits, so that releasing it later never puts one entry on two invoices."""
    if not result.held:
        return list(result.billable), []  # mostly so: no pass over a million portions
    held_ids = {p.entry_id for p in result.held}
    billable = [p for p in result.billable if p.entry_id not in held_ids]
    held = [*result.held, *(p for p in result.billable if p.entry_id in held_ids)]
    return billable, held


def _period_invoices(
    contract: Contract, portions: Sequence[Portion], today: date
) -> list[DueInvoice]:
    by_period: dict[tuple[date, date], list[Portion]] = defaultdict(list)
    for p in portions:
        by_period[period_bounds(contract.period, p.work_date)].append(p)
    if not by_period:
        return []
    closed = set(closed_periods(contract.period, min(by_period)[0], today))
    return [
        DueInvoice("period", tuple(by_period[period]), period=period)
        for period in sorted(by_period)
        if period in closed
    ]


def due_invoices(
    contract: Contract,
    portions: Sequence[Portion],
    *,
    today: date,
    ready_projects: Collection[str],
    invoiced_milestones: Collection[str],
) -> list[DueInvoice]:
    """The invoices the clock, milestones and project status make due now."""
    mode = contract.billing
    if mode is BillingMode.TIME_AND_MATERIALS:
        return _period_invoices(contract, portions, today)
    if mode is BillingMode.CONTINUOUS:
        return [DueInvoice("continuous", tuple(portions))] if portions else []
    if mode is BillingMode.MILESTONE:
        reached = tuple(
            m
            for m in contract.milestones
            if m.reached is not None and m.reached <= today and m.code not in invoiced_milestones
        )
        return [DueInvoice("milestone", (), milestones=(m,)) for m in reached]
    by_project: dict[str, list[Portion]] = defaultdict(list)
    for p in portions:
        if p.project in ready_projects:
            by_project[p.project].append(p)
    return [
        DueInvoice("completion", tuple(by_project[code]), project=code)
        for code in sorted(by_project)
    ]


def out_of_cycle(portions: Iterable[Portion], through: date, kind: str) -> DueInvoice | None:
    """Everything billable up to `through`, for a manual or threshold invoice."""
    chosen = tuple(p for p in portions if p.work_date <= through)
    return DueInvoice(kind, chosen) if chosen else None


def unbilled_totals(portions: Iterable[Portion]) -> tuple[Decimal, Decimal]:
    total_seconds, amount = 0, ZERO
    for p in portions:
        total_seconds += p.seconds
        amount += p.amount
    return hours(total_seconds), amount


def threshold_finding(contract: Contract, portions: Sequence[Portion]) -> Finding | None:
    """Unbilled work beyond the contract's threshold: a warning, and a notice that waits
    for finance when the contract drafts an invoice for it."""
    limit = contract.threshold
    if limit is None or not over_threshold(contract, portions):
        return None
    unbilled_hours, amount = unbilled_totals(portions)
    outcome = "; an invoice was drafted." if limit.draft else ": consider an out-of-cycle invoice."
    return Finding(
        code="unbilled.threshold",
        severity=Severity.WARNING,
        subject=f"contract:{contract.code}",
        message=(
            f"Contract {contract.code} has {unbilled_hours:.2f} h / {amount:.2f} "
            f"{contract.currency} of billable work not yet invoiced, beyond its threshold "
            f"({limit.hours or '-'} h / {limit.amount or '-'} {contract.currency}){outcome}"
        ),
        contract=contract.code,
        amount=amount,
        hours=unbilled_hours,
        notice=limit.draft,
    )


def billable_on_task(entry: TimeEntry, project: Project | None) -> TimeEntry:
    """Time on a task the project marks non-billable is not billable, whatever the
    source said."""
    task = project.task(entry.task) if project is not None and entry.task else None
    return replace(entry, billable=False) if task is not None and not task.billable else entry


def overtime_context(
    invoiced: Sequence[TimeEntry], unbilled: Sequence[TimeEntry]
) -> list[TimeEntry]:
    """The invoiced entries to rate beside unbilled ones: those of the same people and ISO
    weeks, so overtime thresholds count what was billed before (see rating's `billed`)."""
    weeks = {(e.person, e.work_date.isocalendar()[:2]) for e in unbilled}
    return [e for e in invoiced if (e.person, e.work_date.isocalendar()[:2]) in weeks]


def over_threshold(contract: Contract, portions: Sequence[Portion]) -> bool:
    threshold = contract.threshold
    if threshold is None or not portions:
        return False
    unbilled_hours, amount = unbilled_totals(portions)
    return (threshold.hours is not None and unbilled_hours > threshold.hours) or (
        threshold.amount is not None and amount > threshold.amount
    )
