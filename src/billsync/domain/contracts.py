"""Contract terms: what a client agreed to pay for, and how.

One contract covers one or more projects and bills in one currency. Terms are
effective-dated where they can change (rates, variation orders); every `billsync apply`
that changes a contract stores a new version, and invoices keep the prices they were
drafted with, so a rate change never re-rates what was already invoiced.

    code: NSY-2026, client: nordic, currency: EUR, start: 2026-01-01
    rates: [{role: naval-architect, rate: 145}, {role: naval-architect,
             category: standby, rate: 90}]
    rounding: {increment_minutes: 15, mode: up, minimum_minutes: 30}
    overtime: {daily_after_hours: 8, daily_multiplier: 1.5, holiday_multiplier: 2}
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .entries import Category
from .model import Amount, Code, Multiplier, Percent, Record, Whole
from .money import check_currency, minor_unit, tender_on


class BillingMode(enum.StrEnum):
    TIME_AND_MATERIALS = "time_and_materials"  # every closed period
    MILESTONE = "milestone"  # fixed fees when a milestone is reached
    COMPLETION = "completion"  # once, when the project is ready for billing
    CONTINUOUS = "continuous"  # one draft that grows as approved time arrives


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


class RoundingMode(enum.StrEnum):
    UP = "up"
    NEAREST = "nearest"
    DOWN = "down"


class Unit(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"


class CapScope(enum.StrEnum):
    CONTRACT = "contract"
    PHASE = "phase"
    TASK = "task"
    PERIOD = "period"


class OverCap(enum.StrEnum):
    HOLD = "hold"  # blocking exception; the excess waits for a variation order or a waiver
    WRITE_OFF = "write_off"  # never billed, reported as leakage
    BILL_AND_ADJUST = "bill_and_adjust"  # billed, then taken off by a limit adjustment line


class GroupBy(enum.StrEnum):
    PHASE = "phase"
    TASK = "task"
    ROLE = "role"
    CATEGORY = "category"
    PERSON = "person"


class Rate(Record):
    """One row of the rate card. The most specific matching row wins (see rating)."""

    rate: Amount
    unit: Unit = Unit.HOUR
    role: Code | None = None
    person: Code | None = None
    task: Code | None = None
    phase: Code | None = None
    category: Category | None = None  # None: any category
    effective_from: date | None = None
    effective_to: date | None = None
    # Day rates: a worked day of at least this many hours bills one day rate; a shorter
    # day bills its hours at `short_day_rate` if given, else a pro-rata share of a day.
    day_min_hours: Amount | None = None
    short_day_rate: Amount | None = None

    @model_validator(mode="after")
    def _day_rate_terms(self) -> Rate:
        if self.unit is Unit.DAY and self.day_min_hours is None:
            raise ValueError("a day rate needs day_min_hours")
        if self.unit is Unit.HOUR and (
            self.day_min_hours is not None or self.short_day_rate is not None
        ):
            raise ValueError("day_min_hours and short_day_rate apply to day rates only")
        if self.day_min_hours is not None and not 0 < self.day_min_hours <= 24:
            # 0 bills a day for a minute's work; past 24 no day is ever full.
            raise ValueError(f"day_min_hours {self.day_min_hours}: from more than 0 to 24")
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError(
                f"effective_to {self.effective_to} is before effective_from {self.effective_from}"
            )
        return self


class Rounding(Record):
    increment_minutes: Whole = Field(default=0, ge=0, le=240)  # 0: no rounding
    mode: RoundingMode = RoundingMode.UP
    minimum_minutes: Whole = Field(default=0, ge=0, le=1440)


class Overtime(Record):
    """Thresholds and multipliers, applied in the site's local day and ISO week."""

    # A threshold beyond the day's 24 hours or the week's 168 would never be reached.
    daily_after_hours: Annotated[Amount, Field(le=24)] | None = None
    daily_multiplier: Multiplier = Decimal("1.5")
    weekly_after_hours: Annotated[Amount, Field(le=168)] | None = None
    weekly_multiplier: Multiplier = Decimal("1.5")
    weekend_multiplier: Multiplier | None = None
    holiday_multiplier: Multiplier | None = None
    # Monday is 0: (5, 6) is Saturday and Sunday; (4, 5) a Friday-Saturday weekend.
    weekend_days: tuple[Annotated[Whole, Field(ge=0, le=6)], ...] = (5, 6)
    # True: applicable multipliers multiply (1.5 x 2 = 3); False: the highest applies.
    stack: bool = False


class Cap(Record):
    scope: CapScope = CapScope.CONTRACT
    phase: Code | None = None
    task: Code | None = None
    period: Period | None = None
    hours: Amount | None = None
    amount: Amount | None = None
    warn_at: tuple[Percent, ...] = (Decimal(80), Decimal(90))
    on_exceed: OverCap = OverCap.HOLD

    @model_validator(mode="after")
    def _scope_terms(self) -> Cap:
        if self.hours is None and self.amount is None:
            raise ValueError("a cap needs hours, amount or both")
        needs = {CapScope.PHASE: "phase", CapScope.TASK: "task", CapScope.PERIOD: "period"}
        wanted = needs.get(self.scope)
        if wanted and getattr(self, wanted) is None:
            raise ValueError(f"a {self.scope} cap needs {wanted}")
        return self

    @property
    def key(self) -> str:
        return "/".join(str(p) for p in (self.scope, self.phase or self.task or self.period) if p)


