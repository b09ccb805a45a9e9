"""Invoice drafting: priced portions, milestones and adjustments -> one draft invoice.

Worked example. Contract NSY-2026 (EUR, 25% VAT, 10% retainage, 30 days) groups by
phase, task, role and category. March's portions:

    entry 7   2026-03-02  design/survey  naval-architect  8.00 h x 145.00
    entry 7   2026-03-02  design/survey  naval-architect  2.00 h x 217.50  (daily overtime)
    entry 9   2026-03-03  design/survey  naval-architect  7.50 h x 145.00

become, issued 2026-04-01:

    Design / survey / naval-architect / operating                 15.50 hour  145.00  2247.50
    Design / survey / naval-architect / operating, overtime daily  2.00 hour  217.50   435.00
                                                       subtotal                        2682.50
                                                       VAT 25%                          670.63
                                                       total                           3353.13
                                                       retainage 10% withheld          -268.25
                                                       amount due 2026-05-01           3084.88

Rules that make every figure checkable by hand:

- A time line groups the portions that agree on the contract's `group_by` dimensions,
  unit, unit price and premium: one line, one price.
- Its quantity is the exact sum of its portions printed with two decimals (half up);
  its amount is that printed quantity times the unit price, quantized to the
  currency's minor unit. Lines sum to the subtotal.
- Tax is computed once on the taxable subtotal at the contract's rate, as EN 16931
  computes VAT per rate on the sum of line net amounts, never line by line.
- Retainage is not a line: lines still sum to the subtotal, and the draft says what is
  withheld from the total (`retainage`) and what is due (`amount_due`).
- Releasing retainage adds a RETAINAGE_RELEASE line without tax: the tax was charged
  on the invoices that billed the work, and the release only pays it out. (EN 16931
  documents show it under a VAT category outside the scope of tax.) A release invoice
  withholds nothing new.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

from .caps import LimitAdjustment, in_chronological_order
from .contracts import Contract, GroupBy, Milestone
from .money import ZERO, percent_of, quantity, quantize
from .rated import Portion

__all__ = [
    "BillingHistory",
    "ContractStatus",
    "InvoiceDraft",
    "InvoiceLine",
    "LineKind",
    "draft_invoice",
    "group_lines",
]


class LineKind(enum.StrEnum):
    TIME = "time"
    MILESTONE = "milestone"
    LIMIT_ADJUSTMENT = "limit_adjustment"
    RETAINAGE = "retainage"  # for documents that print the withholding; never in lines
    RETAINAGE_RELEASE = "retainage_release"
    ADJUSTMENT = "adjustment"  # e.g. a correction of an entry edited after billing


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    kind: LineKind
    description: str
    quantity: Decimal  # as printed
    unit: str  # "hour", "day", "milestone", "adjustment", "retainage"
    unit_price: Decimal
    amount: Decimal  # quantize(quantity x unit_price)
    key: tuple[str, ...]  # what the line groups by; unique within its kind
    portions: tuple[Portion, ...] = ()  # only time lines bill portions


@dataclass(frozen=True, slots=True)
class ContractStatus:
    value: Decimal | None  # contract value with variations approved by the issue date
    billed_before: Decimal  # work billed on earlier live invoices (net, before tax)
    this_invoice: Decimal  # work billed on this one: subtotal less any retainage release
    retainage_held: Decimal  # in total after this invoice
    remaining: Decimal | None  # value - billed_before - this_invoice; negative when over


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    contract: str
    currency: str
    period_start: date | None
    period_end: date | None
    issue_date: date
    due_date: date
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal  # sum of line amounts
    tax_rate: Decimal  # percent
    tax: Decimal
    total: Decimal  # subtotal + tax
    retainage: Decimal  # withheld from this invoice's total
    amount_due: Decimal  # total - retainage
    status: ContractStatus
    po_number: str

    @property
    def taxable(self) -> Decimal:
        """The base tax was computed on: every line but a retainage release."""
        return sum(
            (line.amount for line in self.lines if line.kind is not LineKind.RETAINAGE_RELEASE),
            ZERO,
        )


@dataclass(frozen=True, slots=True)
class BillingHistory:
    """The contract's earlier live invoices, as the store sums them."""

    billed_before: Decimal = ZERO  # net subtotals, excluding retainage releases
    retainage_held: Decimal = ZERO  # withheld minus released so far


