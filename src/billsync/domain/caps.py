"""Not-to-exceed caps on the portions about to be billed.

Worked example. Contract NSY-2026 caps phase "design" at 500 h, work beyond it held;
455 h are already billed against the cap. Three portions arrive, in any order:

    2026-03-03  entry 9   20.00 h x 145.00 = 2900.00   phase design
    2026-03-02  entry 7   30.00 h x 145.00 = 4350.00   phase design
    2026-03-03  entry 11   8.00 h x 145.00 = 1160.00   phase yard

They are consumed in date order (work_date, entry id, premium), so the result never
depends on the order they came in:

    billable  entry 7   30.00 h  4350.00    485 h used
              entry 9   15.00 h  2175.00    500 h used: the cap is reached here
              entry 11   8.00 h  1160.00    not in the design phase, not capped
    held      entry 9    5.00 h   725.00    blocking finding "cap.exceeded"
    usage_after.hours["phase/design"] == 500, its amount 6525.00 higher than before

No "cap.warning": 80% and 90% were passed before this run (455 h is 91%).

What happens to work beyond a cap is the cap's `on_exceed`: `hold` keeps it off the
invoice behind a blocking finding (a variation order or a waiver releases it),
`write_off` drops it as reported leakage, `bill_and_adjust` bills it and returns a
`LimitAdjustment` that takes its amount back off the same invoice.

Choices, so nobody has to guess:

- A portion under several caps (a phase cap inside a contract cap) is billed only as far
  as it fits all of them, and that part counts against each. The part beyond goes to
  the tightest cap (the first listed on a tie), whose `on_exceed` decides its fate.
- A portion crossing a limit is split at a whole second, never above the limit: hours
  and amounts of the two parts are proportional to their seconds and add up exactly
  to the portion. A cap can so be left up to one second's worth of work short.
- Usage counts only work billed within a cap: work that is billed and adjusted off nets
  to nothing, so it does not use up this cap or any other.
- Variation orders count when approved and effective on `as_of` (the billing day), not
  on the work day: approving one releases held work on the next run.
- The contract value (`Contract.value`) is not a cap; it is reported in the invoice's
  contract status only. A not-to-exceed value is written as a contract-scope cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal, Inexact, localcontext
from functools import partial
from heapq import merge
from itertools import compress, count, islice
from operator import attrgetter, eq, le
from typing import Any

from .contracts import Cap, CapScope, Contract, OverCap, Unit
from .findings import Finding, Severity
from .money import ZERO, hours, quantity, quantize
from .periods import period_bounds, period_label
from .rated import Portion

__all__ = [
    "CapResult",
    "CapUsage",
    "LimitAdjustment",
    "apply_caps",
    "cap_limits",
    "chronological",
    "in_chronological_order",
    "covers",
    "portion_hours",
    "split_portion",
    "usage_key",
]


@dataclass(frozen=True, slots=True)
class CapUsage:
    """What was already billed against each cap: by `Cap.key`, and for period caps by
    `usage_key` ("period/month@2026-03-01"). Amounts are exact, hours are hours."""

    hours: Mapping[str, Decimal] = field(default_factory=dict)
    amount: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LimitAdjustment:
    """Work billed beyond a `bill_and_adjust` cap, to be taken off the invoice again."""

    cap_key: str  # the usage key: Cap.key, with "@period start" for period caps
    amount: Decimal  # negative, exact; invoicing quantizes it
    hours: Decimal
    description: str
    entry_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CapResult:
    billable: tuple[Portion, ...]  # within every cap, plus bill_and_adjust excess
    held: tuple[Portion, ...]
    written_off: tuple[Portion, ...]
    limit_adjustments: tuple[LimitAdjustment, ...]
    findings: tuple[Finding, ...]
    usage_after: CapUsage


# The order work is consumed in, the earliest work first: a sort key. Base time (""
# premium) sorts before its overtime, as rating splits a day. The rest only breaks
# ties (parts of one entry), every field of a portion, so that no order ever depends
# on the order portions came in. Fields read in C: caps and drafts sort by it.
chronological: Callable[[Portion], tuple[Any, ...]] = attrgetter(
    "work_date",
    "entry_id",
    "price.premium",
    "revision",
    "price.unit_price",
    "seconds",
    "worked.task",
    "worked.phase",
    "worked.person",
    "worked.role",
    "worked.category",
    "amount",
    "quantity",
    "price.base_rate",
    "price.multiplier",
    "price.unit",
    "worked.project",
)
# Its first four fields: the order of work, blind to the size of a portion.
_work_order = attrgetter("work_date", "entry_id", "price.premium", "revision")


def portion_hours(portion: Portion) -> Decimal:
    """Hours a portion uses of a cap: its quantity, or for a day rate the hours behind it."""
    return portion.quantity if portion.price.unit is _HOUR else hours(portion.seconds)


_HOUR = Unit.HOUR


def _exact_difference(whole: Decimal, part: Decimal) -> Decimal:
    # Enough digits that the rest is exact, so part + rest == whole to the last digit.
    with localcontext() as ctx:
        ctx.prec = 200
        ctx.traps[Inexact] = True
        return whole - part


def split_portion(portion: Portion, seconds: int) -> tuple[Portion, Portion]:
    """The first `seconds` of a portion and the rest, with quantity and amount in
    proportion to the seconds; each field of the two parts adds up to the portion's."""
    if not 0 < seconds < portion.seconds:
        raise ValueError(f"cannot split {portion.seconds} s at {seconds} s")
    part_quantity = portion.quantity * seconds / portion.seconds
    part_amount = portion.amount * seconds / portion.seconds
    first = replace(portion, seconds=seconds, quantity=part_quantity, amount=part_amount)
    rest = replace(
        portion,
        seconds=portion.seconds - seconds,
        quantity=_exact_difference(portion.quantity, part_quantity),
        amount=_exact_difference(portion.amount, part_amount),
    )
    return first, rest