class Variation(Record):
    """A dated, approved amendment: raises the contract value or a cap from its date."""

    code: Code
    effective: date
    approved: bool = False
    value: Amount = Decimal(0)  # added to the contract value
    cap: str | None = None  # the Cap.key it raises, e.g. "phase/design"
    cap_hours: Amount = Decimal(0)
    cap_amount: Amount = Decimal(0)
    description: str = ""


class Retainage(Record):
    percent: Percent
    max_amount: Amount | None = None


class Milestone(Record):
    code: Code
    name: str = ""
    amount: Amount
    phase: Code | None = None
    reached: date | None = None


class Threshold(Record):
    """Unbilled work beyond this raises an exception and, if `draft`, drafts an invoice."""

    hours: Amount | None = None
    amount: Amount | None = None
    draft: bool = False


class Contract(Record):
    code: Code
    client: Code
    name: str = ""
    currency: str
    start: date
    end: date | None = None
    value: Amount | None = None  # contract value before variations
    billing: BillingMode = BillingMode.TIME_AND_MATERIALS
    period: Period = Period.MONTH
    group_by: tuple[GroupBy, ...] = (GroupBy.PHASE, GroupBy.TASK, GroupBy.ROLE, GroupBy.CATEGORY)
    rates: tuple[Rate, ...] = ()
    rounding: Rounding = Rounding()
    overtime: Overtime = Overtime()
    caps: tuple[Cap, ...] = ()
    variations: tuple[Variation, ...] = ()
    retainage: Retainage | None = None
    milestones: tuple[Milestone, ...] = ()
    threshold: Threshold | None = None
    tax_rate: Percent = Decimal(0)
    tax_name: str = "VAT"
    payment_terms_days: Whole = Field(default=30, ge=0, le=365)
    po_number: str = ""
    max_daily_hours: Amount = Decimal(16)  # more in one local day is implausible
    rate_tolerance: Percent = Decimal(0)  # source rate may differ this much before a flag

    @field_validator("currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return check_currency(value.upper())

    @model_validator(mode="after")
    def _dates(self) -> Contract:
        if self.end and self.end < self.start:
            raise ValueError(f"contract ends {self.end} before it starts {self.start}")
        for listed in ("milestones", "variations"):
            codes = [item.code for item in getattr(self, listed)]
            twice = next((code for code in codes if codes.count(code) > 1), None)
            if twice is not None:  # billed twice, or a cap raised twice
                raise ValueError(f"two {listed} are both {twice!r}")
        if self.currency not in tender_on(self.start):
            raise ValueError(
                f"currency {self.currency} was no country's legal tender on {self.start}"
            )
        unit = minor_unit(self.currency)
        for where, amount in self._money():
            # Finer than the currency, a fee would be rounded where it is billed, and a
            # limit overshot (a maximum of 100.005 withheld 100.01).
            if amount is not None and amount != amount.quantize(unit):
                raise ValueError(
                    f"{where} {amount}: {self.currency} amounts go to {unit} at the finest"
                )
        caps = {cap.key: cap for cap in self.caps}
        if len(caps) < len(self.caps):
            keys = [cap.key for cap in self.caps]
            twice = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"two caps are both {twice!r}: give one cap both hours and amount")
        for variation in self.variations:
            if not variation.cap:
                continue
            cap = caps.get(variation.cap)
            if cap is None:
                raise ValueError(f"variation {variation.code} raises unknown cap {variation.cap!r}")
            if (variation.cap_hours and cap.hours is None) or (
                variation.cap_amount and cap.amount is None
            ):
                raise ValueError(
                    f"variation {variation.code} raises a limit cap {cap.key!r} does not have"
                )
        return self

    def _money(self) -> Iterator[tuple[str, Decimal | None]]:
        """The fees and limits the contract states, with where they stand. Not rates:
        a rate may be finer than the currency (133.333 x 1.5 prices an even 200.00),
        and a unit price is rounded from it as contracts.md says."""
        yield "value", self.value
        for i, cap in enumerate(self.caps):
            yield f"caps[{i}].amount", cap.amount
        for i, variation in enumerate(self.variations):
            yield f"variations[{i}].value", variation.value
            yield f"variations[{i}].cap_amount", variation.cap_amount
        for i, milestone in enumerate(self.milestones):
            yield f"milestones[{i}].amount", milestone.amount
        yield "retainage.max_amount", self.retainage.max_amount if self.retainage else None
        yield "threshold.amount", self.threshold.amount if self.threshold else None

    def covers(self, day: date) -> bool:
        return day >= self.start and (self.end is None or day <= self.end)

    def approved_variations(self, as_of: date) -> tuple[Variation, ...]:
        return tuple(v for v in self.variations if v.approved and v.effective <= as_of)

    def value_as_of(self, as_of: date) -> Decimal | None:
        if self.value is None:
            return None
        return self.value + sum((v.value for v in self.approved_variations(as_of)), Decimal(0))
