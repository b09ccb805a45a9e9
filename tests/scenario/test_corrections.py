"""Stories of what happens after an invoice exists: voids, credit notes, changes at
the source, finance's actions on entries, locked periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billsync.pipeline import actions
from billsync.pipeline.credits import CreditError, credit
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from support.firm import OVERTIME, Firm, contract, entry


def void(firm: Firm, number: str) -> list[int]:
    with firm.store.transaction() as tx:
        return invoice_store.void(tx, number, "cfo", "wrong client", AuditLog(tx, "cfo"))


def approve(firm: Firm, number: str) -> None:
    with firm.store.transaction() as tx:
        invoice_store.approve(tx, number, "cfo", AuditLog(tx, "cfo"))


def test_voiding_frees_exactly_its_entries_for_the_next_run(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-04-02", "4")])
    firm.run("2026-05-01")
    march, april = firm.invoices()
    freed = void(firm, march["number"])
    assert len(freed) == 1
    firm.run("2026-05-01")
    statuses = [(i["period_start"].month, i["status"], i["subtotal"]) for i in firm.invoices()]
    assert statuses == [
        (3, "void", Decimal("1160.00")),
        (4, "draft", Decimal("580.00")),
        (3, "draft", Decimal("1160.00")),
    ]


def test_a_change_at_the_source_after_billing_leaves_the_invoice_and_asks_for_a_fix(
    firm: Firm,
) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8", revision="1")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    firm.import_rows([entry("A-1", "2026-03-02", "6", revision="2")])
    firm.run("2026-04-02")
    (same,) = firm.invoices()
    assert same["total"] == invoice["total"] == Decimal("1450.00")
    (exc,) = firm.open_exceptions()
    assert exc["code"] == "entry.changed_after_billing" and exc["severity"] == "blocking"
    # The invoice was sent; finance credits the line, the entry is free and the next
    # run bills revision 2.
    approve(firm, invoice["number"])
    credit_id, freed = credit(
        firm.store,
        invoice["number"],
        [1],
        reason="client paid 6 h",
        actor="cfo",
        today=dt.date(2026, 4, 3),
    )
    assert len(freed) == 1
    firm.run("2026-04-03")
    by_kind = {i["kind"]: i for i in firm.invoices() if i["id"] != invoice["id"]}
    assert by_kind["credit"]["total"] == Decimal("-1450.00")
    assert by_kind["period"]["subtotal"] == Decimal("870.00")  # 6 h x 145.00
    assert firm.codes() == []


def test_crediting_one_line_of_an_entry_split_over_two_lines_is_refused(firm: Firm) -> None:
    firm.setup(contract=OVERTIME).import_rows([entry("A-1", "2026-03-02", "10")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert [line[1:] for line in firm.lines(invoice["id"])] == [
        ("8.00", "100.00", "800.00"),
        ("2.00", "150.00", "300.00"),
    ]
    approve(firm, invoice["number"])
    with pytest.raises(CreditError, match="also sits on line 2"):
        credit(
            firm.store, invoice["number"], [1], reason="x", actor="cfo", today=dt.date(2026, 4, 2)
        )


def test_held_entries_wait_and_written_off_entries_are_never_billed(firm: Firm) -> None:
    firm.setup().import_rows(
        [
            entry("A-1", "2026-03-02", "8"),
            entry("A-2", "2026-03-03", "8"),
            entry("A-3", "2026-03-04", "8"),
        ]
    )
    ids = sorted(e["id"] for e in _entries(firm))
    actions.change_state(firm.store, [ids[0]], "hold", reason="client dispute", actor="cfo")
    actions.change_state(firm.store, [ids[1]], "write-off", reason="goodwill", actor="cfo")
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1160.00")
    actions.change_state(firm.store, [ids[0]], "release", reason="settled", actor="cfo")
    firm.run("2026-04-02")
    assert [i["subtotal"] for i in firm.invoices()] == [Decimal("1160.00"), Decimal("1160.00")]


def test_actions_need_a_reason_and_refuse_billed_entries(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    (entry_id,) = [e["id"] for e in _entries(firm)]
    with pytest.raises(actions.ActionError, match="reason is required"):
        actions.change_state(firm.store, [entry_id], "hold", reason=" ", actor="cfo")
    firm.run("2026-04-01")
    with pytest.raises(actions.ActionError, match=f"entry {entry_id}: is on a live invoice"):
        actions.change_state(firm.store, [entry_id], "write-off", reason="x", actor="cfo")
    with pytest.raises(actions.ActionError, match="entry 999999: no such entry"):
        actions.change_state(firm.store, [999999], "hold", reason="x", actor="cfo")


def test_a_write_down_bills_less_than_was_worked(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    (entry_id,) = [e["id"] for e in _entries(firm)]
    actions.adjust(
        firm.store, [entry_id], minutes=-90, reason="write_down", note="learning curve", actor="cfo"
    )
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("942.50")  # 6.5 h x 145.00


def test_an_entry_listed_twice_is_written_up_once(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    (entry_id,) = [e["id"] for e in _entries(firm)]
    count = actions.adjust(
        firm.store, [entry_id, entry_id], minutes=30, reason="write_up", note="call", actor="cfo"
    )
    assert count == 1
    assert actions.change_state(firm.store, [entry_id] * 3, "hold", reason="x", actor="cfo") == 1
    actions.change_state(firm.store, [entry_id], "release", reason="x", actor="cfo")
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1232.50")  # 8.5 h x 145.00, not 9 h


def test_writes_keep_an_entry_between_nothing_and_a_day(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    (entry_id,) = [e["id"] for e in _entries(firm)]
    actions.adjust(firm.store, [entry_id], minutes=-300, reason="write_down", note="x", actor="cfo")
    for minutes, reason, why in (
        (-181, "write_down", "less than nothing"),
        (21 * 60 + 1, "write_up", "more than a day"),
        (153722867280912930, "write_up", "more than a day"),
    ):
        with pytest.raises(
            actions.ActionError, match=f"entry {entry_id}: 3 h with its writes.*{why}"
        ):
            actions.adjust(
                firm.store, [entry_id], minutes=minutes, reason=reason, note="x", actor="cfo"
            )
    actions.adjust(firm.store, [entry_id], minutes=-180, reason="write_down", note="x", actor="cfo")
    firm.run("2026-04-01")
    assert firm.invoices() == []  # written down to nothing: billed nothing, refused nothing


def test_a_transfer_moves_an_entry_to_another_task(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "8")])
    ids = sorted(e["id"] for e in _entries(firm))
    actions.transfer(
        firm.store, [ids[1]], project="P-1", task="admin", reason="was internal", actor="cfo"
    )
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("1160.00")
    with pytest.raises(actions.ActionError, match="no such project"):
        actions.transfer(firm.store, [ids[0]], project="P-9", task="", reason="x", actor="cfo")


def test_late_time_in_a_locked_period_is_flagged_not_billed(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    with pytest.raises(actions.ActionError, match="after today"):
        actions.lock_period(
            firm.store,
            through=dt.date(2062, 3, 31),
            reason="typo",
            actor="cfo",
            today=dt.date(2026, 4, 1),
        )
    actions.lock_period(
        firm.store,
        through=dt.date(2026, 3, 31),
        reason="Q1 closed",
        actor="cfo",
        today=dt.date(2026, 4, 1),
    )
    firm.import_rows([entry("A-2", "2026-03-20", "8")])
    firm.run("2026-04-02")
    assert len(firm.invoices()) == 1
    assert firm.codes() == ["entry.locked_period"]


def _entries(firm: Firm) -> list[dict[str, object]]:
    from sqlalchemy import select

    from billsync.store.tables import time_entries

    with firm.store.reading() as tx:
        rows = tx.conn.execute(
            select(time_entries.c.id).where(time_entries.c.workspace_id == tx.workspace_id)
        )
        return [dict(r._mapping) for r in rows]


def test_late_time_on_an_invoiced_day_is_the_overtime(firm: Firm) -> None:
    firm.setup(contract=OVERTIME).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    firm.import_rows([entry("A-2", "2026-03-02", "2")])  # arrives after March was billed
    firm.run("2026-04-02")
    late = firm.invoices()[-1]
    assert firm.lines(late["id"]) == [
        (
            "Design / survey / naval-architect / operating, overtime daily",
            "2.00",
            "150.00",
            "300.00",
        )
    ]


def test_a_credit_note_does_not_pay_back_retainage_that_was_withheld(firm: Firm) -> None:
    firm.setup(
        contract="""
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    rates: [{role: naval-architect, rate: 100}]
    retainage: {percent: 10}