def usage_key(cap: Cap, work_date: date) -> str:
    """Where usage of `cap` by work on `work_date` is counted."""
    if cap.scope is CapScope.PERIOD and cap.period is not None:
        start, _ = period_bounds(cap.period, work_date)
        return f"{cap.key}@{start.isoformat()}"
    return cap.key


def cap_limits(contract: Contract, cap: Cap, as_of: date) -> tuple[Decimal | None, Decimal | None]:
    """Hours and amount limits of a cap, raised by the variation orders approved and
    effective on `as_of`. A limit the cap does not set stays None (no limit)."""
    raised = [v for v in contract.approved_variations(as_of) if v.cap == cap.key]
    limit_hours = cap.hours
    limit_amount = cap.amount
    if limit_hours is not None:
        limit_hours += sum((v.cap_hours for v in raised), ZERO)
    if limit_amount is not None:
        limit_amount += sum((v.cap_amount for v in raised), ZERO)
    return limit_hours, limit_amount


def covers(cap: Cap, phase: str, task: str) -> bool:
    """Whether work of this phase and task counts under the cap."""
    if cap.scope is CapScope.PHASE:
        return phase == cap.phase
    if cap.scope is CapScope.TASK:
        return task == cap.task
    return True  # contract and period caps take all of the contract's work


def _seconds_within(seconds: int, size: Decimal, limit: Decimal, used: Decimal) -> int:
    """How many of a portion's seconds fit under one limit, given what the portion
    measures by it (hours or amount): all of them if it fits whole, else at least a
    second less, rounded down so the part stays under the limit."""
    # Never below zero: usage past a limit (billed before a cap was lowered or added)
    # leaves no room, and empty work still fits.
    room = max(limit - used, ZERO)
    if size <= room:
        return seconds
    if not room:
        return 0  # what the division below gives, without it: common once a cap is full
    fits = int((seconds * room / size).to_integral_value(rounding=ROUND_FLOOR))
    return max(min(seconds - 1, fits), 0)


@dataclass(slots=True)
class _Bucket:
    """One cap's running usage under one usage key during a run."""

    cap: Cap
    key: str
    label: str
    limit_hours: Decimal | None
    limit_amount: Decimal | None
    hours_before: Decimal
    amount_before: Decimal
    hours: Decimal
    amount: Decimal
    beyond: list[Portion] = field(default_factory=list)

    def allowed_seconds(self, portion: Portion, worked: Decimal) -> int:
        """How many of the portion's seconds still fit, given the hours it uses
        (`portion_hours`); all of them if it fits whole. Whichever limit is hit first
        decides."""
        allowed = seconds = portion.seconds
        if self.limit_hours is not None:
            allowed = _seconds_within(seconds, worked, self.limit_hours, self.hours)
        if self.limit_amount is not None:
            by_amount = _seconds_within(seconds, portion.amount, self.limit_amount, self.amount)
            allowed = min(allowed, by_amount)
        return allowed


