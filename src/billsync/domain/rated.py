"""What rating makes of an entry: billable time beside worked time, priced in portions.

An entry of 10 h on a weekday under "daily overtime after 8 h at 1.5x", 15-minute
rounding and a 145.00/h rate becomes two portions:

    8.00 h x 145.00 = 1160.00   (premium "")
    2.00 h x 217.50 =  435.00   (premium "daily", multiplier 1.5)

Portions are what invoice lines group; each keeps the entry id and revision it bills.
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
class Portion:
    entry_id: int
    revision: int
    person: str
    role: str
    project: str
    phase: str
    task: str
    category: Category
    work_date: date
    seconds: int  # billable seconds in this portion
    unit: Unit
    quantity: Decimal  # exact hours, or days for a day rate
    base_rate: Decimal
    multiplier: Decimal
    premium: str  # "", "daily", "weekly", "weekend", "holiday", or joined with "+"
    unit_price: Decimal  # base_rate x multiplier, quantized to the currency
    amount: Decimal  # quantity x unit_price, exact (lines quantize)


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
