"""Unbilled work in progress: what has been worked and not yet invoiced, by age.

Work in progress is every entry that is not on a live invoice (draft or approved), not
deleted at the source, not written off, and billable (entry and task). It is valued
as the pipeline's own `prepare` rates it on the report day: the rated billable hours
and their amount at the rate card, before caps. Held entries, which `prepare` leaves
alone, are rated as if active. Work that cannot be rated (no project, or a project
without a contract) shows its worked hours and no amount.

Each row is one client, project and currency; the amount is split by the age of the
work, in days from its work date to the report day: 0-30, 31-60, 61-90, over 90.
`blocked` is the part held off invoices by an open blocking exception (the queue as
the last run left it), `held` the part finance put on hold.

Worked example, report day 2026-04-02, contract NSY-2026 at 145.00/h (naval
architect) and 95.50/h (welder), March already invoiced:

    kha  2026-04-01  3 h  approved              ->    435.00   age 1
    jdo  2026-03-04  6 h  submitted (blocked)   ->    573.00   age 29
    kha  2026-01-15  2 h  submitted (blocked)   ->    290.00   age 77
    kha  2025-12-01  1 h  held                  ->    145.00   age 122

    client  project  currency  hours  amount   0-30     31-60  61-90   over 90  blocked  held
    nordic  P-1001   EUR       12.00  1443.00  1008.00  0.00   290.00  145.00   863.00   145.00
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from billsync.domain.entries import EntryState, TimeEntry
from billsync.domain.money import ZERO
from billsync.store import exceptions as exception_store
from billsync.store.db import Tx

from .book import Book, as_active, hours_of, money

__all__ = ["AGE_LIMITS", "WipRow", "report", "totals"]

AGE_LIMITS = (30, 60, 90)  # the last day of each bucket but the open-ended last
UNMAPPED = "(unmapped)"


@dataclass(frozen=True, slots=True)
class WipRow:
    client: str
    project: str
    currency: str  # "" for work that cannot be rated
    hours: Decimal
    amount: Decimal | None  # None: no rate card to value it with
    age_0_30: Decimal | None
    age_31_60: Decimal | None
    age_61_90: Decimal | None
    age_over_90: Decimal | None
    blocked: Decimal | None
    held: Decimal | None


@dataclass
class _Sum:
    seconds: int = 0
    amount: Decimal = ZERO
    ages: list[Decimal] = field(default_factory=lambda: [ZERO] * (len(AGE_LIMITS) + 1))
    blocked: Decimal = ZERO
    held: Decimal = ZERO


def age_bucket(work_date: dt.date, today: dt.date) -> int:
    """0 for 0-30 days old (future work too), 1 for 31-60, 2 for 61-90, 3 beyond."""
    age = (today - work_date).days
    return next((i for i, limit in enumerate(AGE_LIMITS) if age <= limit), len(AGE_LIMITS))


def is_wip(book: Book, entry: TimeEntry) -> bool:
    return (
        entry.id not in book.on_invoice
        and not entry.deleted
        and entry.state is not EntryState.WRITTEN_OFF
        and entry.billable
    )


def report(tx: Tx, today: dt.date) -> list[WipRow]:
    return rows(Book.read(tx, today))


def rows(book: Book) -> list[WipRow]:
    blocked = exception_store.blocked_entries(book.tx)
    work = [e for e in book.entries if is_wip(book, e)]
    rated = dict(book.prep.rated)
    held: dict[str, list[TimeEntry]] = defaultdict(list)
    for entry in work:
        contract = book.contract_of(entry)
        if contract is not None and entry.state is EntryState.HELD:
            held[contract.code].append(as_active(entry))
    for code, entries in held.items():
        rated.update(book.rate(book.ws.contracts[code], entries))

    sums: dict[tuple[str, str, str], _Sum] = defaultdict(_Sum)
    for entry in work:
        contract = book.contract_of(entry)
        project = entry.project or UNMAPPED
        key = (book.client_of(entry.project), project, contract.currency if contract else "")
        total = sums[key]
        if contract is None:
            total.seconds += entry.duration_seconds
            continue
        valued = rated[entry.id]
        total.seconds += valued.billable_seconds
        total.amount += valued.amount
        total.ages[age_bucket(entry.work_date, book.today)] += valued.amount
        if entry.id in blocked:
            total.blocked += valued.amount
        if entry.state is EntryState.HELD:
            total.held += valued.amount
    return [_row(key, sums[key]) for key in sorted(sums)]


def _row(key: tuple[str, str, str], total: _Sum) -> WipRow:
    client, project, currency = key

    def shown(amount: Decimal) -> Decimal | None:
        return money(amount, currency) if currency else None

    fresh, month, quarter, older = (shown(a) for a in total.ages)
    return WipRow(
        client=client,
        project=project,
        currency=currency,
        hours=hours_of(total.seconds),
        amount=shown(total.amount),
        age_0_30=fresh,
        age_31_60=month,
        age_61_90=quarter,
        age_over_90=older,
        blocked=shown(total.blocked),
        held=shown(total.held),
    )


def totals(rows: list[WipRow]) -> list[WipRow]:
    """One "Total" row per currency (work without a rate card adds its hours only)."""
    out = []
    for currency in sorted({r.currency for r in rows}):
        same = [r for r in rows if r.currency == currency]

        def add(name: str, same: list[WipRow] = same) -> Decimal | None:
            values = [getattr(r, name) for r in same]
            return None if None in values else sum(values, ZERO)

        out.append(
            WipRow(
                client="Total",
                project="",
                currency=currency,
                hours=sum((r.hours for r in same), ZERO),
                amount=add("amount"),
                age_0_30=add("age_0_30"),
                age_31_60=add("age_31_60"),
                age_61_90=add("age_61_90"),
                age_over_90=add("age_over_90"),
                blocked=add("blocked"),
                held=add("held"),
            )
        )
    return out