def _plain(value: Decimal) -> str:
    # 500 rather than 500.00 or 5E+2 in a limit a person wrote.
    return f"{value.normalize():f}"


def _cap_label(cap: Cap, work_date: date) -> str:
    if cap.scope is CapScope.CONTRACT:
        return "contract cap"
    if cap.scope is CapScope.PERIOD and cap.period is not None:
        return f"{cap.period} cap {period_label(cap.period, work_date)}"
    return f"{cap.scope} {cap.phase or cap.task} cap"


def _measure_text(value: Decimal, measure: str, currency: str) -> str:
    if measure == "hours":
        return f"{quantity(value)} h"
    return f"{quantize(value, currency)} {currency}"


def _limits_text(bucket: _Bucket, currency: str) -> str:
    parts = []
    if bucket.limit_hours is not None:
        parts.append(f"{_plain(bucket.limit_hours)} h")
    if bucket.limit_amount is not None:
        parts.append(_measure_text(bucket.limit_amount, "amount", currency))
    return " / ".join(parts)


def _warning(contract: Contract, bucket: _Bucket, measure: str) -> Finding | None:
    """A warning when usage passes a warn_at percentage in this run (the highest one)."""
    if measure == "hours":
        limit, before, after = bucket.limit_hours, bucket.hours_before, bucket.hours
    else:
        limit, before, after = bucket.limit_amount, bucket.amount_before, bucket.amount
    if limit is None or limit <= 0:
        return None
    crossed = [t for t in bucket.cap.warn_at if before * 100 < t * limit <= after * 100]
    if not crossed:
        return None
    # Rounded down: a cap shows 100% only once it is really used up.
    percent = (after * 100 / limit).to_integral_value(rounding=ROUND_FLOOR)
    currency = contract.currency
    limit_text = (
        f"{_plain(limit)} h" if measure == "hours" else _measure_text(limit, measure, currency)
    )
    return Finding(
        code="cap.warning",
        severity=Severity.WARNING,
        subject=f"cap:{contract.code}/{bucket.key}",
        message=(
            f"Contract {contract.code} {bucket.label}: {percent}% of {limit_text} used "
            f"({_measure_text(after, measure, currency)})"
        ),
        contract=contract.code,
        hours=quantity(bucket.hours),
        amount=quantize(bucket.amount, currency),
        details={"cap": bucket.key, "measure": measure, "threshold": _plain(max(crossed))},
        notice=True,
    )


_OUTCOME = {
    OverCap.HOLD: (
        Severity.BLOCKING,
        "held. Approve a variation order raising the cap, or waive this exception to bill it.",
    ),
    OverCap.WRITE_OFF: (Severity.WARNING, "written off as leakage, as the contract says."),
    OverCap.BILL_AND_ADJUST: (
        Severity.WARNING,
        "billed and taken off again by a limit adjustment line.",
    ),
}


_amount = attrgetter("amount")


def _excess_records(contract: Contract, bucket: _Bucket) -> tuple[Finding, LimitAdjustment | None]:
    currency = contract.currency
    excess_hours = sum(map(portion_hours, bucket.beyond), ZERO)
    excess_amount = sum(map(_amount, bucket.beyond), ZERO)
    entry_ids = tuple(sorted(set(map(_entry_id, bucket.beyond))))
    on_exceed = bucket.cap.on_exceed
    severity, outcome = _OUTCOME[on_exceed]
    at_stake = f"{quantity(excess_hours)} h ({_measure_text(excess_amount, 'amount', currency)})"
    finding = Finding(
        code="cap.exceeded",
        severity=severity,
        subject=f"cap:{contract.code}/{bucket.key}",
        message=(
            f"Contract {contract.code} {bucket.label} of {_limits_text(bucket, currency)} "
            f"is reached: {at_stake} beyond it {outcome}"
        ),
        entry_ids=entry_ids,
        contract=contract.code,
        amount=quantize(excess_amount, currency),
        hours=quantity(excess_hours),
        details={"cap": bucket.key, "on_exceed": str(on_exceed)},
        notice=severity is Severity.WARNING,  # written off or adjusted: nothing to release
    )
    if on_exceed is not OverCap.BILL_AND_ADJUST:
        return finding, None
    adjustment = LimitAdjustment(
        cap_key=bucket.key,
        amount=-excess_amount,
        hours=excess_hours,
        description=(
            f"Not-to-exceed {bucket.label} of {_limits_text(bucket, currency)} reached: "
            f"{quantity(excess_hours)} h not charged"
        ),
        entry_ids=entry_ids,
    )
    return finding, adjustment


