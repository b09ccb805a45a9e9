"""Reports: finance's questions answered from the store, figures checkable by hand.

The firm bills Nordic Shipyards in EUR (naval architect 145.00/h, welder 95.50/h) and
Kobe Marine in JPY (18000/h), monthly. Each story imports some time, runs the pipeline
on 2026-04-02 (March is invoiced, April is still open) and reads a report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from billsync.cli import app
from billsync.config.loader import parse
from billsync.domain.canonical import Defaults
from billsync.pipeline.actions import adjust, change_state
from billsync.pipeline.credits import credit
from billsync.pipeline.files import import_file
from billsync.pipeline.run import run
from billsync.pipeline.workspace import apply
from billsync.reports import caps, leakage, realization, utilization, wip
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from billsync.store.db import Store
from billsync.store.entries import load_entries

TODAY = dt.date(2026, 4, 2)
HEADER = "external_id,person,project,task,date,hours,timezone,approval,deleted\n"
WORKSPACE = """
clients:
  - {{code: nordic, name: Nordic Shipyards AS}}
  - {{code: kobe, name: Kobe Marine KK}}
sites:
  - {{code: bergen, timezone: Europe/Oslo, country: "NO"}}
  - {{code: houston, timezone: America/Chicago, country: US, subdivision: TX}}
people:
  - {{code: kha, name: Kari Hansen, role: naval-architect, site: bergen, cost_center: CC-NA}}
  - {{code: jdo, name: John Doe, role: welder, site: houston, cost_center: CC-YARD}}
contracts:
  - code: NSY-2026
    client: nordic
    currency: EUR
    start: 2025-10-01
    rates:
      - {{role: naval-architect, rate: 145.00}}
      - {{role: welder, rate: 95.50}}
{nsy}
  - code: KOBE-1
    client: kobe
    currency: JPY
    start: 2025-10-01
    rates: [{{role: naval-architect, rate: 18000}}]
{kobe}
projects:
  - code: P-1001
    name: Hull survey MV Nordic Star
    client: nordic
    contract: NSY-2026
    phases: [{{code: design}}]
    tasks:
      - {{code: survey, phase: design}}
      - {{code: admin, phase: design, billable: false}}
  - code: P-2001
    name: Ballast retrofit
    client: kobe
    contract: KOBE-1