def _dimension(portion: Portion, dim: GroupBy) -> str:
    return str(getattr(portion, dim.value))


def _time_fields(contract: Contract) -> Callable[[Portion], tuple[Any, ...]]:
    """A portion's `group_by` dimensions, unit and premium as its fields hold them, read
    in C: a draft groups every portion by them."""
    dims = (f"worked.{dim.value}" for dim in contract.group_by)
    return attrgetter(*dims, "price.unit", "price.premium")


def _time_key(fields: tuple[Any, ...], price: str) -> tuple[str, ...]:
    """A line's key: the time fields as text, with the unit price before the premium."""
    *dims, unit, premium = fields
    return (*(str(d) for d in dims), str(unit), price, premium)


def _describe(contract: Contract, portion: Portion) -> str:
    names = [_dimension(portion, dim) for dim in contract.group_by]
    text = " / ".join(name for name in names if name) or "Time"
    text = text[0].upper() + text[1:]
    if portion.premium:
        text += ", overtime " + portion.premium.replace("+", " + ")
    return text


_quantity = attrgetter("quantity")


def _time_line(contract: Contract, key: tuple[str, ...], portions: list[Portion]) -> InvoiceLine:
    """The line of portions that share `key`, given in chronological order."""
    first = portions[0]
    printed = quantity(sum(map(_quantity, portions), ZERO))
    return InvoiceLine(
        kind=LineKind.TIME,
        description=_describe(contract, first),
        quantity=printed,
        unit=str(first.unit),
        unit_price=first.unit_price,
        amount=quantize(printed * first.unit_price, contract.currency),
        key=key,
        portions=tuple(portions),
    )


def _time_order(line: InvoiceLine) -> tuple[tuple[str, ...], Decimal, str]:
    # Prices sort as numbers (90.00 before 145.00), the rest of the key as text.
    return (line.key[:-2], line.unit_price, line.key[-1])


def group_lines(contract: Contract, portions: Iterable[Portion]) -> list[InvoiceLine]:
    """Time lines of the portions, sorted by key; the order of `portions` does not matter."""
    fields_of = _time_fields(contract)
    # Grouped by the fields themselves (a StrEnum equals its text), the price by its
    # text as the key prints it (145.0 and 145.00 are two lines). Portions share their
    # `worked` and `price`: a line is found once per pair of those, and each portion by
    # their identities (a key holding enums is hashed by Python code, not in C).
    groups: dict[tuple[tuple[Any, ...], str], list[Portion]] = {}
    line_of: dict[tuple[int, int], list[Portion]] = {}
    # Sorted once, in work order, so that every line's portions are too.
    for portion in in_chronological_order(portions):
        shared = (id(portion.worked), id(portion.price))
        members = line_of.get(shared)
        if members is None:
            key = (fields_of(portion), str(portion.price.unit_price))
            members = line_of[shared] = groups.setdefault(key, [])
        members.append(portion)
    lines = [_time_line(contract, _time_key(*group), members) for group, members in groups.items()]
    return sorted(lines, key=_time_order)


def _fixed_line(
    kind: LineKind, description: str, unit: str, amount: Decimal, key: tuple[str, ...]
) -> InvoiceLine:
    """A line of one unit at its own amount: quantity 1.00 x amount = amount."""
    return InvoiceLine(kind, description, Decimal("1.00"), unit, amount, amount, key)


def _milestone_line(contract: Contract, milestone: Milestone) -> InvoiceLine:
    name = f"Milestone {milestone.code}" + (f": {milestone.name}" if milestone.name else "")
    amount = quantize(milestone.amount, contract.currency)
    return _fixed_line(LineKind.MILESTONE, name, "milestone", amount, (milestone.code,))