_shape = attrgetter("worked.phase", "worked.task", "work_date")  # what decides the buckets


class _Ledger:
    """The buckets of one apply_caps call, created as work reaches them."""

    def __init__(self, contract: Contract, usage: CapUsage, as_of: date) -> None:
        self.caps = [(cap, cap_limits(contract, cap, as_of)) for cap in contract.caps]
        self.usage = usage
        self.buckets: dict[tuple[int, str], _Bucket] = {}
        # (phase, task, work date) -> the buckets that work counts in: worked out once
        # for all the portions that share them.
        self._by_shape: dict[tuple[str, str, date], list[_Bucket]] = {}

    def buckets_for(self, portion: Portion) -> list[_Bucket]:
        """The buckets of every cap the portion falls under, in the contract's order."""
        shape = _shape(portion)
        found = self._by_shape.get(shape)
        if found is None:
            phase, task, work_date = shape
            found = self._by_shape[shape] = [
                self._bucket(index, work_date)
                for index, (cap, _) in enumerate(self.caps)
                if covers(cap, phase, task)
            ]
        return found

    def _bucket(self, index: int, work_date: date) -> _Bucket:
        cap, (limit_hours, limit_amount) = self.caps[index]
        key = usage_key(cap, work_date)
        bucket = self.buckets.get((index, key))
        if bucket is None:
            hours_used = self.usage.hours.get(key, ZERO)
            amount_used = self.usage.amount.get(key, ZERO)
            bucket = self.buckets[(index, key)] = _Bucket(
                cap=cap,
                key=key,
                label=_cap_label(cap, work_date),
                limit_hours=limit_hours,
                limit_amount=limit_amount,
                hours_before=hours_used,
                amount_before=amount_used,
                hours=hours_used,
                amount=amount_used,
            )
        return bucket

    def ordered_buckets(self) -> list[_Bucket]:
        return [self.buckets[k] for k in sorted(self.buckets)]


def in_chronological_order(portions: Iterable[Portion]) -> list[Portion]:
    """The portions sorted by `chronological`. A key tuple per portion would take as
    much memory as the portions (a contract may have a million): they are sorted by
    premium, then (stably) by entry, then by day, with keys they hold already, and only
    the runs that tie on all three by the whole key. (The parts of one entry are at
    different premiums: such runs are rare.) Portions in that order already, as a
    run's drafts get them from its caps, are only checked: 0.87 s for 766,000 of them
    where sorting them took 1.2-1.5 s."""
    ordered = list(portions)
    if _in_order(ordered):
        return ordered
    ordered.sort(key=_premium)
    ordered.sort(key=_entry_id)
    ordered.sort(key=_work_date)
    for start, end in _tied_runs(ordered):
        ordered[start:end] = sorted(ordered[start:end], key=chronological)
    return ordered


_premium = attrgetter("price.premium")
_entry_id = attrgetter("entry_id")
_work_date = attrgetter("work_date")


def _in_order(portions: list[Portion]) -> bool:
    """Whether no portion's `chronological` key is greater than the next one's: by day,
    then by day and entry, in C; by the whole key only where neighbours are parts of
    one entry."""
    days = list(map(_work_date, portions))
    if not all(map(le, days, islice(days, 1, None))):
        return False
    entry_ids = list(map(_entry_id, portions))
    pairs = zip(days, entry_ids, strict=True)
    later = zip(islice(days, 1, None), islice(entry_ids, 1, None), strict=True)
    if not all(map(le, pairs, later)):
        return False
    parts = compress(count(), map(eq, entry_ids, islice(entry_ids, 1, None)))
    return all(chronological(portions[at]) <= chronological(portions[at + 1]) for at in parts)


