"""Stories of not-to-exceed caps: held work, write-offs, limit adjustments, and a
variation order that raises the cap."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billsync.reports import caps as caps_report
from support.firm import Firm, entry


def capped(on_exceed: str, variations: str = "") -> str:
    return f"""
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    rates: [{{role: naval-architect, rate: 100}}]
    caps: [{{scope: contract, hours: 20, warn_at: [75], on_exceed: {on_exceed}}}]
{variations}"""


WEEK = [entry(f"A-{d}", f"2026-03-0{d}", "8") for d in range(2, 5)]  # 24 h against 20 h


def test_work_beyond_a_hold_cap_waits_whole_until_a_variation_order(firm: Firm) -> None:
    firm.setup(capped("hold")).import_rows(WEEK)
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1600.00")  # two whole entries; the third waits
    assert "cap.exceeded" in firm.codes()
    firm.setup(
        capped(
            "hold",
            """    variations:
      - {code: VO-1, effective: 2026-04-01, approved: true, cap: contract, cap_hours: 10}""",
        )
    )
    firm.run("2026-04-02")
    assert [i["subtotal"] for i in firm.invoices()] == [Decimal("1600.00"), Decimal("800.00")]
    assert "cap.exceeded" not in firm.codes()


def test_work_beyond_a_write_off_cap_is_left_off_and_reported(firm: Firm) -> None:
    firm.setup(capped("write_off")).import_rows(WEEK)
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("2000.00")  # 20 h; 4 h written off
    (exceeded,) = [e for e in firm.open_exceptions() if e["code"] == "cap.exceeded"]
    assert exceeded["severity"] == "warning" and exceeded["amount"] == Decimal("400.00")


def test_bill_and_adjust_shows_the_work_then_takes_the_excess_off(firm: Firm) -> None:
    firm.setup(capped("bill_and_adjust")).import_rows(WEEK)
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    lines = firm.lines(invoice["id"])
    assert lines[0][1:] == ("24.00", "100.00", "2400.00")
    assert lines[1][1:] == ("1.00", "-400.00", "-400.00")
    assert invoice["subtotal"] == Decimal("2000.00")


def test_a_cap_warning_is_raised_when_use_passes_its_level(firm: Firm) -> None:
    firm.setup(capped("hold")).import_rows(WEEK[:2])  # 16 h of 20: 80% > 75%
    firm.run("2026-04-01")
    (warning,) = [e for e in firm.open_exceptions() if e["code"] == "cap.warning"]
    assert warning["severity"] == "warning" and "80%" in warning["message"]


def test_work_adjusted_off_does_not_count_against_the_cap(firm: Firm) -> None:
    firm.setup(capped("bill_and_adjust")).import_rows(WEEK)
    firm.run("2026-04-01")
    with firm.store.reading() as tx:
        (row,) = caps_report.report(tx, dt.date(2026, 4, 2))
    assert (row.used_hours, row.burned_hours) == (Decimal("20"), Decimal("100.0"))