"""


def firm(store: Store, nsy: str = "", kobe: str = "") -> None:
    """The workspace; `nsy` and `kobe` add contract terms (YAML, indented 4)."""
    apply(store, "firm.yaml", parse("firm.yaml", WORKSPACE.format(nsy=nsy, kobe=kobe)), "finance")


def time(store: Store, write: Any, *lines: str) -> dict[str, int]:
    """Import CSV lines (external_id,person,project,task,date,hours,approval[,deleted]);
    returns entry ids by external id."""
    rows = []
    for line in lines:
        ext, person, project, task, day, hours, approval, *deleted = line.split(",")
        rows.append(
            f"{ext},{person},{project},{task},{day},{hours},UTC,{approval},{''.join(deleted)}"
        )
    path: Path = write("time.csv", HEADER + "\n".join(rows) + "\n")
    import_file(store, path, source="csv", actor="tester", defaults=Defaults(timezone=None))
    with store.reading() as tx:
        return {e.external_id: e.id for e in load_entries(tx)}


def read(store: Store, report: Any, *args: Any) -> Any:
    with store.reading() as tx:
        return report(tx, *args)


def table(rows: list[Any], *columns: str) -> list[tuple[Any, ...]]:
    """Rows as tuples (of the named columns, or all) with numbers as text, so that
    "1443.00" checks the scale too."""
    names = columns or tuple(f.name for f in dataclasses.fields(rows[0]))
    return [
        tuple(str(v) if isinstance(v, Decimal) else v for v in (getattr(r, n) for n in names))
        for r in rows
    ]


# -- work in progress -------------------------------------------------------------------


def test_unbilled_work_by_client_and_project_aged_with_blocked_and_held_parts(
    store: Store, write: Any
) -> None:
    firm(store)
    ids = time(
        store,
        write,
        "A-1,kha,P-1001,survey,2026-03-02,8,approved",  # invoiced in the March run
        "A-2,kha,P-1001,survey,2026-04-01,3,approved",  # April: not due yet
        "A-3,jdo,P-1001,survey,2026-03-04,6,submitted",  # blocked: not approved
        "A-4,kha,P-1001,survey,2026-01-15,2,submitted",  # blocked, 77 days old
        "A-5,kha,P-1001,survey,2025-12-01,1,approved",  # held by finance, 122 days old
        "A-6,kha,P-1001,admin,2026-03-05,2,approved",  # non-billable task: not WIP
        "A-7,kha,P-1001,survey,2026-03-06,5,approved",  # written off: not WIP
        "A-8,kha,P-2001,,2026-02-10,4,submitted",  # Kobe, in yen, 51 days old
        "A-9,jdo,P-9999,,2026-03-10,1.5,approved",  # no such project: hours, no value
    )
    change_state(store, [ids["A-5"]], "hold", reason="client disputes", actor="finance")
    change_state(store, [ids["A-7"]], "write-off", reason="rework", actor="finance")
    run(store, today=TODAY, actor="tester")

    rows = read(store, wip.report, TODAY)
    # fmt: off
    assert table(rows, "client", "project", "currency", "hours", "amount", "blocked", "held") == [
        ("",       "(unmapped)", "",    "1.50",  None,      None,     None),
        ("kobe",   "P-2001",     "JPY", "4.00",  "72000",   "72000",  "0"),
        ("nordic", "P-1001",     "EUR", "12.00", "1443.00", "863.00", "145.00"),
    ]
    assert table(rows, "age_0_30", "age_31_60", "age_61_90", "age_over_90") == [
        (None,      None,    None,     None),
        ("0",       "72000", "0",      "0"),
        ("1008.00", "0.00",  "290.00", "145.00"),  # 435.00 + 573.00; A-4; A-5
    ]
    # fmt: on


def test_voiding_an_invoice_puts_its_work_back_in_progress(store: Store, write: Any) -> None:
    firm(store)
    time(store, write, "A-1,kha,P-1001,survey,2026-03-02,8,approved")
    report = run(store, today=TODAY, actor="tester")
    assert read(store, wip.report, TODAY) == []
    with store.transaction() as tx:
        invoice_store.void(tx, str(report.drafted[0]), "finance", "wrong PO", AuditLog(tx, "f"))
    # 2026-03-02 to 2026-04-02 is 31 days: the second bucket.
    assert table(read(store, wip.report, TODAY), "amount", "age_0_30", "age_31_60") == [
        ("1160.00", "0.00", "1160.00")
    ]


# -- realization ------------------------------------------------------------------------


def realization_story(store: Store, write: Any) -> None:
    firm(store)
    ids = time(
        store,
        write,
        "A-1,kha,P-1001,survey,2026-03-02,8,approved",
        "A-2,kha,P-1001,survey,2026-03-03,4,approved",
        "A-3,kha,P-1001,survey,2026-03-04,2,approved",
        "A-4,kha,P-1001,survey,2026-04-01,3,approved",
        "A-5,kha,P-1001,admin,2026-03-05,1,approved",
        "A-6,kha,P-2001,,2026-03-05,4,approved",
    )
    adjust(store, [ids["A-2"]], minutes=-60, reason="write_down", note="slow", actor="finance")
    change_state(store, [ids["A-3"]], "write-off", reason="rework", actor="finance")
    run(store, today=TODAY, actor="tester")


def test_realization_is_billed_against_the_rate_card_value_of_settled_work(
    store: Store, write: Any
) -> None:
    realization_story(store, write)
    # NSY: 8 + 3 h billed = 1595.00 of 14 settled hours (8 + 4 + 2) at 145.00 = 2030.00.
    rows = read(store, realization.report, TODAY)
    # fmt: off
    assert table(rows, "contract", "project", "currency", "worked_hours", "billable_hours",
                 "billed_hours") == [
        ("KOBE-1",   "P-2001", "JPY", "4.00",  "4.00",  "4.00"),
        ("NSY-2026", "P-1001", "EUR", "18.00", "14.00", "11.00"),
    ]
    assert table(rows, "billed_amount", "standard_value", "settled_value", "realization") == [
        ("72000",   "72000",   "72000",   "100.0"),
        ("1595.00", "2465.00", "2030.00", "78.6"),
    ]
    # fmt: on


def test_a_credit_note_takes_its_lines_out_of_what_was_billed(store: Store, write: Any) -> None:
    realization_story(store, write)
    with store.reading() as tx:
        (march,) = invoice_store.listing(tx, contract="NSY-2026")
    with store.transaction() as tx:
        invoice_store.approve(tx, march["number"], "finance", AuditLog(tx, "finance"))
    credit(store, march["number"], None, reason="wrong vessel", actor="finance", today=TODAY)
    _, nordic = read(store, realization.report, TODAY)
    # are free to bill again; only the write-off is settled.
    assert table([nordic], "billed_hours", "billed_amount", "settled_value", "realization") == [
        ("0.00", "0.00", "290.00", "0.0")
    ]


# -- utilization ------------------------------------------------------------------------


def utilization_story(store: Store, write: Any) -> None:
    firm(store)
    ids = time(
        store,
        write,
        "U-1,kha,P-1001,survey,2026-03-02,8,approved",
        "U-2,kha,P-1001,survey,2026-03-03,4,submitted",
        "U-3,kha,P-1001,admin,2026-03-05,2,approved",  # non-billable task
        "U-4,kha,P-2001,,2026-03-06,4,approved",
        "U-5,kha,P-1001,survey,2026-03-09,2,approved",  # written off: still client work
        "U-6,kha,P-1001,survey,2026-02-27,5,approved",  # February
        "U-7,jdo,P-1001,survey,2026-03-04,6,approved",
        "U-8,jdo,P-9999,,2026-03-10,2,approved",  # no project: worked, not billable
        "U-9,jdo,P-1001,survey,2026-03-11,3,approved,true",  # deleted at the source
    )
    change_state(store, [ids["U-5"]], "write-off", reason="rework", actor="finance")
    run(store, today=TODAY, actor="tester")


def test_utilization_last_month_per_person_and_cost_center(store: Store, write: Any) -> None:
    utilization_story(store, write)
    # fmt: off
    assert table(read(store, utilization.report, TODAY)) == [
        # level        cost center person name           worked   billable  %
        ("person",      "CC-NA",   "kha", "Kari Hansen", "20.00", "18.00",  "90.0"),
        ("cost_center", "CC-NA",   "",    "",            "20.00", "18.00",  "90.0"),
        ("person",      "CC-YARD", "jdo", "John Doe",    "8.00",  "6.00",   "75.0"),
        ("cost_center", "CC-YARD", "",    "",            "8.00",  "6.00",   "75.0"),
        ("total",       "",        "",    "",            "28.00", "24.00",  "85.7"),
    ]
    # fmt: on


def test_utilization_for_a_chosen_period(store: Store, write: Any) -> None:
    utilization_story(store, write)
    rows = read(store, utilization.report, TODAY, dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert table(rows, "level", "person", "worked_hours", "utilization") == [
        ("person", "kha", "5.00", "100.0"),
        ("cost_center", "", "5.00", "100.0"),
        ("total", "", "5.00", "100.0"),
    ]


# -- exceptions and leakage -------------------------------------------------------------


def test_leakage_by_type_with_amounts_per_currency(store: Store, write: Any) -> None:
    firm(store, kobe="    caps: [{scope: contract, hours: 3, on_exceed: write_off}]")
    ids = time(
        store,
        write,
        "L-1,kha,P-1001,survey,2026-03-02,8,approved",
        "L-3,kha,P-1001,survey,2026-03-06,5,approved",  # written off
        "L-4,kha,P-1001,survey,2026-03-09,2,approved",  # written down by 30 min
        "L-5,jdo,P-1001,survey,2026-03-04,6,submitted",  # open, blocking
        "L-7,kha,P-2001,,2026-04-01,4,approved",  # 1 h beyond the 3 h cap
    )
    change_state(store, [ids["L-3"]], "write-off", reason="rework", actor="finance")
    adjust(store, [ids["L-4"]], minutes=-30, reason="write_down", note="slow", actor="finance")
    run(store, today=TODAY, actor="tester")

    # fmt: off
    assert table(read(store, leakage.report, TODAY)) == [
        # section    type                  cur    count  hours   amount
        ("exception", "cap.exceeded",       "JPY", 1,     "1.00", "18000"),
        ("exception", "cap.warning",        "JPY", 1,     "3.00", "54000"),
        ("exception", "entry.not_approved", "EUR", 1,     "6.00", None),
        ("leakage",   "written_off",        "EUR", 1,     "5.00", "725.00"),   # 5 h x 145.00
        ("leakage",   "cap_write_off",      "JPY", 1,     "1.00", "18000"),
        ("leakage",   "write_down",         "EUR", 1,     "0.50", "72.50"),
    ]
    # fmt: on


def test_a_write_down_of_overtime_is_valued_at_the_overtime_price(store: Store, write: Any) -> None:
    firm(store, nsy="    overtime: {daily_after_hours: 8, daily_multiplier: 1.5}")
    ids = time(store, write, "L-1,kha,P-1001,survey,2026-03-02,10,approved")
    adjust(store, [ids["L-1"]], minutes=-60, reason="write_down", note="slow", actor="finance")
    run(store, today=TODAY, actor="tester")
    # 10 h billed as 9 h: 8 h x 145.00 + 1 h x 217.50; the hour lost was overtime.
    assert table(read(store, leakage.report, TODAY)) == [
        ("leakage", "write_down", "EUR", 1, "1.00", "217.50"),
    ]


# -- caps -------------------------------------------------------------------------------

CAPS = """\
    caps:
      - {scope: phase, phase: design, hours: 20}
      - {scope: period, period: month, amount: 3000, warn_at: [75]}
    variations:
      - {code: VO-1, effective: 2026-03-15, approved: true, cap: phase/design, cap_hours: 5}"""


def test_cap_burn_counts_invoiced_work_and_shows_what_is_pending(store: Store, write: Any) -> None:
    firm(store, nsy=CAPS)
    time(
        store,
        write,
        "C-1,kha,P-1001,survey,2026-03-02,8,approved",
        "C-2,kha,P-1001,survey,2026-03-03,8,approved",
        "C-3,kha,P-1001,survey,2026-04-01,3,approved",
    )
    run(store, today=TODAY, actor="tester")

    rows = read(store, caps.report, TODAY)
    # fmt: off
    assert table(rows, "cap", "period", "on_exceed", "warn_at", "status") == [
        ("phase/design", "",        "hold", "80, 90", "ok"),
        ("period/month", "2026-03", "hold", "75",     "passed 75%"),
        ("period/month", "2026-04", "hold", "75",     "ok"),
    ]
    assert table(rows, "limit_hours", "used_hours", "pending_hours", "burned_hours") == [
        ("25.00", "16.00", "3.00", "64.0"),  # 20 h + 5 h by VO-1
        (None,    "16.00", "0.00", None),
        (None,    "0.00",  "3.00", None),
    ]
    assert table(rows, "limit_amount", "used_amount", "pending_amount", "burned_amount") == [
        (None,      "2320.00", "435.00", None),
        ("3000.00", "2320.00", "0.00",   "77.3"),
        ("3000.00", "0.00",    "435.00", "0.0"),
    ]
    # fmt: on

    # On 2026-03-10 the variation order is not yet effective: 16 of 20 h is 80%.
    early = read(store, caps.report, dt.date(2026, 3, 10))
    assert table(early, "cap", "limit_hours", "burned_hours", "status") == [
        ("phase/design", "20.00", "80.0", "passed 80%"),
        ("period/month", None, None, "passed 75%"),
    ]


# -- the command ------------------------------------------------------------------------


def test_reports_command_prints_json_with_exact_amounts(tmp_path: Path) -> None:
    env = {
        "BILLSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "BILLSYNC_ACTOR": "finance",
    }
    (tmp_path / "firm.yaml").write_text(WORKSPACE.format(nsy="", kobe=""), encoding="utf-8")
    (tmp_path / "time.csv").write_text(
        HEADER + "A-1,kha,P-1001,survey,2026-03-02,8,UTC,approved,\n"
        "A-2,kha,P-1001,survey,2026-04-01,3,UTC,approved,\n"
        "A-3,jdo,P-1001,survey,2026-03-04,6,UTC,submitted,\n",
        encoding="utf-8",
    )
    runner = CliRunner()

    def billsync(*args: str) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    billsync("apply", "-f", str(tmp_path / "firm.yaml"))
    billsync("import", str(tmp_path / "time.csv"))
    billsync("run", "--today", "2026-04-02")

    rows = json.loads(billsync("reports", "wip", "--format", "json", "--today", "2026-04-02"))
    assert rows == [
        {
            "client": "nordic",
            "project": "P-1001",
            "currency": "EUR",
            "hours": "9.00",
            "amount": "1008.00",
            "age_0_30": "1008.00",
            "age_31_60": "0.00",
            "age_61_90": "0.00",
            "age_over_90": "0.00",
            "blocked": "573.00",
            "held": "0.00",
        }
    ]
    (nordic,) = json.loads(billsync("reports", "realization", "--format", "json"))
    assert (nordic["billed_amount"], nordic["realization"]) == ("1160.00", "100.0")
    for name in ("utilization", "leakage", "caps"):
        assert isinstance(json.loads(billsync("reports", name, "--format", "json")), list)
    csv_text = billsync("reports", "wip", "--format", "csv", "--today", "2026-04-02")
    assert csv_text.splitlines()[0].startswith("client,project,currency,hours,amount,age_0_30")


def test_utilization_refuses_a_period_that_ends_before_it_starts(tmp_path: Path) -> None:
    env = {"BILLSYNC_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    period = ["--from", "2026-03-31", "--to", "2026-03-01"]
    result = CliRunner().invoke(app, ["reports", "utilization", *period], env=env)
    assert result.exit_code == 1
    assert "--to 2026-03-01 is before --from 2026-03-31" in result.stderr