def _limit_line(contract: Contract, adjustment: LimitAdjustment) -> InvoiceLine:
    amount = quantize(adjustment.amount, contract.currency)
    return _fixed_line(
        LineKind.LIMIT_ADJUSTMENT,
        adjustment.description,
        "adjustment",
        amount,
        (adjustment.cap_key,),
    )


def _checked_adjustment(contract: Contract, line: InvoiceLine) -> InvoiceLine:
    # Caller-built lines must obey the same arithmetic as ours; a mismatch is a bug.
    expected = quantize(line.quantity * line.unit_price, contract.currency)
    if line.kind is not LineKind.ADJUSTMENT or line.portions:
        raise ValueError(f"adjustment line {line.key} must be an ADJUSTMENT without portions")
    if line.amount != expected:
        raise ValueError(f"adjustment line {line.key}: amount {line.amount} != {expected}")
    return line


def _by_key(line: InvoiceLine) -> tuple[str, ...]:
    return line.key


def _withheld(contract: Contract, work: Decimal, history: BillingHistory) -> Decimal:
    terms = contract.retainage
    if terms is None or work <= 0:
        return ZERO
    withheld = percent_of(work, terms.percent, contract.currency)
    if terms.max_amount is not None:
        # Never withhold beyond the agreed maximum, counting what is already held.
        withheld = min(withheld, max(terms.max_amount - history.retainage_held, ZERO))
    return withheld


def _status(
    contract: Contract, issue_date: date, history: BillingHistory, work: Decimal, held: Decimal
) -> ContractStatus:
    value = contract.value_as_of(issue_date)
    remaining = None if value is None else value - history.billed_before - work
    q = contract.currency
    return ContractStatus(
        None if value is None else quantize(value, q),
        quantize(history.billed_before, q),
        quantize(work, q),
        quantize(held, q),
        None if remaining is None else quantize(remaining, q),
    )


def draft_invoice(
    contract: Contract,
    *,
    portions: Sequence[Portion],
    issue_date: date,
    history: BillingHistory,
    period: tuple[date, date] | None = None,
    milestones: Sequence[Milestone] = (),
    limit_adjustments: Sequence[LimitAdjustment] = (),
    adjustments: Sequence[InvoiceLine] = (),
    release_retainage: bool = False,
) -> InvoiceDraft:
    """A draft of one invoice; pure, and independent of the order of its inputs.

    The caller passes what is due on this invoice: portions that passed caps and
    checks, milestones reached, limit adjustments from `apply_caps`, and adjustment
    lines for work billed earlier.
    """
    currency = contract.currency
    # Kind by kind (time, milestones, limit adjustments, adjustments, release), each
    # sorted by key, so the same inputs in any order give the same invoice.
    lines = [
        *group_lines(contract, portions),
        *sorted((_milestone_line(contract, m) for m in milestones), key=_by_key),
        *sorted((_limit_line(contract, a) for a in limit_adjustments), key=_by_key),
        *sorted((_checked_adjustment(contract, a) for a in adjustments), key=_by_key),
    ]
    work = sum((line.amount for line in lines), ZERO)
    released = quantize(history.retainage_held, currency) if release_retainage else ZERO
    if released:
        lines.append(
            _fixed_line(
                LineKind.RETAINAGE_RELEASE,
                "Release of retainage withheld on earlier invoices",
                "retainage",
                released,
                ("retainage",),
            )
        )
    tax = percent_of(work, contract.tax_rate, currency)
    subtotal = work + released
    total = subtotal + tax
    # Quantized even when zero, so every amount prints in the currency's own form.
    withheld = quantize(ZERO if release_retainage else _withheld(contract, work, history), currency)
    held = history.retainage_held + withheld - released
    return InvoiceDraft(
        contract=contract.code,
        currency=currency,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=contract.payment_terms_days),
        lines=tuple(lines),
        subtotal=subtotal,
        tax_rate=contract.tax_rate,
        tax=tax,
        total=total,
        retainage=withheld,
        amount_due=total - withheld,
        status=_status(contract, issue_date, history, work, held),
        po_number=contract.po_number,
    )
