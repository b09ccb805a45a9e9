"""Exceptions and leakage: what stands between the work and the invoice, and what
will never be billed, with hours and amounts per currency.

Two sections:

- `exception`: the open exceptions queue (as the last run left it) by code, with the
  count and the hours and amounts the findings recorded (most findings carry hours
  only; cap findings carry both). A code with no amount shows none, not a zero.
- `leakage`, by type:
  - `written_off`: entries finance wrote off, valued as the domain rates them were
    they active (rounding, minimum charge, writes, overtime among themselves);
  - `cap_write_off`: work beyond a cap whose contract writes the excess off, as the
    pipeline's `prepare` finds it on the report day. This is work not yet invoiced:
    once the rest of an entry is invoiced, `prepare` no longer sees its excess;
  - `write_down`: finance's write-downs of billable time (billed or not, not written
    off), valued as the difference they make to the entry's rated amount, so a
    write-down of overtime is valued at the overtime price.

Worked example, NSY-2026 at 145.00/h, KOBE-1 at 18000 JPY/h with a 3 h cap that
writes off what is beyond it, report day 2026-04-02:

    L-3  kha  5 h  written off                             ->  725.00 EUR
    L-4  kha  2 h  written down by 30 min                  ->   72.50 EUR
    L-5  jdo  6 h  submitted, not approved (blocking)
    L-7  kha  4 h  for Kobe in April: 1 h beyond the cap   -> 18000 JPY

    section    type                currency  count  hours  amount
    exception  cap.exceeded        JPY           1   1.00   18000
    exception  cap.warning         JPY           1   3.00   54000
    exception  entry.not_approved  EUR           1   6.00
    leakage    written_off         EUR           1   5.00  725.00
    leakage    cap_write_off       JPY           1   1.00   18000
    leakage    write_down          EUR           1   0.50   72.50
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from billsync.domain.contracts import OverCap
from billsync.domain.entries import EntryState, TimeEntry
from billsync.domain.money import ZERO, hours, quantity
from billsync.store import exceptions as exception_store
from billsync.store.db import Tx

from .book import Book, as_active, money

__all__ = ["LEAKAGE_TYPES", "LeakageRow", "report"]

LEAKAGE_TYPES = ("written_off", "cap_write_off", "write_down")
WRITE_DOWN = "write_down"


@dataclass(frozen=True, slots=True)
class LeakageRow:
    section: str  # exception, leakage
    type: str  # the exception code, or one of LEAKAGE_TYPES
    currency: str  # "" for findings with no contract
    count: int  # exceptions, or entries
    hours: Decimal | None
    amount: Decimal | None


@dataclass
class _Sum:
    ids: set[int] = field(default_factory=set)
    count: int = 0
    hours: Decimal | None = None
    amount: Decimal | None = None

    def add(self, hours: Decimal | None, amount: Decimal | None) -> None:
        if hours is not None:
            self.hours = (self.hours or ZERO) + hours
        if amount is not None:
            self.amount = (self.amount or ZERO) + amount


def report(tx: Tx, today: dt.date) -> list[LeakageRow]:
    return rows(Book.read(tx, today))


def rows(book: Book) -> list[LeakageRow]:
    return [*_exceptions(book), *_leakage(book)]


def _currency(book: Book, contract: str) -> str:
    found = book.ws.contracts.get(contract)
    return found.currency if found else ""


def _row(section: str, kind: str, currency: str, total: _Sum) -> LeakageRow:
    amount = total.amount
    if amount is not None and currency:
        amount = money(amount, currency)
    shown = None if total.hours is None else quantity(total.hours)
    return LeakageRow(section, kind, currency, total.count or len(total.ids), shown, amount)


def _exceptions(book: Book) -> list[LeakageRow]:
    sums: dict[tuple[str, str], _Sum] = defaultdict(_Sum)
    for row in exception_store.listing(book.tx, status=exception_store.OPEN):
        total = sums[row["code"], _currency(book, row["contract"])]
        total.count += 1
        total.add(row["hours"], row["amount"])
    return [_row("exception", code, cur, sums[code, cur]) for code, cur in sorted(sums)]


def _leakage(book: Book) -> list[LeakageRow]:
    sums: dict[tuple[str, str], _Sum] = defaultdict(_Sum)
    for kind, currency, entry_ids, lost_hours, amount in [
        *_written_off(book),
        *_cap_write_offs(book),
        *_write_downs(book),
    ]:
        total = sums[kind, currency]
        total.ids.update(entry_ids)
        total.add(lost_hours, amount)
    order = {kind: i for i, kind in enumerate(LEAKAGE_TYPES)}
    keys = sorted(sums, key=lambda k: (order[k[0]], k[1]))
    return [_row("leakage", kind, cur, sums[kind, cur]) for kind, cur in keys]


_Item = tuple[str, str, Iterable[int], Decimal | None, Decimal | None]


def _by_contract(book: Book, entries: Iterable[TimeEntry]) -> dict[str, list[TimeEntry]]:
    out: dict[str, list[TimeEntry]] = defaultdict(list)
    for entry in entries:
        contract = book.contract_of(entry)
        if contract is not None:
            out[contract.code].append(entry)
    return out


def _written_off(book: Book) -> list[_Item]:
    chosen = (
        e
        for e in book.entries
        if e.state is EntryState.WRITTEN_OFF
        and book.is_billable_work(e)
        and e.id not in book.on_invoice
    )
    items: list[_Item] = []
    for code, entries in _by_contract(book, chosen).items():
        contract = book.ws.contracts[code]
        for rated in book.rate(contract, [as_active(e) for e in entries]).values():
            items.append(
                (
                    "written_off",
                    contract.currency,
                    [rated.entry.id],
                    hours(rated.billable_seconds),
                    rated.amount,
                )
            )
    return items


def _cap_write_offs(book: Book) -> list[_Item]:
    return [
        ("cap_write_off", _currency(book, f.contract), f.entry_ids, f.hours, f.amount)
        for f in book.prep.findings
        if f.code == "cap.exceeded" and f.details.get("on_exceed") == OverCap.WRITE_OFF.value
    ]


def _write_downs(book: Book) -> list[_Item]:
    chosen = (
        e
        for e in book.entries
        if any(w.reason == WRITE_DOWN for w in e.adjustments)
        and e.state is not EntryState.WRITTEN_OFF
        and (book.is_billable_work(e) or e.id in book.on_invoice)
    )
    items: list[_Item] = []
    for code, entries in _by_contract(book, chosen).items():
        contract = book.ws.contracts[code]
        written = book.rate(contract, [as_active(e) for e in entries])
        without = book.rate(contract, [as_active(_without_write_downs(e)) for e in entries])
        for entry in entries:
            seconds = without[entry.id].billable_seconds - written[entry.id].billable_seconds
            amount = without[entry.id].amount - written[entry.id].amount
            items.append(("write_down", contract.currency, [entry.id], hours(seconds), amount))
    return items


def _without_write_downs(entry: TimeEntry) -> TimeEntry:
    return replace(entry, adjustments=tuple(w for w in entry.adjustments if w.reason != WRITE_DOWN))
