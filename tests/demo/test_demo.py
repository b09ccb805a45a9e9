"""`billsync demo`: a fresh workspace, three months of messy time, one run, and what a
finance lead sees. The demo is built once for the module (a few seconds)."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from billsync.cli import app
from billsync.demo.run import DemoError, DemoSummary, demo_window, run_demo
from billsync.pipeline.run import run
from billsync.store import audit as audit_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store import outbox as outbox_store
from billsync.store import secrets
from billsync.store.db import Store, make_engine
from billsync.store.tables import (
    connection_secrets,
    invoice_lines,
    invoices,
    line_entries,
    time_entries,
)

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, str]:
    out = io.StringIO()
    summary = run_demo(
        tmp_path_factory.mktemp("demo") / "demo.db",
        today=TODAY,
        console=Console(file=out, width=160),
    )
    return summary, out.getvalue()


@pytest.fixture
def store(built: tuple[DemoSummary, str]):  # type: ignore[no-untyped-def]
    engine = make_engine(built[0].url)
    yield Store(engine, "default")
    engine.dispose()


def test_the_window_is_three_whole_months_and_this_one_so_far() -> None:
    assert demo_window(date(2026, 11, 25)) == (date(2026, 8, 1), 116)
    assert demo_window(date(2027, 1, 1)) == (date(2026, 10, 1), 92)


def test_invoices_are_drafted_in_several_currencies_yen_in_whole_units(built) -> None:  # type: ignore[no-untyped-def]
    summary, _ = built
    drafted = [i for i in summary.invoices if i["id"] in summary.report.drafted]
    currencies = {i["currency"] for i in drafted}
    assert len(currencies) >= 3 and "JPY" in currencies
    assert {i["kind"] for i in drafted} >= {"period", "milestone", "continuous", "threshold"}
    for inv in drafted:
        assert inv["total"] == inv["subtotal"] + inv["tax"] > 0
        if inv["currency"] == "JPY":
            for key in ("subtotal", "tax", "total", "amount_due"):
                assert inv[key] == inv[key].to_integral_value(), (key, inv[key])


def test_yen_lines_are_whole_yen(store: Store) -> None:
    with store.reading() as tx:
        amounts = tx.conn.execute(
            select(invoice_lines.c.amount, invoice_lines.c.unit_price)
            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .where(invoices.c.currency == "JPY")
        ).all()
    assert amounts
    assert all(a == a.to_integral_value() and p == p.to_integral_value() for a, p in amounts)


def test_exceptions_show_each_kind_of_mess(built) -> None:  # type: ignore[no-untyped-def]
    summary, _ = built
    codes = {g["code"] for g in summary.exceptions}
    assert {"entry.not_approved", "entry.overlap", "entry.unmapped", "entry.future"} <= codes
    assert {"entry.duplicate_source"} <= codes
    assert codes & {"cap.exceeded", "cap.warning"}
    assert "rate.missing" not in codes  # every role on every project has a rate


def test_office_time_arrives_through_the_harvest_and_clockify_connections(  # type: ignore[no-untyped-def]
    built, store: Store
) -> None:
    summary, output = built
    with store.reading() as tx:
        by_source = dict(
            tx.conn.execute(
                select(time_entries.c.source, func.count()).group_by(time_entries.c.source)
            ).all()
        )
        people = {
            source: set(tx.conn.execute(
                select(time_entries.c.person).where(time_entries.c.source == source)
            ).scalars())
            for source in ("harvest", "clockify")
        }  # fmt: skip
        malformed = tx.conn.execute(
            select(func.count()).where(time_entries.c.notes.like("[malformed]%"))
        ).scalar_one()
        names: dict[str, list[str]] = {}
        for row in tx.conn.execute(select(connection_secrets).order_by(connection_secrets.c.name)):
            names.setdefault(row.connection, []).append(row.name)
        harvest_token = secrets.get(tx, "harvest", "token")
    # Every entry the sandboxes held came over HTTP; the source is the connection code.
    assert by_source == {
        "harvest": summary.rows["harvest"],
        "clockify": summary.rows["clockify"],
        "payroll": summary.rows["payroll"],
    }
    assert summary.rows["harvest"] > 1000 and summary.rows["clockify"] > 1000
    for code in ("harvest", "clockify"):
        sync = summary.syncs[code]
        assert sync.full and sync.fetched == sync.new == summary.rows[code] and not sync.rejected
    # Bergen tracks in Harvest (rules by name), Houston and Singapore in Clockify (by
    # e-mail): the per-source rules map every office to its people.
    assert {"kha", "hkr", "rso"} <= people["harvest"] and not people["harvest"] & {"smi", "pra"}
    assert {"smi", "kwh", "pra", "twm"} <= people["clockify"] and "kha" not in people["clockify"]
    # Malformed export lines exist only in files: none reached a vendor or the store.
    assert malformed == 0 and summary.imports["payroll"].quarantined == []
    assert "quarantined line" not in output
    # Secrets are stored encrypted, never in the workspace file.
    assert names == {
        "clockify": ["api_key"],
        "harvest": ["token"],
        "qbo": ["client_id", "client_secret", "oauth2_token"],
    }
    assert harvest_token and harvest_token not in summary.connections
    assert "stored" in summary.connections


def test_approved_invoices_are_pushed_and_the_vendor_numbers_printed(  # type: ignore[no-untyped-def]
    built, store: Store
) -> None:
    summary, output = built
    sent = {number: remote for number, remote in summary.pushed.sent}
    assert len(sent) >= 5 and not summary.pushed.failed
    assert set(sent) == set(summary.approved)
    # The sandbox holds exactly the invoices pushed, under billsync's numbers.
    at_vendor = {str(inv["DocNumber"]): inv for inv in summary.at_vendor}
    assert set(at_vendor) == set(sent)
    with store.reading() as tx:
        outbox = {r["number"]: r for r in outbox_store.rows(tx)}
        for number, remote in sent.items():
            inv = invoice_store.get(tx, number)
            qbo = at_vendor[number]
            assert str(qbo["Id"]) == remote.remote_id
            assert Decimal(str(qbo["TotalAmt"])) == inv["amount_due"] == remote.total
            assert outbox[number]["status"] == "sent"
            assert outbox[number]["remote_id"] == remote.remote_id
            assert outbox[number]["remote_number"] == qbo["DocNumber"] == number
            # The printed row: billsync's number beside QuickBooks' Id and DocNumber.
            assert re.search(rf"{number}\s.*\s{remote.remote_id}\s+{qbo['DocNumber']}\s", output), (
                number
            )
    assert "Pushed to QuickBooks Online" in output


def test_holiday_work_is_priced_with_the_holiday_premium(built, store: Store) -> None:  # type: ignore[no-untyped-def]
    with store.reading() as tx:
        premiums = tx.conn.execute(
            select(line_entries.c.premium, line_entries.c.unit_price).where(
                line_entries.c.premium.like("%holiday%")
            )
        ).all()
    assert premiums
    assert built[0].holiday_entry is not None


def test_the_usd_invoices_are_approved_and_the_audit_chain_verifies(built, store: Store) -> None:  # type: ignore[no-untyped-def]
    summary, output = built
    assert summary.audit_intact and summary.audit_events > 0
    assert len(summary.approved) >= 5
    with store.reading() as tx:
        for number in summary.approved:
            inv = invoice_store.get(tx, number)
            assert inv["status"] == "approved" and inv["currency"] == "USD"
        assert audit_store.verify(tx) is None
    assert "chain intact" in output


def test_work_in_progress_is_shown_per_client_and_project(built) -> None:  # type: ignore[no-untyped-def]
    summary, output = built
    projects = {r.project for r in summary.wip}
    assert {"P-1001", "P-2001", "P-3002"} <= projects
    assert all(r.amount is None or r.amount >= 0 for r in summary.wip)
    for title in ("Invoices drafted", "Open exceptions by type", "Work in progress", "Explore"):
        assert title in output


def test_running_again_drafts_nothing_new(built, store: Store) -> None:  # type: ignore[no-untyped-def]
    summary, _ = built
    with store.reading() as tx:
        before = {i["number"]: (i["status"], i["total"]) for i in invoice_store.listing(tx)}
        lines = tx.conn.execute(select(line_entries.c.id)).all()
    again = run(store, today=TODAY, actor="test")
    with store.reading() as tx:
        after = {i["number"]: (i["status"], i["total"]) for i in invoice_store.listing(tx)}
        assert tx.conn.execute(select(line_entries.c.id)).all() == lines
        still_open = {r["code"] for r in exception_store.listing(tx)}
    assert after == before
    assert set(again.drafted) <= {i["id"] for i in summary.invoices}  # a growing draft, unchanged
    assert again.exceptions.opened == 0
    assert {"entry.not_approved", "entry.overlap", "entry.unmapped"} <= still_open


def test_the_demo_replaces_its_own_database_but_no_other_file(tmp_path: Path) -> None:
    quiet = Console(file=io.StringIO())
    other = tmp_path / "precious.db"
    other.write_text("not a demo", encoding="utf-8")
    with pytest.raises(DemoError):
        run_demo(other, today=TODAY, console=quiet, days=3)
    assert other.read_text(encoding="utf-8") == "not a demo"

    path = tmp_path / "demo.db"
    first = run_demo(path, today=TODAY, console=quiet, days=3)
    second = run_demo(path, today=TODAY, console=quiet, days=3)
    assert second.audit_intact
    assert [i["number"] for i in second.invoices] == [i["number"] for i in first.invoices]


def test_the_command_prints_where_the_database_is(tmp_path: Path) -> None:
    path = tmp_path / "cli-demo.db"
    result = CliRunner().invoke(app, ["demo", "--path", str(path), "--today", "2026-03-04"])
    assert result.exit_code == 0, result.output
    assert f"BILLSYNC_DATABASE_URL=sqlite:///{path.resolve()}" in result.output
    assert "Invoices drafted" in result.output
    assert path.exists()


@pytest.mark.parametrize("today", [date(2024, 2, 29), date(2027, 1, 4)])
def test_the_demo_works_for_any_day(tmp_path: Path, today: date) -> None:
    quiet = Console(file=io.StringIO())
    summary = run_demo(tmp_path / "any.db", today=today, console=quiet, days=45)
    assert summary.audit_intact
    drafted = [i for i in summary.invoices if i["id"] in summary.report.drafted]
    assert {"EUR", "JPY", "USD"} <= {i["currency"] for i in drafted}
    assert all(i["total"] >= Decimal(0) for i in drafted)
