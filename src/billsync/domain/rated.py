"""What rating makes of an entry: billable time beside worked time, priced in portions.

An entry of 10 h on a weekday under "daily overtime after 8 h at 1.5x", 15-minute
rounding and a 145.00/h rate becomes two portions:

    8.00 h x 145.00 = 1160.00   (premium "")
    2.00 h x 217.50 =  435.00   (premium "daily", multiplier 1.5)

Portions are what invoice lines group; each keeps the entry id and revision it bills.
What many portions have in common (who worked on what, the price) is one shared object.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .contracts import Unit
from .entries import Category, TimeEntry
from .findings import Finding
from .values import value


@value
class Adjustment:
    """A difference between worked and billable time, with its reason code:
    rounding, minimum, write_up, write_down."""

    reason: str
    seconds: int


@value
class Worked:
    """Who worked on what: one object for every portion of a person's task (a run
    holds a million portions until they are capped and drafted)."""

    person: str
    role: str
    project: str
    phase: str
    task: str
    category: Category


@value
class Price:
    """What an hour or a day of a portion costs: one object for every portion at it."""

    unit: Unit
    base_rate: Decimal
    multiplier: Decimal
    premium: str  # "", "daily", "weekly", "weekend", "holiday", or joined with "+"
    unit_price: Decimal  # base_rate x multiplier, quantized to the currency


@value
class Portion:
    entry_id: int
    revision: int
    work_date: date
    seconds: int  # billable seconds in this portion
    quantity: Decimal  # exact hours, or days for a day rate
    amount: Decimal  # quantity x unit_price, exact (lines quantize)
    worked: Worked
    price: Price
    # How the entry's billable time differs from its worked time (the same on each of
    # its portions, one object for entries that differ alike): its billed mark says so.
    adjustments: tuple[Adjustment, ...] = ()

    # What it shares with other portions, by name. (Code that reads them for every
    # portion goes through `worked` and `price`, with one C-level attrgetter.)
    @property
    def person(self) -> str:
        return self.worked.person

    @property
    def role(self) -> str:
        return self.worked.role

    @property
    def project(self) -> str:
        return self.worked.project

    @property
    def phase(self) -> str:
        return self.worked.phase

    @property
    def task(self) -> str:
        return self.worked.task

    @property
    def category(self) -> Category:
        return self.worked.category

    @property
    def unit(self) -> Unit:
        return self.price.unit

    @property
    def base_rate(self) -> Decimal:
        return self.price.base_rate

    @property
    def multiplier(self) -> Decimal:
        return self.price.multiplier

    @property
    def premium(self) -> str:
        return self.price.premium

    @property
    def unit_price(self) -> Decimal:
        return self.price.unit_price


@value
class RatedEntry:
    entry: TimeEntry
    billable_seconds: int
    adjustments: tuple[Adjustment, ...]
    portions: tuple[Portion, ...]  # empty when no rate applies (see findings)
    findings: tuple[Finding, ...] = ()

    @property
    def amount(self) -> Decimal:
        return sum((p.amount for p in self.portions), Decimal(0))
