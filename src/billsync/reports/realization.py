"""Realization: how much of the value of the work done was actually billed.

Per contract and project, in the contract's currency:

- worked hours: every entry not deleted at the source, billable or not, in any state;
- billable hours: billable seconds as rated (rounding, minimum charge, finance's
  write-ups and write-downs) of the billable work that is not written off, invoiced
  or not;
- billed hours and amount: the entry parts on live invoices (draft or approved), credited
  lines left out, as `line_entries` keeps them (before limit-adjustment lines);
- standard value: every hour of billable work, invoiced or not, written off or not,
  at the rate card: rated by the domain's `rate_entries` as if active, with rounding,
  minimum charge and overtime but without finance's writes and without caps;
- settled value: the part of the standard value whose fate is decided: work on a live
  invoice, and work written off. Work still unbilled is in progress (see the wip
  report), not lost, so it is left out of the ratio;
- realization % = billed amount / settled value, one decimal. Write-offs,
  write-downs and cap write-offs bring it below 100; write-ups above.

Worked example, NSY-2026 at 145.00/h, March invoiced on 2026-04-01:

    A-1  8 h        billed 8.00 h   1160.00
    A-2  4 h        written down 1 h, billed 3.00 h  435.00
    A-3  2 h        written off
    A-4  3 h        April, not yet billed
    A-5  1 h        non-billable task

    worked 18.00  billable 14.00 (8 + 3 + 3)  billed 11.00 h  1595.00
    standard value 17 h x 145.00 = 2465.00   settled (A-1, A-2, A-3) 14 h = 2030.00
    realization 1595.00 / 2030.00 = 78.6 %
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from billsync.domain.entries import EntryState, TimeEntry
from billsync.domain.money import ZERO
from billsync.store.db import Tx

from .book import Book, as_active, hours_of, money, percent

__all__ = ["RealizationRow", "report"]


@dataclass(frozen=True, slots=True)
class RealizationRow:
    contract: str
    project: str
    currency: str
    worked_hours: Decimal
    billable_hours: Decimal
    billed_hours: Decimal
    billed_amount: Decimal
    standard_value: Decimal
    settled_value: Decimal
    realization: Decimal | None  # percent; None when nothing is settled yet


@dataclass
class _Sum:
    currency: str = ""
    worked: int = 0
    billable: int = 0
    billed_seconds: int = 0
    billed: Decimal = ZERO
    standard: Decimal = ZERO
    settled: Decimal = ZERO


def report(tx: Tx, today: dt.date) -> list[RealizationRow]:
    return rows(Book.read(tx, today))


def rows(book: Book) -> list[RealizationRow]:
    sums: dict[tuple[str, str], _Sum] = defaultdict(_Sum)
    work: dict[str, list[TimeEntry]] = defaultdict(list)  # contract -> billable work
    for entry in book.entries:
        contract = book.contract_of(entry)
        if contract is None:
            continue
        total = sums[contract.code, entry.project]
        total.currency = contract.currency
        if not entry.deleted:
            total.worked += entry.duration_seconds
        if book.is_billable_work(entry) or entry.id in book.on_invoice:
            work[contract.code].append(entry)

    for code, entries in work.items():
        contract = book.ws.contracts[code]
        live = [as_active(e) for e in entries if e.state is not EntryState.WRITTEN_OFF]
        rated = book.rate(contract, live)
        standard = book.rate(contract, [as_active(e, writes=False) for e in entries])
        for entry in entries:
            total = sums[code, entry.project]
            if entry.id in rated:
                total.billable += rated[entry.id].billable_seconds
            value = standard[entry.id].amount
            total.standard += value
            if entry.id in book.on_invoice or entry.state is EntryState.WRITTEN_OFF:
                total.settled += value

    for part in book.billed_lines():
        total = sums[part.contract, part.project]
        total.currency = part.currency
        total.billed_seconds += part.seconds
        total.billed += part.amount

    out = []
    for (code, project), total in sorted(sums.items()):
        currency = total.currency
        billed, settled = money(total.billed, currency), money(total.settled, currency)
        out.append(
            RealizationRow(
                contract=code,
                project=project,
                currency=currency,
                worked_hours=hours_of(total.worked),
                billable_hours=hours_of(total.billable),
                billed_hours=hours_of(total.billed_seconds),
                billed_amount=billed,
                standard_value=money(total.standard, currency),
                settled_value=settled,
                realization=percent(billed, settled),
            )
        )
    return out
