"""Stories of a time-and-materials contract billed monthly."""

from __future__ import annotations

from decimal import Decimal

from billsync.store import audit
from support.firm import Firm, entry


def test_march_time_is_invoiced_once_march_has_ended(firm: Firm) -> None:
    # 7.5 h + 10 h of survey at 145.00, 25% VAT: 2537.50 + 634.38 = 3171.88
    firm.setup().import_rows([entry("A-1", "2026-03-02", "7.5"), entry("A-2", "2026-03-03", "10")])
    assert firm.run("2026-03-31").drafted == []  # March not over yet
    report = firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert report.drafted == [invoice["id"]]
    assert (invoice["period_start"].isoformat(), invoice["period_end"].isoformat()) == (
        "2026-03-01",
        "2026-03-31",
    )
    assert firm.lines(invoice["id"]) == [
        ("Design / survey / naval-architect / operating", "17.50", "145.00", "2537.50")
    ]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        Decimal("2537.50"),
        Decimal("634.38"),
        Decimal("3171.88"),
    )


def test_running_again_changes_nothing(firm: Firm) -> None:
    firm.setup().import_rows(
        [entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "8", approval="submitted")]
    )
    firm.run("2026-04-01")
    with firm.store.reading() as tx:
        before = [(e["action"], e["subject"]) for e in audit.events(tx)]
    report = firm.run("2026-04-01")
    with firm.store.reading() as tx:
        after = [(e["action"], e["subject"]) for e in audit.events(tx)]
    assert report.drafted == [] and report.exceptions.opened == 0
    assert after == before + [("pipeline.run", "workspace")]
    assert len(firm.invoices()) == 1


def test_unapproved_time_waits_until_its_exception_is_waived(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8", approval="submitted")])
    firm.run("2026-04-01")
    assert firm.invoices() == [] and firm.codes() == ["entry.not_approved"]
    from billsync.store import exceptions as exception_store
    from billsync.store.audit import AuditLog

    (exc,) = firm.open_exceptions()
    with firm.store.transaction() as tx:
        exception_store.close(
            tx,
            exc["id"],
            status="waived",
            actor="cfo",
            reason="approved by email",
            audit=AuditLog(tx, "cfo"),
        )
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1160.00")


def test_unmapped_time_is_picked_up_when_a_rule_is_added(firm: Firm) -> None:
    firm.setup().import_rows([{**entry("A-1", "2026-03-02", "8"), "project": "Nordic Star hull"}])
    firm.run("2026-04-01")
    assert firm.codes() == ["entry.unmapped"] and firm.invoices() == []
    firm.setup(
        extra="""
mapping_rules:
  - {field: project, match: glob, value: "Nordic Star*", project: P-1}
"""
    )
    firm.run("2026-04-01")
    assert firm.codes() == [] and len(firm.invoices()) == 1


def test_a_non_billable_task_is_never_invoiced(firm: Firm) -> None:
    firm.setup().import_rows(
        [entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2", task="admin")]
    )
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1160.00")
    assert firm.codes() == ["entry.non_billable_task"]


def test_a_rate_change_never_rerates_what_was_invoiced(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    firm.setup(
        contract="""
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    end: 2026-12-31
    rates:
      - {role: naval-architect, rate: 145.00, effective_to: 2026-03-31}
      - {role: naval-architect, rate: 150.00, effective_from: 2026-04-01}
    tax_rate: 25
"""
    )
    firm.import_rows([entry("A-2", "2026-04-02", "8"), entry("A-3", "2026-03-30", "1")])
    firm.run("2026-05-01")
    first, *later = firm.invoices()
    assert first["subtotal"] == Decimal("1160.00") and first["contract_version"] == 1
    assert sorted(inv["subtotal"] for inv in later) == [Decimal("145.00"), Decimal("1200.00")]
    assert {inv["contract_version"] for inv in later} == {2}


def test_yen_amounts_have_no_minor_unit(firm: Firm) -> None:
    firm.setup(
        contract="""
contracts:
  - code: C-1
    client: nordic
    currency: JPY
    start: 2026-01-01
    rates: [{role: naval-architect, rate: 18333}]
    tax_rate: 10
"""
    ).import_rows([entry("A-1", "2026-03-02", "7.25")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    # 7.25 h x 18333 = 132914.25 -> 132914; tax 13291.4 -> 13291
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        Decimal("132914"),
        Decimal("13291"),
        Decimal("146205"),
    )


def test_a_task_the_workspace_does_not_know_is_billed_under_the_source_s_name(
    firm: Firm,
) -> None:
    # Mapping passes an unknown task through as the source names it, as long as a name
    # may be: it is stored, billed and grouped on every backend.
    named = ("Structural analysis of the aft ship and the engine room bulkheads " * 3)[:200]
    firm.setup().import_rows([entry("A-1", "2026-03-02", "2", task=named)])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    ((description, quantity, price, amount),) = firm.lines(invoice["id"])
    assert named in description and (quantity, amount) == ("2.00", "290.00")