def _tied_runs(ordered: list[Portion]) -> list[list[int]]:
    """[start, end) of each run of neighbours equal in day, entry and premium. Entries
    are compared in C; only neighbours of one entry are looked at here."""
    entry_ids = list(map(_entry_id, ordered))
    runs: list[list[int]] = []
    for at in compress(count(), map(eq, entry_ids, islice(entry_ids, 1, None))):
        if _day_and_premium(ordered[at]) != _day_and_premium(ordered[at + 1]):
            continue
        if runs and runs[-1][1] == at + 1:
            runs[-1][1] = at + 2
        else:
            runs.append([at, at + 2])
    return runs


_day_and_premium = attrgetter("work_date", "price.premium")


def _in_work_order(portions: Iterable[Portion]) -> tuple[Portion, ...]:
    # Stable and blind to size, so the two parts of a split portion keep their order:
    # the part within the cap first, the part beyond after it.
    return tuple(sorted(portions, key=_work_order))


def _consume(ledger: _Ledger, portion: Portion) -> Portion | None:
    """Count a portion against every cap it falls under; returns the part within all.

    The part beyond goes to the bucket of the tightest cap (the first listed on a tie).
    """
    buckets = ledger.buckets_for(portion)
    if not buckets:
        return portion
    worked = portion_hours(portion)
    least, tightest = portion.seconds, None
    for bucket in buckets:
        allowed = bucket.allowed_seconds(portion, worked)
        if allowed < least:
            least, tightest = allowed, bucket
            if not least:
                break  # none can allow less: the tightest is this first one
    within = portion
    if tightest is not None:
        if not least:
            tightest.beyond.append(portion)
            return None
        within, beyond = split_portion(portion, least)
        tightest.beyond.append(beyond)
        worked = portion_hours(within)
    for bucket in buckets:
        bucket.hours += worked
        bucket.amount += within.amount
    return within


def apply_caps(
    contract: Contract, portions: Sequence[Portion], usage: CapUsage, as_of: date
) -> CapResult:
    """Split portions into billable, held and written-off work under the contract's caps.

    `usage` is what earlier invoices billed against each cap; `as_of` is the billing
    day that decides which variation orders count.
    """
    ledger = _Ledger(contract, usage, as_of)
    # In order of work, so the earliest work fills a cap and the latest goes beyond it.
    billable = in_chronological_order(portions)
    if ledger.caps:
        within = map(partial(_consume, ledger), billable)
        billable = [portion for portion in within if portion is not None]
    outcomes: dict[OverCap, list[Portion]] = {o: [] for o in OverCap}
    findings: list[Finding] = []
    adjustments: list[LimitAdjustment] = []
    for bucket in ledger.ordered_buckets():
        for measure in ("hours", "amount"):
            warning = _warning(contract, bucket, measure)
            if warning is not None:
                findings.append(warning)
        if not bucket.beyond:
            continue
        finding, adjustment = _excess_records(contract, bucket)
        findings.append(finding)
        if adjustment is not None:
            adjustments.append(adjustment)
        outcomes[bucket.cap.on_exceed].extend(bucket.beyond)
    hours_after = dict(usage.hours) | {b.key: b.hours for b in ledger.buckets.values()}
    amount_after = dict(usage.amount) | {b.key: b.amount for b in ledger.buckets.values()}
    adjusted = outcomes[OverCap.BILL_AND_ADJUST]
    return CapResult(
        # Work within the caps is in work order already; adjusted excess is merged into
        # it (sorting the whole again would make a key tuple per portion).
        billable=tuple(merge(billable, _in_work_order(adjusted), key=_work_order))
        if adjusted
        else tuple(billable),
        held=_in_work_order(outcomes[OverCap.HOLD]),
        written_off=_in_work_order(outcomes[OverCap.WRITE_OFF]),
        limit_adjustments=tuple(adjustments),
        findings=tuple(findings),
        usage_after=CapUsage(hours=hours_after, amount=amount_after),
    )
