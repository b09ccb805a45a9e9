"""The `billsync` command, end to end, as a finance lead would type it."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from billsync.cli import app
from billsync.store import audit as audit_store
from billsync.store import invoices as invoice_store
from billsync.store.db import Store
from billsync.store.tables import audit_events

FIRM = Path(__file__).parent.parent / "fixtures" / "firm.yaml"
TIME = """external_id,person,project,task,date,hours,timezone,approval
A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved
A-2,kha,P-1001,survey,2026-03-03,10,Europe/Oslo,approved
A-3,kha,P-1001,survey,2026-03-04,8,Europe/Oslo,submitted
"""


@pytest.fixture
def cli(store: Store, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("BILLSYNC_DATABASE_URL", db_url)
    monkeypatch.setenv("BILLSYNC_WORKSPACE", store.workspace)
    monkeypatch.setenv("BILLSYNC_ACTOR", "cfo@firm")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Any:
        result = runner.invoke(app, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        else:
            assert result.exit_code != 0, result.output
        return result

    return invoke


def test_apply_import_run_and_read_the_invoice(cli: Any, tmp_path: Path) -> None:
    assert "+ contract NSY-2026" in cli("apply", "-f", str(FIRM)).output
    assert "= 11 unchanged" in cli("apply", "-f", str(FIRM)).output
    (tmp_path / "t.csv").write_text(TIME)
    assert "3 new" in cli("import", "t.csv").output
    assert "1 invoice(s) drafted" in cli("run", "--today", "2026-04-02").output
    listed = json.loads(cli("invoices", "list", "--format", "json").output)
    assert [(i["number"], i["total"]) for i in listed] == [("INV-000001", "3171.88")]
    shown = cli("invoices", "show", "INV-000001").output
    assert "17.50" in shown and "2537.50" in shown and "3171.88 EUR" in shown
    doc = json.loads(cli("invoices", "export", "INV-000001").output)
    assert [d["external_id"] for d in doc["time_detail"]] == ["A-1", "A-2"]
    assert (doc["client_name"], doc["tax_name"], doc["credit_of"]) == (
        "Nordic Shipyards AS",
        "VAT",
        None,
    )
    csv_text = cli("invoices", "export", "INV-000001", "--format", "csv").output
    assert csv_text.splitlines()[1].startswith("line:time,1,")
    exceptions = json.loads(cli("exceptions", "list", "--format", "json").output)
    assert [e["code"] for e in exceptions] == ["entry.not_approved"]
    cli("exceptions", "waive", str(exceptions[0]["id"]), "--reason", "approved by phone")
    assert (
        "1 invoice(s) drafted"
        in cli(
            "invoice",
            "--contract",
            "NSY-2026",
            "--reason",
            "early billing",
            "--today",
            "2026-04-03",
        ).output
    )
    cli("invoices", "approve", "INV-000001")
    cli("invoices", "approve", "INV-000001", ok=False)
    assert "entries freed" in cli("invoices", "void", "INV-000002", "--reason", "dup").output
    assert "audit chain intact" in cli("audit", "verify").output
    story = cli("audit", "show", "--entry", str(doc["time_detail"][0]["entry_id"])).output
    assert "raw record" in story and "billed on INV-000001" in story
    events = [json.loads(line) for line in cli("audit", "export").output.splitlines()]
    assert {"invoice.approved", "exception.waived", "invoice.voided"} <= {
        e["action"] for e in events
    }
    assert all(e["actor"] in ("cfo@firm",) for e in events)


def test_a_bad_file_is_rejected_naming_line_and_field(cli: Any, tmp_path: Path) -> None:
    cli("apply", "-f", str(FIRM))
    (tmp_path / "bad.csv").write_text(TIME + "A-4,kha,P-1001,survey,2026-13-01,8,UTC,approved\n")
    result = cli("import", "bad.csv", ok=False)
    assert "bad.csv:5: date: '2026-13-01' is not a date (YYYY-MM-DD)" in result.output
    assert "1 quarantined" in cli("import", "bad.csv", "--partial").output


def test_a_bad_workspace_file_names_file_path_and_field(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FIRM.read_text().replace('imo: "9074729"', 'imo: "9074728"'))
    result = cli("apply", "-f", str(bad), ok=False)
    assert f"{bad}: projects[0].vessel.imo:" in result.output
    assert "nothing was changed" in result.output
    # Printed as typed: Rich would show ":up:" as an emoji.
    bad.write_text("people: [{code: 'p:x:1', name: z, role: r, site: 'yard:up:1'}]\n")
    said = cli("apply", "-f", str(bad), ok=False).output
    assert "people[p:x:1].site: unknown site 'yard:up:1'" in said


def test_audit_verify_fails_on_an_edited_event(cli: Any, store: Store) -> None:
    cli("apply", "-f", str(FIRM))
    with store.engine.begin() as conn:
        conn.execute(
            update(audit_events).where(audit_events.c.seq == 3).values(action="client.deleted")
        )
    result = cli("audit", "verify", ok=False)
    assert result.exit_code == 1
    assert "audit chain broken at event 3" in result.output


def test_finance_actions_and_project_status(cli: Any, tmp_path: Path) -> None:
    cli("apply", "-f", str(FIRM))
    (tmp_path / "t.csv").write_text(TIME)
    cli("import", "t.csv")
    entries = json.loads(cli("entries", "list", "--format", "json").output)
    first = str(entries[0]["id"])
    assert "1 entries held" in cli("entries", "hold", first, "--reason", "dispute").output
    cli("entries", "hold", first, "--reason", "again", ok=False)
    assert "1 entries released" in cli("entries", "release", first, "--reason", "ok").output
    assert (
        "adjusted by -30 min"
        in cli("entries", "adjust", first, "--minutes", "-30", "--note", "rework").output
    )
    cli("periods", "lock", "--through", "2026-02-28", "--reason", "Feb closed")
    out = cli("project", "status", "P-1001", "ready_for_billing", "--today", "2026-03-10").output
    assert "project P-1001: ready_for_billing" in out and "1 invoice(s) drafted" in out


def test_a_setting_the_store_cannot_keep_is_named_before_anything_happens(
    cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "t.csv").write_text(TIME)
    monkeypatch.setenv("BILLSYNC_ACTOR", "a" * 201)
    refused = cli("import", "t.csv", ok=False)
    assert refused.output.strip() == (
        "error: BILLSYNC_ACTOR: String should have at most 200 characters"
    )
    monkeypatch.setenv("BILLSYNC_ACTOR", "a" * 200)
    monkeypatch.setenv("BILLSYNC_WORKSPACE", "w" * 65)
    assert "BILLSYNC_WORKSPACE: String should have at most 64" in cli("run", ok=False).output
    monkeypatch.setenv("BILLSYNC_WORKSPACE", "w" * 64)
    assert "3 new" in cli("import", "t.csv").output  # at the limits, kept on every backend


def test_mistyped_arguments_are_refused_and_change_nothing(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # usage errors on one line each
    cli("apply", "-f", str(FIRM))
    (tmp_path / "t.csv").write_text(TIME)
    cli("import", "t.csv")
    cli("run", "--today", "2026-04-02")
    before = cli("audit", "export").output
    refusals = {
        ("entries", "hold", "3-1", "--reason", "x"): "the range '3-1' goes down",
        ("entries", "hold", "99999999999999999999", "--reason", "x"): "is not an entry id",
        ("entries", "hold", "\u00b2", "--reason", "x"): "is not an entry id",
        ("entries", "hold", "1-2000000", "--reason", "x"): "names more than 1,000,000 at once",
        ("entries", "list", "--state", "hold"): "Invalid value for '--state'",
        ("entries", "list", "--limit", "-1"): "Invalid value for '--limit'",
        ("exceptions", "list", "--status", "resolve"): "Invalid value for '--status'",
        ("invoices", "list", "--status", "aproved"): "Invalid value for '--status'",
        ("exceptions", "show", "99999999999999999999"): "Invalid value for 'exception_id'",
        ("audit", "show", "--entry", "99999999999999999999"): "Invalid value for '--entry'",
        ("export", "-o", str(tmp_path)): f"error: {tmp_path}: Is a directory",
        ("invoices", "export", "INV-000001", "-o", str(tmp_path / "no" / "x.json")): (
            "No such file or directory"
        ),
        ("run", "--today", "9999-12-31"): "--today 9999-12-31: use a day from 1900-01-01",
        ("periods", "lock", "--through", "2062-10-31", "--reason", "x"): "is after today",
        ("reports", "utilization", "--from", "2026-12-01", "--today", "2026-11-26"): (
            "--from 2026-12-01 is after last month's end (2026-10-31): give --to as well"
        ),
        (
            "invoice",
            "--contract",
            "NSY-2026",
            "--reason",
            "x",
            "--release-retainage",
            "--through",
            "2026-01-01",
        ): "leave --through out",
    }
    for args, said in refusals.items():
        assert said in cli(*args, ok=False).output, args
    assert cli("audit", "export").output == before
    # Only * is a wildcard: "_" is a code's own character, not any character.
    listed = json.loads(cli("exceptions", "list", "--format", "json").output)
    assert [e["code"] for e in listed] == ["entry.not_approved"]
    mistyped = cli("exceptions", "list", "--code", "entry_not_approved", "--format", "json")
    assert json.loads(mistyped.output) == []
    starred = cli("exceptions", "list", "--code", "entry.not_*", "--format", "json")
    assert len(json.loads(starred.output)) == 1


def test_a_database_url_that_does_not_open_is_named_without_its_password(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for url, said in (
        ("bogus", "BILLSYNC_DATABASE_URL 'bogus': Could not parse"),
        ("postgresql+psycopg://finance:hunter2@127.0.0.1:1/books", "finance:***@127.0.0.1:1"),
        ("sqlite:////nonexistent/folder/x.db", "unable to open database file"),
    ):
        monkeypatch.setenv("BILLSYNC_DATABASE_URL", url)
        out = cli("invoices", "list", ok=False).output
        assert out.startswith("error: BILLSYNC_DATABASE_URL") and said in out, out
        assert "hunter2" not in out and "Traceback" not in out


def test_blank_settings_are_unset_or_refused(
    cli: Any, monkeypatch: pytest.MonkeyPatch, store: Store, tmp_path: Path
) -> None:
    cli("apply", "-f", str(FIRM))
    (tmp_path / "t.csv").write_text(TIME)
    monkeypatch.setenv("BILLSYNC_ACTOR", "   ")
    cli("import", "t.csv")
    with store.reading() as tx:
        (event,) = [e for e in audit_store.events(tx) if e["action"] == "import.batch"]
    assert event["actor"] == getpass.getuser()
    monkeypatch.setenv("BILLSYNC_WORKSPACE", "  ")
    assert "BILLSYNC_WORKSPACE: String should have at least 1" in cli("run", ok=False).output


def test_an_invoice_reference_that_is_no_invoice_is_named_not_a_traceback(
    cli: Any, store: Store, tmp_path: Path
) -> None:
    cli("apply", "-f", str(FIRM))
    (tmp_path / "t.csv").write_text(TIME)
    cli("import", "t.csv")
    cli("run", "--today", "2026-04-02")
    for ref in ("²", "99999999999999999999"):
        shown = cli("invoices", "show", ref, ok=False)
        assert shown.output.strip() == f"error: invoice {ref}: no such invoice"
        story = cli("audit", "show", "--invoice", ref, ok=False)
        assert story.output.strip() == f"error: invoice {ref}: no such invoice"
    with store.reading() as tx:
        (invoice,) = invoice_store.listing(tx)
    assert "INV-000001 is draft" in cli("audit", "show", "--invoice", str(invoice["id"])).output


TWO_LINES = """external_id,person,project,task,date,hours,timezone,approval
A-1,kha,P-1001,survey,2026-03-02,2,Europe/Oslo,approved
B-1,jdo,P-1001,survey,2026-03-02,4,America/Chicago,approved
"""


def test_credit_lines_are_parsed_strictly_and_a_typo_credits_nothing(
    cli: Any, tmp_path: Path
) -> None:
    cli("apply", "-f", str(FIRM))
    (tmp_path / "t.csv").write_text(TWO_LINES)
    cli("import", "t.csv")
    cli("run", "--today", "2026-04-02")
    cli("invoices", "approve", "INV-000001")
    credit = ("invoices", "credit", "INV-000001", "--reason", "r", "--today", "2026-04-03")
    not_a_line = "is not a line number or range (like 2,4-6)"
    for bad, part in [
        ("2-3x", "2-3x"),
        ("2;3", "2;3"),
        ("1 2", "1 2"),
        ("-2", "-2"),
        ("abc", "abc"),
        ("1,2x", "2x"),
        ("²", "²"),
        ("", ""),
        ("1,", ""),
        ("0", "0"),
    ]:
        refused = cli(*credit, "--lines", bad, ok=False)
        assert refused.output.strip() == f"error: --lines {bad!r}: {part!r} {not_a_line}"
    refused = cli(*credit, "--lines", "2-1", ok=False)
    assert refused.output.strip() == "error: --lines '2-1': the range '2-1' goes down"
    refused = cli(*credit, "--lines", "2-3", ok=False)
    assert refused.output.strip() == "error: invoice INV-000001: has no line 3"
    listed = json.loads(cli("invoices", "list", "--format", "json").output)
    assert [i["number"] for i in listed] == ["INV-000001"]  # nothing was credited
    assert "CN-000002: credit note -477.50 EUR" in cli(*credit, "--lines", "2").output
    refused = cli(*credit, "--lines", "1-2", ok=False)
    assert refused.output.strip() == "error: invoice INV-000001 line 2: already credited"
    assert "CN-000003: credit note -362.50 EUR" in cli(*credit, "--lines", " 1 ").output
