"""Billable utilization: how much of each person's worked time was billable work.

For a period (both ends included; by default the last full calendar month before the
report day), per person and cost center, then rolled up per cost center and overall:

- worked hours: every entry not deleted at the source, on its work date (the local
  day at the person's site);
- billable hours: the worked hours of billable work: billable entries on billable
  tasks of projects under a contract, whatever finance then did with them (held and
  written-off work was still client work);
- utilization % = billable hours / worked hours, one decimal.

Worked hours, not rated hours, on both sides: rounding and minimum charges would let
utilization pass 100%. The cost center is the entry's, as mapping resolved it (a
mapping rule, else the person's, else the project's), so a person who worked for two
cost centers has a row in each.

Worked example, March 2026 (report day 2026-04-02):

    kha (CC-NA)    survey 8 h + 4 h, admin (non-billable task) 2 h, 4 h for Kobe
    jdo (CC-YARD)  survey 6 h, 2 h without a project

    level        cost_center  person  worked  billable  utilization
    person       CC-NA        kha      18.00     16.00         88.9
    cost_center  CC-NA                 18.00     16.00         88.9
    person       CC-YARD      jdo       8.00      6.00         75.0
    cost_center  CC-YARD                8.00      6.00         75.0
    total                              26.00     22.00         84.6
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from billsync.domain.contracts import Period
from billsync.domain.periods import period_bounds
from billsync.store.db import Tx

from .book import Book, hours_of, percent

__all__ = ["UtilizationRow", "default_period", "report"]


@dataclass(frozen=True, slots=True)
class UtilizationRow:
    level: str  # person, cost_center, total
    cost_center: str
    person: str
    name: str
    worked_hours: Decimal
    billable_hours: Decimal
    utilization: Decimal | None  # percent; None when nothing was worked


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    """The last full calendar month before `today`: 2026-04-02 -> March 2026."""
    return period_bounds(Period.MONTH, today.replace(day=1) - dt.timedelta(days=1))


def report(
    tx: Tx, today: dt.date, start: dt.date | None = None, end: dt.date | None = None
) -> list[UtilizationRow]:
    if start is None or end is None:
        first, last = default_period(today)
        start, end = start or first, end or last
    return rows(Book.read(tx, today), start, end)


def rows(book: Book, start: dt.date, end: dt.date) -> list[UtilizationRow]:
    if end < start:
        raise ValueError(f"the period ends {end} before it starts {start}")
    worked: dict[tuple[str, str], int] = defaultdict(int)
    billable: dict[tuple[str, str], int] = defaultdict(int)
    for entry in book.entries:
        if entry.deleted or not start <= entry.work_date <= end:
            continue
        key = (entry.cost_center, entry.person or f"?{entry.ref.person}")
        worked[key] += entry.duration_seconds
        if book.is_billable_work(entry):
            billable[key] += entry.duration_seconds

    def row(level: str, center: str, person: str, keys: list[tuple[str, str]]) -> UtilizationRow:
        known = book.ws.people.get(person) if person else None
        seconds = sum(worked[k] for k in keys)
        billed = sum(billable[k] for k in keys)
        return UtilizationRow(
            level=level,
            cost_center=center,
            person=person,
            name=known.name if known else "",
            worked_hours=hours_of(seconds),
            billable_hours=hours_of(billed),
            utilization=percent(Decimal(billed), Decimal(seconds)),
        )

    out: list[UtilizationRow] = []
    for center in sorted({c for c, _ in worked}):
        keys = sorted(k for k in worked if k[0] == center)
        out += [row("person", center, person, [(center, person)]) for _, person in keys]
        out.append(row("cost_center", center, "", keys))
    if worked:
        out.append(row("total", "", "", list(worked)))
    return out