"""
    ).import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    assert (invoice["total"], invoice["retainage"], invoice["amount_due"]) == (
        Decimal("1000.00"),
        Decimal("100.00"),
        Decimal("900.00"),
    )
    approve(firm, invoice["number"])
    credit(
        firm.store,
        invoice["number"],
        None,
        reason="wrong vessel",
        actor="cfo",
        today=dt.date(2026, 4, 2),
    )
    note = firm.invoices()[-1]
    assert (note["total"], note["retainage"], note["amount_due"]) == (
        Decimal("-1000.00"),
        Decimal("-100.00"),
        Decimal("-900.00"),
    )
    assert note["contract_status"]["retainage_held"] == "0.00"


def test_the_story_of_an_hour_shows_how_billable_time_differs_from_worked(firm: Firm) -> None:
    from billsync.store.story import entry_story

    firm.setup(contract=contract("    rounding: {increment_minutes: 15, mode: up}")).import_rows(
        [entry("A-1", "2026-03-02", "7.8")]  # 7 h 48 min, billed as 8 h
    )
    firm.run("2026-04-01")
    (entry_id,) = [e["id"] for e in _entries(firm)]
    with firm.store.reading() as tx:
        story = "\n".join(what for _, what in entry_story(tx, entry_id))
    assert "billable time adjusted: rounding +12 min" in story
    assert "line 1 'Design / survey / naval-architect / operating' 8 x 100.00" in story


@pytest.mark.parametrize(
    "ref",
    ["²", "٣", "99999999999999999999", "9223372036854775808", "0", "1" * 5000, "a\x00b"],
    ids=["superscript", "arabic", "20-digits", "2**63", "zero", "5000-digits", "nul"],
)
def test_a_reference_that_is_no_invoice_is_no_such_invoice(firm: Firm, ref: str) -> None:
    from billsync.store.story import invoice_story

    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    with firm.store.reading() as tx:
        with pytest.raises(invoice_store.InvoiceError, match="no such invoice"):
            invoice_store.get(tx, ref)
        with pytest.raises(LookupError, match="no such invoice"):
            invoice_story(tx, ref)
        (invoice,) = invoice_store.listing(tx)
        assert invoice_store.get(tx, str(invoice["id"]))["number"] == invoice["number"]
        assert invoice_story(tx, invoice["number"])[-1][1].startswith(invoice["number"])


def test_only_no_choice_of_lines_credits_them_all(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    approve(firm, invoice["number"])
    with pytest.raises(CreditError, match=f"invoice {invoice['number']}: no lines chosen"):
        credit(
            firm.store, invoice["number"], [], reason="x", actor="cfo", today=dt.date(2026, 4, 2)
        )
    with pytest.raises(CreditError, match="issued 2026-04-01; .* cannot be dated 2000-01-01"):
        credit(
            firm.store, invoice["number"], None, reason="x", actor="cfo", today=dt.date(2000, 1, 1)
        )
    assert len(firm.invoices()) == 1


@pytest.mark.parametrize("billing", ["time_and_materials", "continuous"])
def test_a_draft_is_voided_not_credited(firm: Firm, billing: str) -> None:
    firm.setup(contract(f"    billing: {billing}")).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (draft,) = firm.invoices()
    with pytest.raises(
        CreditError,
        match=f"invoice {draft['number']} is a draft; void it instead \\(a draft was never sent\\)",
    ):
        credit(
            firm.store, draft["number"], None, reason="x", actor="cfo", today=dt.date(2026, 4, 2)
        )
    assert firm.invoices() == [draft]
    firm.import_rows([entry("A-2", "2026-03-03", "2")])
    firm.run("2026-04-02")  # a continuous draft grows as before
    assert [i["number"] for i in firm.invoices()][:1] == [draft["number"]]


def test_a_continuous_draft_credited_before_that_was_refused_does_not_regrow(firm: Firm) -> None:
    from sqlalchemy import update

    from billsync.store.tables import invoices

    firm.setup(contract("    billing: continuous")).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-03-03")
    (draft,) = firm.invoices()
    # A draft credited by an earlier billsync: approved for the credit, then draft again.
    approve(firm, draft["number"])
    credit(firm.store, draft["number"], None, reason="x", actor="cfo", today=dt.date(2026, 3, 3))
    with firm.store.transaction() as tx:
        tx.conn.execute(update(invoices).where(invoices.c.id == draft["id"]).values(status="draft"))
    note = firm.invoices()[-1]["number"]
    firm.import_rows([entry("A-2", "2026-03-03", "2")])
    with pytest.raises(
        invoice_store.InvoiceError,
        match=f"invoice {draft['number']} line 1: is credited by {note}; void the credit note",
    ):
        firm.run("2026-03-04")
    assert firm.lines(draft["id"]) == [
        ("Design / survey / naval-architect / operating", "8.00", "100.00", "800.00")
    ]


def _credit_all(firm: Firm, number: str) -> str:
    credit(firm.store, number, None, reason="wrong rate", actor="cfo", today=dt.date(2026, 4, 2))
    return str(firm.invoices()[-1]["number"])


def _billed(firm: Firm) -> dict[int, int]:
    """Entry id -> the invoice it is live on."""
    from sqlalchemy import select

    from billsync.store.tables import billed_entries, invoices

    with firm.store.reading() as tx:
        rows = tx.conn.execute(
            select(billed_entries.c.entry_id, billed_entries.c.invoice_id)
            .join(invoices, invoices.c.id == billed_entries.c.invoice_id)
            .where(billed_entries.c.live, invoices.c.workspace_id == tx.workspace_id)
        )
        return dict(rows.all())


def _actions(firm: Firm, invoice_id: int) -> list[str]:
    from billsync.store import audit

    with firm.store.reading() as tx:
        return [e["action"] for e in audit.events(tx, [f"invoice:{invoice_id}"])]


def test_an_invoice_with_a_live_credit_note_is_not_voided(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    approve(firm, invoice["number"])
    note = _credit_all(firm, invoice["number"])
    with pytest.raises(
        invoice_store.InvoiceError,
        match=f"invoice {invoice['number']} has credit note {note}; void the credit note first",
    ):
        void(firm, invoice["number"])
    assert [i["status"] for i in firm.invoices()] == ["approved", "draft"]
    void(firm, note)
    assert void(firm, invoice["number"]) == sorted(_entry_ids(firm))  # its entry is back on it


def test_voiding_a_credit_note_bills_its_lines_on_the_original_again(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    approve(firm, invoice["number"])
    note = _credit_all(firm, invoice["number"])
    assert _billed(firm) == {}
    assert void(firm, note) == []  # a credit note bills no entries of its own
    assert _billed(firm) == dict.fromkeys(_entry_ids(firm), invoice["id"])
    with firm.store.reading() as tx:
        assert [ln["credited_by"] for ln in invoice_store.lines_of(tx, invoice["id"])] == [None]
    assert _actions(firm, invoice["id"])[-1] == "invoice.uncredited"
    assert firm.run("2026-04-03").drafted == []  # the original bills them: nothing to redraft


def test_a_credit_note_whose_entries_were_billed_again_is_voided_after_that_invoice(
    firm: Firm,
) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    approve(firm, invoice["number"])
    note = _credit_all(firm, invoice["number"])
    firm.run("2026-04-03")
    again = firm.invoices()[-1]
    (entry_id,) = _entry_ids(firm)
    assert _billed(firm) == {entry_id: again["id"]}
    with pytest.raises(
        invoice_store.InvoiceError,
        match=f"credit note {note}: entry {entry_id} it freed is billed again on "
        f"{again['number']}; void or credit {again['number']} first",
    ):
        void(firm, note)
    assert _billed(firm) == {entry_id: again["id"]}
    void(firm, again["number"])
    void(firm, note)
    assert _billed(firm) == {entry_id: invoice["id"]}


def test_voiding_an_invoice_sent_to_an_accounting_system_is_refused(firm: Firm) -> None:
    from billsync.store import outbox

    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    approve(firm, invoice["number"])
    with firm.store.transaction() as tx:
        outbox.enqueue_approved(tx, "qbo")
        (queued,) = outbox.pending(tx, "qbo")
        outbox.attempt(tx, queued)
        outbox.sent(tx, queued, "177", "1043", "open")
    with pytest.raises(
        invoice_store.InvoiceError,
        match=f"invoice {invoice['number']} was sent to qbo as 1043; credit it instead, "
        "or void it there first",
    ):
        void(firm, invoice["number"])
    assert _billed(firm) == dict.fromkeys(_entry_ids(firm), invoice["id"])
    with firm.store.transaction() as tx:  # voided in QuickBooks, read back by a push
        outbox.restatus(tx, queued, "void")
    assert void(firm, invoice["number"]) == _entry_ids(firm)


def test_voiding_an_invoice_still_in_the_outbox_cancels_its_push(firm: Firm) -> None:
    from billsync.store import outbox

    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-04-02", "8")])
    firm.run("2026-05-01")
    march, april = firm.invoices()
    approve(firm, march["number"])
    approve(firm, april["number"])
    with firm.store.transaction() as tx:
        outbox.enqueue_approved(tx, "qbo")
        listed = outbox.pending(tx, "qbo")  # as a push lists them before sending
    void(firm, march["number"])
    assert _actions(firm, march["id"])[-2:] == ["invoice.push_cancelled", "invoice.voided"]
    with firm.store.transaction() as tx:
        assert [q.number for q in outbox.pending(tx, "qbo")] == [april["number"]]
        assert [outbox.attempt(tx, q) for q in listed] == [False, True]  # never sent
        assert [r["status"] for r in outbox.rows(tx)] == ["cancelled", "pending"]
    # April's push was tried and not recorded: it may be at the vendor, so it stays.
    with pytest.raises(
        invoice_store.InvoiceError,
        match=f"invoice {april['number']}: a push to qbo was tried and not recorded as "
        "arrived; run `billsync push -c qbo` to settle it first",
    ):
        void(firm, april["number"])


def _entry_ids(firm: Firm) -> list[int]:
    return sorted(int(str(e["id"])) for e in _entries(firm))
