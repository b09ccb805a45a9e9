"""What every report reads: the pipeline's own view of the work, and the billed record.

A report never prices work itself. `Book.read` runs the pipeline's `prepare` (map,
validate, rate, cap) inside the caller's transaction, so unbilled work is valued
exactly as the next run would value it; a report opened with `store.reading()` rolls
everything back, so reading a report changes nothing. Work that `prepare` does not
rate (held or written-off entries, work already invoiced) is priced by the domain's
own `rate_entries`, as if it were active (`as_active`).

    book = Book.read(tx, today=date(2026, 4, 2))
    book.contract_of(entry)  -> Contract NSY-2026 (through the entry's project)
    book.on_invoice          -> {entry id: revision} of every entry on a live invoice
    book.billed_lines()      -> each billed part of an entry, with its contract and amount

Figures are exact until shown: `money` quantizes to the currency's minor unit at the
end, `hours_of` prints two decimals, `percent` one. Amounts of different currencies
are never added: every report keys its rows by currency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from billsync.domain.contracts import Contract
from billsync.domain.entries import EntryState, TimeEntry
from billsync.domain.money import hours, quantity, quantize
from billsync.domain.rated import RatedEntry
from billsync.domain.rating import PersonInfo, rate_entries
from billsync.pipeline.batches import contracts_by_project, people_info
from billsync.pipeline.run import Prepared, prepare
from billsync.pipeline.workspace import Workspace
from billsync.store import invoices as invoice_store
from billsync.store.db import Tx
from billsync.store.tables import invoice_lines, invoices, line_entries, time_entries

__all__ = ["BilledPart", "Book", "as_active", "hours_of", "money", "percent"]

PERCENT_EXPONENT = Decimal("0.1")


def money(amount: Decimal, currency: str) -> Decimal:
    return quantize(amount, currency)


def hours_of(seconds: int) -> Decimal:
    return quantity(hours(seconds))


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole in percent with one decimal (half up); None when whole is zero."""
    if not whole:
        return None
    return (part * 100 / whole).quantize(PERCENT_EXPONENT, rounding=ROUND_HALF_UP)


def as_active(entry: TimeEntry, *, writes: bool = True) -> TimeEntry:
    """The entry as rating would see it were it active and billable: how held,
    written-off and invoiced work is valued. Without `writes`, finance's write-ups
    and write-downs are left out (the rate-card value of the work as recorded)."""
    return replace(
        entry,
        state=EntryState.ACTIVE,
        deleted=False,
        billable=True,
        adjustments=entry.adjustments if writes else (),
    )


@dataclass(frozen=True, slots=True)
class BilledPart:
    """One part of an entry on a live invoice line that was not credited."""

    entry_id: int
    contract: str
    currency: str
    project: str  # the entry's project now
    seconds: int
    amount: Decimal  # exact, as the line_entries row keeps it


@dataclass
class Book:
    tx: Tx
    today: dt.date
    prep: Prepared
    on_invoice: dict[int, int]  # entry id -> revision on a live invoice (drafts included)
    people: dict[str, PersonInfo]
    by_project: dict[str, Contract]

    @classmethod
    def read(cls, tx: Tx, today: dt.date) -> Book:
        prep = prepare(tx, today)
        return cls(
            tx=tx,
            today=today,
            prep=prep,
            on_invoice=invoice_store.billed_revisions(tx),
            people=people_info(prep.ws),
            by_project=contracts_by_project(prep.ws),
        )

    @property
    def ws(self) -> Workspace:
        return self.prep.ws

    @property
    def entries(self) -> Iterable[TimeEntry]:
        """Every current entry, mapped, with non-billable tasks applied."""
        return self.prep.entries.values()

    def contract_of(self, entry: TimeEntry) -> Contract | None:
        return self.by_project.get(entry.project)

    def client_of(self, project: str) -> str:
        found = self.ws.projects.get(project)
        return found.client if found else ""

    def is_billable_work(self, entry: TimeEntry) -> bool:
        """Work a client should pay for: billable (entry and task), not deleted at the
        source, on a project under a contract."""
        return entry.billable and not entry.deleted and self.contract_of(entry) is not None

    def rate(self, contract: Contract, entries: Sequence[TimeEntry]) -> dict[int, RatedEntry]:
        """Rate entries of one contract together (overtime counts across them)."""
        return {r.entry.id: r for r in rate_entries(entries, contract, self.people)}

    def billed_lines(self) -> list[BilledPart]:
        """Every billed part of an entry on a live invoice, credited lines left out."""
        query = (
            select(
                line_entries.c.entry_id,
                line_entries.c.seconds,
                line_entries.c.amount,
                invoices.c.contract,
                invoices.c.currency,
                time_entries.c.project,
            )
            .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .join(time_entries, time_entries.c.id == line_entries.c.entry_id)
            .where(
                invoices.c.workspace_id == self.tx.workspace_id,
                invoices.c.status.in_(invoice_store.LIVE),
                invoice_lines.c.credited_by.is_(None),
            )
            .order_by(line_entries.c.id)
        )
        return [
            BilledPart(r.entry_id, r.contract, r.currency, r.project, r.seconds, r.amount)
            for r in self.tx.conn.execute(query)
        ]
