"""Invoice drafts, told as finance stories with every total worked out by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billsync.domain.caps import LimitAdjustment
from billsync.domain.contracts import (
    Contract,
    GroupBy,
    Milestone,
    Retainage,
    Unit,
    Variation,
)
from billsync.domain.entries import Category
from billsync.domain.invoicing import (
    BillingHistory,
    InvoiceDraft,
    InvoiceLine,
    LineKind,
    draft_invoice,
    group_lines,
)
from billsync.domain.money import D, quantize
from billsync.domain.rated import Portion, Price, Worked

APRIL_1 = date(2026, 4, 1)
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
NOTHING_BILLED = BillingHistory()


def portion(
    entry_id: int,
    hours: str,
    *,
    day: date = date(2026, 3, 2),
    rate: str = "145.00",
    multiplier: str = "1",
    premium: str = "",
    person: str = "jdoe",
    role: str = "naval-architect",
    phase: str = "design",
    task: str = "survey",
    category: Category = Category.OPERATING,
    days: str | None = None,
    currency: str = "EUR",
) -> Portion:
    """A rated portion as rating makes it: hours (or days) x the quantized unit price."""
    unit = Unit.HOUR if days is None else Unit.DAY
    quantity = D(hours) if days is None else D(days)
    unit_price = quantize(D(rate) * D(multiplier), currency)
    return Portion(
        entry_id=entry_id,
        revision=1,
        work_date=day,
        seconds=int(D(hours) * 3600),
        quantity=quantity,
        amount=quantity * unit_price,
        worked=Worked(person, role, "P-1001", phase, task, category),
        price=Price(unit, D(rate), D(multiplier), premium, unit_price),
    )


def nsy(**terms: object) -> Contract:
    base: dict[str, object] = {
        "code": "NSY-2026",
        "client": "nordic",
        "currency": "EUR",
        "start": date(2026, 1, 1),
        "tax_rate": D(25),
        "po_number": "PO-88812",
    }
    return Contract.model_validate(base | terms)


def draft(
    contract: Contract,
    portions: list[Portion],
    *,
    history: BillingHistory = NOTHING_BILLED,
    **options: Any,
) -> InvoiceDraft:
    """The invoice for March, issued on 1 April."""
    return draft_invoice(
        contract,
        portions=portions,
        issue_date=APRIL_1,
        history=history,
        period=MARCH,
        **options,
    )


# -- time lines -------------------------------------------------------------------------


def test_40_hours_at_145_plus_25_percent_vat() -> None:
    # 40 h at 145.00 plus 25% VAT: 5800.00 + 1450.00 = 7250.00, due in 30 days.
    week = [portion(i, "8", day=date(2026, 3, 1 + i)) for i in range(1, 6)]
    invoice = draft(nsy(), week)

    [line] = invoice.lines
    assert line.kind is LineKind.TIME
    assert line.description == "Design / survey / naval-architect / operating"
    assert (line.quantity, line.unit, line.unit_price, line.amount) == (
        D("40.00"),
        "hour",
        D("145.00"),
        D("5800.00"),
    )
    assert [p.entry_id for p in line.portions] == [1, 2, 3, 4, 5]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        D("5800.00"),
        D("1450.00"),
        D("7250.00"),
    )
    assert invoice.amount_due == D("7250.00") and invoice.retainage == D(0)
    assert invoice.due_date == date(2026, 5, 1)
    assert (invoice.period_start, invoice.period_end) == MARCH
    assert (invoice.contract, invoice.currency, invoice.po_number) == (
        "NSY-2026",
        "EUR",
        "PO-88812",
    )


def test_the_march_invoice_of_the_module_docstring() -> None:
    # 15.50 h x 145.00 = 2247.50 and 2.00 h x 217.50 = 435.00: 2682.50 + 670.63 VAT
    # (25% of 2682.50 = 670.625, half up) = 3353.13; 10% retainage 268.25: 3084.88 due.
    contract = nsy(retainage=Retainage(percent=D(10)))
    march = [
        portion(9, "7.5", day=date(2026, 3, 3)),
        portion(7, "2", premium="daily", multiplier="1.5"),
        portion(7, "8"),
    ]
    invoice = draft(contract, march)
    assert [(line.quantity, line.unit_price, line.amount) for line in invoice.lines] == [
        (D("15.50"), D("145.00"), D("2247.50")),
        (D("2.00"), D("217.50"), D("435.00")),
    ]
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        D("2682.50"),
        D("670.63"),
        D("3353.13"),
    )
    assert (invoice.retainage, invoice.amount_due) == (D("268.25"), D("3084.88"))
    assert invoice.due_date == date(2026, 5, 1)


def test_overtime_gets_its_own_line_because_a_line_never_mixes_prices() -> None:
    # 8 h at 145.00 = 1160.00 and 2 h daily overtime at 217.50 = 435.00: 1595.00.
    work = [portion(7, "2", premium="daily", multiplier="1.5"), portion(7, "8")]
    invoice = draft(nsy(), work)

    assert [
        (line.description, line.quantity, line.unit_price, line.amount) for line in invoice.lines
    ] == [
        ("Design / survey / naval-architect / operating", D("8.00"), D("145.00"), D("1160.00")),
        (
            "Design / survey / naval-architect / operating, overtime daily",
            D("2.00"),
            D("217.50"),
            D("435.00"),
        ),
    ]
    assert invoice.subtotal == D("1595.00")
    assert invoice.tax == D("398.75")
    assert invoice.total == D("1993.75")


def test_lines_follow_the_contracts_grouping_and_are_sorted() -> None:
    # Grouped by phase and person only: jdoe's survey and drawing hours share a line,
    # asmith's standby hours at 90.00 are their own.
    contract = nsy(group_by=(GroupBy.PHASE, GroupBy.PERSON))
    work = [
        portion(3, "4", person="asmith", rate="90.00", category=Category.STANDBY),
        portion(1, "3.25", task="drawing"),
        portion(2, "4.5"),
    ]
    lines = group_lines(contract, work)
    assert [(line.key, line.description, line.quantity, line.amount) for line in lines] == [
        (("design", "asmith", "hour", "90.00", ""), "Design / asmith", D("4.00"), D("360.00")),
        (("design", "jdoe", "hour", "145.00", ""), "Design / jdoe", D("7.75"), D("1123.75")),
    ]


def test_portions_sharing_who_worked_and_the_price_join_the_line_of_equal_ones() -> None:
    # As rating makes them: one `worked` and one `price` object for many portions. An
    # equal pair held by other objects (another batch's) is the same line, and a line
    # lists its portions in work order whatever order they came in.
    first = portion(4, "2", day=date(2026, 3, 3))
    shared = [replace(first, entry_id=i, work_date=date(2026, 3, 5 - i)) for i in (1, 2)]
    equal = portion(3, "2", day=date(2026, 3, 4))
    other_task = portion(5, "1", task="drawing")
    assert equal.worked is not first.worked and equal.worked == first.worked
    lines = group_lines(nsy(), [other_task, first, *shared, equal])
    assert [[p.entry_id for p in line.portions] for line in lines] == [[5], [2, 4, 1, 3]]
    assert [line.quantity for line in lines] == [D("1.00"), D("8.00")]


def test_prices_sort_as_numbers_not_as_text() -> None:
    work = [portion(1, "1", rate="145.00"), portion(2, "1", rate="90.00")]
    lines = group_lines(nsy(group_by=(GroupBy.PHASE,)), work)
    assert [line.unit_price for line in lines] == [D("90.00"), D("145.00")]


def test_a_line_prints_its_quantity_to_two_decimals_and_prices_what_it_prints() -> None:
    # Three entries of 20 minutes: 1/3 h each, 1.0000... h exact, printed 1.00 h;
    # one of 10 minutes (0.1666... h) at 145.00: printed 0.17 h x 145.00 = 24.65,
    # not the exact 24.1666... A client can check 0.17 x 145.00 by hand.
    thirds = [portion(i, "0", rate="145.00") for i in (1, 2, 3)]
    thirds = [replace(p, seconds=1200, quantity=D(1200) / 3600) for p in thirds]
    thirds = [replace(p, amount=p.quantity * p.unit_price) for p in thirds]
    [line] = group_lines(nsy(), thirds)
    assert (line.quantity, line.amount) == (D("1.00"), D("145.00"))

    tenth = replace(thirds[0], seconds=600, quantity=D(600) / 3600)
    [line] = group_lines(nsy(), [tenth])
    assert (line.quantity, line.amount) == (D("0.17"), D("24.65"))


def test_day_rates_are_lines_in_days() -> None:
    # Two offshore days at 1200.00/day: 2.00 day x 1200.00 = 2400.00.
    work = [portion(1, "12", rate="1200.00", days="1"), portion(2, "11", rate="1200.00", days="1")]
    [line] = group_lines(nsy(), work)
    assert (line.quantity, line.unit, line.amount) == (D("2.00"), "day", D("2400.00"))


def test_portions_without_a_dimension_still_read_well() -> None:
    work = [portion(1, "2", phase="", task="")]
    [line] = group_lines(nsy(), work)
    assert line.description == "Naval-architect / operating"
    [line] = group_lines(nsy(group_by=()), work)
    assert line.description == "Time"


# -- milestones and adjustments ---------------------------------------------------------


def test_a_milestone_fee_is_one_line_of_one_milestone() -> None:
    # Hull design approved: 25000.00 + 25% VAT = 31250.00.
    m2 = Milestone(
        code="M2", name="Hull design approved", amount=D(25000), reached=date(2026, 3, 20)
    )
    invoice = draft(nsy(), [], milestones=[m2])
    [line] = invoice.lines
    assert (line.kind, line.description, line.quantity, line.unit, line.amount) == (
        LineKind.MILESTONE,
        "Milestone M2: Hull design approved",
        D(1),
        "milestone",
        D("25000.00"),
    )
    assert invoice.total == D("31250.00")


def test_a_limit_adjustment_shows_the_work_then_takes_it_off() -> None:
    # 45 h of survey at 145.00 = 6525.00 billed, 5 h beyond the 40 h cap taken off
    # (-725.00): 5800.00 + 25% VAT 1450.00 = 7250.00.
    over = LimitAdjustment(
        cap_key="task/survey",
        amount=D("-725.00"),
        hours=D(5),
        description="Not-to-exceed task survey cap of 40 h reached: 5.00 h not charged",
        entry_ids=(2,),
    )
    invoice = draft(nsy(), [portion(1, "30"), portion(2, "15")], limit_adjustments=[over])
    assert [(line.kind, line.quantity, line.unit, line.amount) for line in invoice.lines] == [
        (LineKind.TIME, D("45.00"), "hour", D("6525.00")),
        (LineKind.LIMIT_ADJUSTMENT, D(1), "adjustment", D("-725.00")),
    ]
    assert invoice.lines[1].description == over.description
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        D("5800.00"),
        D("1450.00"),
        D("7250.00"),
    )


def test_an_adjustment_line_for_a_billed_entry_edited_later() -> None:
    # Entry 4 was billed at 6 h in February but is 5 h now: credit 1 h x 145.00.
    credit = InvoiceLine(
        kind=LineKind.ADJUSTMENT,
        description="Correction: entry A-17 on 2026-02-12 reduced from 6.00 h to 5.00 h",
        quantity=D("-1.00"),
        unit="hour",
        unit_price=D("145.00"),
        amount=D("-145.00"),
        key=("entry", "4"),
    )
    invoice = draft(nsy(), [portion(1, "10")], adjustments=[credit])
    # 1450.00 - 145.00 = 1305.00 + 25% 326.25 = 1631.25
    assert invoice.lines[-1] == credit
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        D("1305.00"),
        D("326.25"),
        D("1631.25"),
    )


def test_an_adjustment_line_that_does_not_add_up_is_refused() -> None:
    wrong = InvoiceLine(
        LineKind.ADJUSTMENT, "Correction", D(1), "hour", D("145.00"), D("140.00"), ("x",)
    )
    with pytest.raises(ValueError, match="amount 140.00 != 145.00"):
        draft(nsy(), [], adjustments=[wrong])
    not_an_adjustment = replace(wrong, kind=LineKind.TIME, amount=D("145.00"))
    with pytest.raises(ValueError, match="must be an ADJUSTMENT"):
        draft(nsy(), [], adjustments=[not_an_adjustment])


def test_lines_come_kind_by_kind() -> None:
    m1 = Milestone(code="M1", amount=D(1000))
    over = LimitAdjustment("contract", D("-145.00"), D(1), "Not-to-exceed", (1,))
    invoice = draft(nsy(), [portion(1, "1")], milestones=[m1], limit_adjustments=[over])
    kinds = [line.kind for line in invoice.lines]
    assert kinds == [LineKind.TIME, LineKind.MILESTONE, LineKind.LIMIT_ADJUSTMENT]


# -- retainage --------------------------------------------------------------------------


def test_ten_percent_retainage_is_withheld_from_the_amount_due() -> None:
    # 40 h x 145.00 = 5800.00 + 1450.00 VAT = 7250.00; 10% of 5800.00 = 580.00 withheld:
    # 6670.00 due. Lines still add up to the subtotal.
    contract = nsy(retainage=Retainage(percent=D(10)))
    invoice = draft(contract, [portion(1, "40")])
    assert sum(line.amount for line in invoice.lines) == invoice.subtotal == D("5800.00")
    assert invoice.retainage == D("580.00")
    assert invoice.amount_due == D("6670.00")
    assert invoice.status.retainage_held == D("580.00")


def test_retainage_stops_at_its_maximum() -> None:
    # Max 2000.00, 1800.00 already held: only 200.00 of the 580.00 is withheld.
    contract = nsy(retainage=Retainage(percent=D(10), max_amount=D(2000)))
    history = BillingHistory(billed_before=D(18000), retainage_held=D("1800.00"))
    invoice = draft(contract, [portion(1, "40")], history=history)
    assert invoice.retainage == D("200.00")
    assert invoice.amount_due == D("7050.00")  # 7250.00 - 200.00
    assert invoice.status.retainage_held == D("2000.00")
    # Once at the maximum, nothing more is withheld.
    full = BillingHistory(billed_before=D(23800), retainage_held=D("2000.00"))
    assert draft(contract, [portion(2, "40")], history=full).retainage == D(0)


def test_releasing_retainage_pays_it_out_without_tax() -> None:
    # Final invoice: 10 h x 145.00 = 1450.00 + 362.50 VAT, plus the 2000.00 held
    # released untaxed (VAT was charged when the work was invoiced): 3812.50 due.
    contract = nsy(retainage=Retainage(percent=D(10), max_amount=D(2000)))
    history = BillingHistory(billed_before=D(23800), retainage_held=D("2000.00"))
    invoice = draft(contract, [portion(1, "10")], history=history, release_retainage=True)

    release = invoice.lines[-1]
    assert (release.kind, release.quantity, release.unit, release.amount) == (
        LineKind.RETAINAGE_RELEASE,
        D(1),
        "retainage",
        D("2000.00"),
    )
    assert invoice.subtotal == D("3450.00")  # 1450.00 + 2000.00
    assert invoice.taxable == D("1450.00")
    assert invoice.tax == D("362.50")
    assert invoice.total == D("3812.50")
    assert invoice.retainage == D(0)  # a release withholds nothing new
    assert invoice.amount_due == D("3812.50")
    assert invoice.status.retainage_held == D(0)
    assert invoice.status.this_invoice == D("1450.00")  # the release is not new work


def test_a_release_only_invoice_is_valid() -> None:
    contract = nsy(retainage=Retainage(percent=D(10)))
    history = BillingHistory(billed_before=D(50000), retainage_held=D("5000.00"))
    invoice = draft(contract, [], history=history, release_retainage=True)
    assert [line.kind for line in invoice.lines] == [LineKind.RETAINAGE_RELEASE]
    assert (invoice.subtotal, invoice.tax, invoice.total, invoice.amount_due) == (
        D("5000.00"),
        D("0.00"),
        D("5000.00"),
        D("5000.00"),
    )


# -- contract status --------------------------------------------------------------------


def test_contract_status_counts_approved_variations_up_to_the_issue_date() -> None:
    # Value 100000.00 + VO-1 20000.00 (approved 2026-03-15) - VO-2 (not approved) -
    # VO-3 (effective after the issue date). 60000.00 billed before, 5800.00 now:
    # 54200.00 remaining.
    variations = (
        Variation(code="VO-1", effective=date(2026, 3, 15), approved=True, value=D(20000)),
        Variation(code="VO-2", effective=date(2026, 3, 15), approved=False, value=D(9000)),
        Variation(code="VO-3", effective=date(2026, 4, 2), approved=True, value=D(7000)),
    )
    contract = nsy(value=D(100000), variations=variations, retainage=Retainage(percent=D(5)))
    history = BillingHistory(billed_before=D("60000.00"), retainage_held=D("3000.00"))
    status = draft(contract, [portion(1, "40")], history=history).status
    assert status.value == D(120000)
    assert status.billed_before == D("60000.00")
    assert status.this_invoice == D("5800.00")
    assert status.retainage_held == D("3290.00")  # 3000.00 + 5% of 5800.00
    assert status.remaining == D("54200.00")


def test_a_contract_without_a_value_has_nothing_remaining_to_report() -> None:
    status = draft(nsy(), [portion(1, "1")]).status
    assert status.value is None and status.remaining is None


# -- currencies -------------------------------------------------------------------------


def test_yen_have_no_minor_unit() -> None:
    # 7.5 h at 12345 JPY = 92587.5 -> 92588; 10% tax 9258.8 -> 9259; 101847 total.
    contract = nsy(currency="JPY", tax_rate=D(10))
    invoice = draft(contract, [portion(1, "7.5", rate="12345", currency="JPY")])
    [line] = invoice.lines
    assert line.amount == D("92588")
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D(92588), D(9259), D(101847))
    assert str(invoice.total) == "101847"


def test_kuwaiti_dinar_have_three_decimals() -> None:
    # 3.25 h at 45.125 KWD = 146.65625 -> 146.656; 5% tax 7.3328 -> 7.333; 153.989.
    contract = nsy(currency="KWD", tax_rate=D(5))
    invoice = draft(contract, [portion(1, "3.25", rate="45.125", currency="KWD")])
    assert invoice.lines[0].amount == D("146.656")
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        D("146.656"),
        D("7.333"),
        D("153.989"),
    )


# -- properties -------------------------------------------------------------------------

PHASES = st.sampled_from(["design", "yard", ""])
ROLES = st.sampled_from(["naval-architect", "surveyor"])
PREMIUMS = st.sampled_from([("", "1"), ("daily", "1.5"), ("holiday", "2")])


@st.composite
def portions(draw: st.DrawFn, currency: str) -> Portion:
    premium, multiplier = draw(PREMIUMS)
    rate = draw(st.decimals(min_value=1, max_value=2500, places=2))
    seconds = draw(st.integers(min_value=60, max_value=16 * 3600))
    p = portion(
        draw(st.integers(min_value=1, max_value=50)),
        "1",
        day=draw(st.dates(min_value=date(2026, 3, 1), max_value=date(2026, 3, 31))),
        rate=str(rate),
        multiplier=multiplier,
        premium=premium,
        role=draw(ROLES),
        phase=draw(PHASES),
        category=draw(st.sampled_from(list(Category))),
        currency=currency,
    )
    quantity = Decimal(seconds) / 3600
    return replace(p, seconds=seconds, quantity=quantity, amount=quantity * p.unit_price)


@st.composite
def invoices(draw: st.DrawFn) -> tuple[Contract, list[Portion], list[Portion]]:
    currency = draw(st.sampled_from(["EUR", "JPY", "KWD"]))
    contract = nsy(
        currency=currency,
        tax_rate=draw(st.decimals(min_value=0, max_value=30, places=1)),
        retainage=draw(st.sampled_from([None, Retainage(percent=D(10))])),
    )
    work = draw(st.lists(portions(currency), max_size=25))
    return contract, work, draw(st.permutations(work))


@settings(max_examples=200)
@given(invoices())
def test_totals_are_sums_of_lines_checkable_by_hand_and_order_free(
    case: tuple[Contract, list[Portion], list[Portion]],
) -> None:
    contract, work, shuffled = case
    invoice = draft(contract, work)
    cur = contract.currency

    assert invoice.subtotal == sum((line.amount for line in invoice.lines), D(0))
    assert invoice.total == sum((line.amount for line in invoice.lines), D(0)) + invoice.tax
    assert invoice.tax == quantize(invoice.subtotal * contract.tax_rate / 100, cur)
    assert invoice.amount_due == invoice.total - invoice.retainage
    for line in invoice.lines:
        assert line.amount == quantize(line.quantity * line.unit_price, cur)
        assert {p.unit_price for p in line.portions} == {line.unit_price}
    # Every portion on exactly one line.
    assert sorted(map(id, work)) == sorted(id(p) for line in invoice.lines for p in line.portions)
    assert draft(contract, shuffled) == invoice
