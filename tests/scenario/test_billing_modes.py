"""Stories of each way an invoice comes to be: continuous, milestone, completion,
manual, threshold, and the retainage held and released along the way."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billsync.domain.workspace import ProjectStatus
from billsync.pipeline.workspace import load_workspace
from billsync.store import audit
from billsync.triggers.manual import TriggerError, invoice_now, release_retainage
from billsync.triggers.project_status import set_status
from support.firm import BASE, Firm, contract, entry


def test_a_continuous_draft_grows_as_approved_time_arrives(firm: Firm) -> None:
    firm.setup(contract("    billing: continuous")).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-03-03")
    (draft,) = firm.invoices()
    assert (draft["kind"], draft["subtotal"]) == ("continuous", Decimal("800.00"))
    firm.import_rows([entry("A-2", "2026-03-03", "2")])
    firm.run("2026-03-04")
    (grown,) = firm.invoices()
    assert grown["id"] == draft["id"] and grown["subtotal"] == Decimal("1000.00")
    with firm.store.reading() as tx:
        actions = [e["action"] for e in audit.events(tx, [f"invoice:{draft['id']}"])]
    assert actions == ["invoice.drafted", "invoice.grown"]
    firm.run("2026-03-04")  # nothing new: nothing changes
    with firm.store.reading() as tx:
        assert len(audit.events(tx, [f"invoice:{draft['id']}"])) == 2


def test_a_continuous_draft_regrown_under_new_terms_shows_them(firm: Firm) -> None:
    terms = "    billing: continuous\n    tax_rate: {tax}\n    po_number: {po}"
    firm.setup(contract(terms.format(tax=25, po="PO-1"))).import_rows(
        [entry("A-1", "2026-03-02", "8")]
    )
    firm.run("2026-03-03")
    firm.apply(BASE + contract(terms.format(tax=10, po="PO-2")))
    firm.run("2026-03-04")
    (draft,) = firm.invoices()
    assert (draft["tax_rate"], draft["tax"], draft["po_number"]) == (
        Decimal(10),
        Decimal("80.00"),
        "PO-2",
    )


def test_a_reached_milestone_is_invoiced_once_at_its_fixed_fee(firm: Firm) -> None:
    firm.setup(
        contract("""    billing: milestone
    tax_rate: 25
    milestones:
      - {code: M1, name: Concept design approved, amount: 40000, reached: 2026-03-15}
      - {code: M2, name: Class approval, amount: 60000}""")
    ).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-03-16")
    firm.run("2026-03-17")
    (invoice,) = firm.invoices()
    assert firm.lines(invoice["id"]) == [
        ("Milestone M1: Concept design approved", "1.00", "40000.00", "40000.00")
    ]
    assert invoice["total"] == Decimal("50000.00")


def test_ready_for_billing_drafts_the_completion_invoice(firm: Firm) -> None:
    firm.setup(contract("    billing: completion")).import_rows(
        [entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-05-02", "2")]
    )
    firm.run("2026-06-01")
    assert firm.invoices() == []
    report = set_status(
        firm.store, "P-1", ProjectStatus.READY_FOR_BILLING, actor="pm", today=dt.date(2026, 6, 2)
    )
    (invoice,) = firm.invoices()
    assert report is not None and report.drafted == [invoice["id"]]
    assert (invoice["kind"], invoice["subtotal"]) == ("completion", Decimal("1000.00"))
    assert invoice["reason"] == "project P-1 ready for billing"


def test_a_status_change_and_its_invoice_are_written_together(firm: Firm) -> None:
    firm.setup(contract("    billing: completion")).import_rows([entry("A-1", "2026-03-02", "8")])
    ready = ProjectStatus.READY_FOR_BILLING
    with pytest.raises(OverflowError):  # the due date falls after the end of the calendar
        set_status(firm.store, "P-1", ready, actor="pm", today=dt.date(9999, 12, 31))
    with firm.store.reading() as tx:
        assert load_workspace(tx).projects["P-1"].status is ProjectStatus.ACTIVE
        assert [e["action"] for e in audit.events(tx, ["project:P-1"])] == ["project.created"]
    assert firm.invoices() == []
    set_status(firm.store, "P-1", ready, actor="pm", today=dt.date(2026, 6, 2))
    firm.import_rows([entry("A-2", "2026-06-02", "2")])
    set_status(firm.store, "P-1", ready, actor="pm", today=dt.date(2026, 6, 3))  # again
    assert [(i["kind"], i["subtotal"]) for i in firm.invoices()] == [
        ("completion", Decimal("800.00")),
        ("completion", Decimal("200.00")),
    ]
    with firm.store.reading() as tx:
        assert [e["action"] for e in audit.events(tx, ["project:P-1"])] == [
            "project.created",
            "project.status",
        ]


def test_a_manual_invoice_bills_out_of_cycle_and_records_who_and_why(firm: Firm) -> None:
    firm.setup(contract("")).import_rows(
        [entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-20", "3")]
    )
    invoice_now(
        firm.store,
        contract="C-1",
        reason="vessel leaves yard early",
        actor="cfo",
        today=dt.date(2026, 3, 21),
        through=dt.date(2026, 3, 10),
    )
    (invoice,) = firm.invoices()
    assert (invoice["kind"], invoice["subtotal"]) == ("manual", Decimal("800.00"))
    assert (invoice["trigger"], invoice["reason"], invoice["created_by"]) == (
        "manual:cfo",
        "vessel leaves yard early",
        "cfo",
    )
    firm.run("2026-04-01")  # the month's invoice takes only what is left
    assert [i["subtotal"] for i in firm.invoices()] == [Decimal("800.00"), Decimal("300.00")]
    with pytest.raises(TriggerError, match="nothing billable"):
        invoice_now(
            firm.store, contract="C-1", reason="again", actor="cfo", today=dt.date(2026, 4, 2)
        )


def test_a_manual_invoice_or_release_for_an_unknown_contract_writes_nothing(
    firm: Firm,
) -> None:
    firm.setup(contract("")).import_rows([entry("A-1", "2026-03-02", "8")])
    with firm.store.reading() as tx:
        before = len(audit.events(tx))
    for trigger in (invoice_now, release_retainage):
        with pytest.raises(TriggerError, match="'C-9': no such contract; nothing was drafted"):
            trigger(
                firm.store, contract="C-9", reason="why", actor="cfo", today=dt.date(2026, 4, 2)
            )
    assert firm.invoices() == []
    with firm.store.reading() as tx:
        assert len(audit.events(tx)) == before  # no run was recorded either


def test_unbilled_work_beyond_the_threshold_is_flagged_and_drafted(firm: Firm) -> None:
    firm.setup(contract("    threshold: {hours: 10, draft: true}")).import_rows(
        [entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "4")]
    )
    firm.run("2026-03-04")
    (invoice,) = firm.invoices()
    assert (invoice["kind"], invoice["subtotal"]) == ("threshold", Decimal("1200.00"))
    assert "unbilled.threshold" in firm.codes()
    before = firm.open_exceptions()
    firm.run("2026-03-05")  # a notice: it waits for finance, running again changes nothing
    assert firm.open_exceptions() == before


def test_retainage_is_withheld_to_its_maximum_and_released_by_its_own_invoice(
    firm: Firm,
) -> None:
    firm.setup(
        contract("""    value: 100000
    retainage: {percent: 10, max_amount: 150}""")
    ).import_rows([entry("A-1", "2026-03-02", "10"), entry("A-2", "2026-04-02", "10")])
    firm.run("2026-05-01")
    march, april = firm.invoices()
    assert (march["retainage"], march["amount_due"]) == (Decimal("100.00"), Decimal("900.00"))
    assert april["retainage"] == Decimal("50.00")  # only 50 left under the 150 maximum
    assert april["contract_status"]["billed_before"] == "1000.00"
    assert april["contract_status"]["remaining"] == "98000.00"
    release_retainage(
        firm.store,
        contract="C-1",
        reason="final acceptance",
        actor="cfo",
        today=dt.date(2026, 5, 2),
    )
    release = firm.invoices()[-1]
    assert firm.lines(release["id"]) == [
        ("Release of retainage withheld on earlier invoices", "1.00", "150.00", "150.00")
    ]
    assert (release["tax"], release["amount_due"]) == (Decimal("0.00"), Decimal("150.00"))


def test_a_growing_draft_does_not_count_twice_against_a_cap(firm: Firm) -> None:
    firm.setup(
        contract("""    billing: continuous
    caps: [{scope: contract, hours: 10}]""")
    ).import_rows([entry("A-1", "2026-03-02", "6")])
    firm.run("2026-03-03")
    firm.run("2026-03-04")
    (draft,) = firm.invoices()
    assert draft["subtotal"] == Decimal("600.00")
    assert "cap.exceeded" not in firm.codes()
