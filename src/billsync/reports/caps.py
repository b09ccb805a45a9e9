"""Cap burn: how much of each not-to-exceed cap is used, and what is about to use it.

Per contract and cap (`Cap.key`; period caps once per period with work, and for the
period containing the report day), in the contract's currency:

- limit hours / amount: the cap's, raised by the variation orders approved and
  effective on the report day (`domain.caps.cap_limits`); empty when the cap sets none;
- used: what live invoices (draft or approved) billed against it, credited lines
  left out (`store.invoices.cap_usage`, the same figure the pipeline caps with);
- pending: the billable portions the pipeline's `prepare` would put on the next
  invoice (after caps, not blocked, not yet on an invoice) that fall under the cap;
- burned % = used / limit, one decimal;
- status: `reached` when used is at or beyond a limit, else `passed N%` for the
  highest `warn_at` level used has passed on either measure, else `ok`.

Worked example. NSY-2026 caps phase design at 20 h (variation VO-1, approved and
effective 2026-03-15, adds 5 h), warning at 80% and 90%; 16 h of March were invoiced
and 3 h of April wait:

    contract  cap           limit_hours  used_hours  pending_hours  burned_hours  status
    NSY-2026  phase/design        25.00       16.00           3.00          64.0  ok

On 2026-03-10, before VO-1 counts, the same 16 h burn 80.0% of 20 h: `passed 80%`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

# Which portions a cap counts is the domain's rule, though domain.caps does not export it.
from billsync.domain.caps import cap_limits, covers, portion_hours, usage_key
from billsync.domain.contracts import Cap, CapScope, Contract
from billsync.domain.money import ZERO, quantity
from billsync.domain.periods import period_label
from billsync.store import invoices as invoice_store
from billsync.store.db import Tx

from .book import Book, money, percent

__all__ = ["CapRow", "report"]


@dataclass(frozen=True, slots=True)
class CapRow:
    contract: str
    cap: str  # Cap.key: contract, phase/design, task/survey, period/month
    period: str  # for period caps: 2026-03, 2026-W10, ...; else ""
    currency: str
    on_exceed: str
    limit_hours: Decimal | None
    used_hours: Decimal
    pending_hours: Decimal
    burned_hours: Decimal | None  # percent of the hours limit
    limit_amount: Decimal | None
    used_amount: Decimal
    pending_amount: Decimal
    burned_amount: Decimal | None  # percent of the amount limit
    warn_at: str  # the cap's warning levels in percent: "80, 90"
    status: str  # ok, passed 80%, reached


def report(tx: Tx, today: dt.date) -> list[CapRow]:
    return rows(Book.read(tx, today))


def rows(book: Book) -> list[CapRow]:
    out: list[CapRow] = []
    for _, contract in sorted(book.ws.contracts.items()):
        if contract.caps:
            out += _contract_rows(book, contract)
    return out


def _contract_rows(book: Book, contract: Contract) -> list[CapRow]:
    used = invoice_store.cap_usage(book.tx, contract, book.today)
    pending_hours: dict[str, Decimal] = defaultdict(lambda: ZERO)
    pending_amount: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for portion in book.prep.portions.get(contract.code, []):
        if portion.entry_id in book.on_invoice:
            continue  # on a growing draft: already in `used`
        for cap in contract.caps:
            if covers(cap, portion.phase, portion.task):
                key = usage_key(cap, portion.work_date)
                pending_hours[key] += portion_hours(portion)
                pending_amount[key] += portion.amount

    out = []
    for cap in contract.caps:
        limit_hours, limit_amount = cap_limits(contract, cap, book.today)
        for key in _keys(cap, {*used.hours, *pending_hours}, book.today):
            hours_used = used.hours.get(key, ZERO)
            amount_used = used.amount.get(key, ZERO)
            out.append(
                CapRow(
                    contract=contract.code,
                    cap=cap.key,
                    period=_period(cap, key),
                    currency=contract.currency,
                    on_exceed=str(cap.on_exceed),
                    limit_hours=_shown(limit_hours, quantity),
                    used_hours=quantity(hours_used),
                    pending_hours=quantity(pending_hours[key]),
                    burned_hours=_burned(hours_used, limit_hours),
                    limit_amount=_shown(limit_amount, lambda a: money(a, contract.currency)),
                    used_amount=money(amount_used, contract.currency),
                    pending_amount=money(pending_amount[key], contract.currency),
                    burned_amount=_burned(amount_used, limit_amount),
                    warn_at=", ".join(f"{level.normalize():f}" for level in cap.warn_at),
                    status=_status(cap, [(hours_used, limit_hours), (amount_used, limit_amount)]),
                )
            )
    return out


def _shown(limit: Decimal | None, show: Callable[[Decimal], Decimal]) -> Decimal | None:
    return None if limit is None else show(limit)


def _keys(cap: Cap, known: set[str], today: dt.date) -> list[str]:
    """The usage keys of a cap: one, or for a period cap one per period with work and
    the period containing `today`."""
    if cap.scope is not CapScope.PERIOD:
        return [cap.key]
    return sorted({k for k in known if k.startswith(f"{cap.key}@")} | {usage_key(cap, today)})


def _period(cap: Cap, key: str) -> str:
    if cap.period is None or "@" not in key:
        return ""
    return period_label(cap.period, dt.date.fromisoformat(key.split("@", 1)[1]))


def _burned(used: Decimal, limit: Decimal | None) -> Decimal | None:
    return None if limit is None else percent(used, limit)


def _status(cap: Cap, measures: list[tuple[Decimal, Decimal | None]]) -> str:
    limited = [(used, limit) for used, limit in measures if limit is not None]
    if any(used >= limit for used, limit in limited):
        return "reached"
    passed = [t for t in cap.warn_at for used, limit in limited if used * 100 >= t * limit]
    return f"passed {max(passed).normalize():f}%" if passed else "ok"
