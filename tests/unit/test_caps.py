"""Not-to-exceed caps, told as the stories finance lives through."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal, localcontext

from hypothesis import given, settings
from hypothesis import strategies as st

from billsync.domain.caps import (
    CapResult,
    CapUsage,
    apply_caps,
    cap_limits,
    chronological,
    in_chronological_order,
    portion_hours,
    split_portion,
)
from billsync.domain.contracts import Cap, CapScope, Contract, OverCap, Period, Unit, Variation
from billsync.domain.entries import Category
from billsync.domain.findings import Severity
from billsync.domain.money import D
from billsync.domain.rated import Portion, Price, Worked

MARCH_2 = date(2026, 3, 2)
MARCH_3 = date(2026, 3, 3)
END_OF_MARCH = date(2026, 3, 31)


def portion(
    entry_id: int,
    hours: str,
    *,
    day: date = MARCH_2,
    rate: str = "145.00",
    multiplier: str = "1",
    premium: str = "",
    phase: str = "design",
    task: str = "survey",
    days: str | None = None,
) -> Portion:
    """A rated portion as rating makes it: hours (or days for a day rate) x unit price."""
    seconds = int(D(hours) * 3600)
    unit = Unit.HOUR if days is None else Unit.DAY
    quantity = D(hours) if days is None else D(days)
    unit_price = D(rate) * D(multiplier)
    return Portion(
        entry_id=entry_id,
        revision=1,
        work_date=day,
        seconds=seconds,
        quantity=quantity,
        amount=quantity * unit_price,
        worked=Worked("jdoe", "naval-architect", "P-1001", phase, task, Category.OPERATING),
        price=Price(unit, D(rate), D(multiplier), premium, unit_price),
    )


def nsy(*caps: Cap, variations: tuple[Variation, ...] = ()) -> Contract:
    return Contract(
        code="NSY-2026",
        client="nordic",
        currency="EUR",
        start=date(2026, 1, 1),
        caps=caps,
        variations=variations,
    )


DESIGN_500_H = Cap(scope=CapScope.PHASE, phase="design", hours=D(500))


def used(key: str, hours: str, amount: str = "0") -> CapUsage:
    return CapUsage(hours={key: D(hours)}, amount={key: D(amount)})


def summary(portions: tuple[Portion, ...]) -> list[tuple[int, Decimal, Decimal]]:
    return [(p.entry_id, p.quantity, p.amount) for p in portions]


# -- hold -------------------------------------------------------------------------------


def test_design_phase_cap_of_500_h_holds_the_5_h_beyond_it() -> None:
    # 455 h already billed. 30 h (entry 7) then 20 h (entry 9) of design work: entry 7
    # fits, entry 9 fits for 15 h and its last 5 h x 145.00 = 725.00 are held.
    # 8 h of yard work are not under the design cap at all.
    work = [
        portion(9, "20", day=MARCH_3),
        portion(7, "30"),
        portion(11, "8", day=MARCH_3, phase="yard"),
    ]
    result = apply_caps(nsy(DESIGN_500_H), work, used("phase/design", "455"), END_OF_MARCH)

    assert summary(result.billable) == [
        (7, D(30), D("4350.00")),
        (9, D(15), D("2175.00")),
        (11, D(8), D("1160.00")),
    ]
    assert summary(result.held) == [(9, D(5), D("725.00"))]
    assert result.held[0].seconds == 5 * 3600
    assert result.written_off == () and result.limit_adjustments == ()
    [exceeded] = result.findings  # 80% and 90% were passed before: no new warning
    assert exceeded.code == "cap.exceeded" and exceeded.blocking
    assert exceeded.entry_ids == (9,)
    assert (exceeded.hours, exceeded.amount) == (D("5.00"), D("725.00"))
    assert exceeded.subject == "cap:NSY-2026/phase/design"
    assert exceeded.message.startswith(
        "Contract NSY-2026 phase design cap of 500 h is reached: 5.00 h (725.00 EUR) beyond"
    )
    assert result.usage_after.hours["phase/design"] == D(500)
    assert result.usage_after.amount["phase/design"] == D("6525.00")  # 4350.00 + 2175.00


def test_the_order_work_arrives_in_does_not_change_what_is_billed() -> None:
    work = [
        portion(9, "20", day=MARCH_3),
        portion(7, "30"),
        portion(8, "6", day=MARCH_3),
        portion(7, "2", premium="daily", multiplier="1.5"),
    ]
    contract = nsy(DESIGN_500_H)
    results = {
        repr(apply_caps(contract, order, used("phase/design", "455"), END_OF_MARCH))
        for order in itertools.permutations(work)
    }
    assert len(results) == 1


def test_overtime_is_consumed_after_the_base_hours_of_the_same_day() -> None:
    # 491 h used, 9 h left. Entry 7: 8 h at 145.00 and 2 h daily overtime at 217.50.
    # The 8 base hours fit; 1 overtime hour fits (217.50) and 1 (217.50) is held.
    work = [portion(7, "2", premium="daily", multiplier="1.5"), portion(7, "8")]
    result = apply_caps(nsy(DESIGN_500_H), work, used("phase/design", "491"), END_OF_MARCH)

    assert [(p.premium, p.quantity, p.amount) for p in result.billable] == [
        ("", D(8), D("1160.00")),
        ("daily", D(1), D("217.500")),
    ]
    assert [(p.premium, p.quantity, p.amount) for p in result.held] == [
        ("daily", D(1), D("217.500"))
    ]


def test_work_after_a_full_cap_is_held_whole() -> None:
    result = apply_caps(
        nsy(DESIGN_500_H), [portion(7, "4")], used("phase/design", "500"), END_OF_MARCH
    )
    assert result.billable == ()
    assert summary(result.held) == [(7, D(4), D("580.00"))]


def test_task_cap_counts_only_its_task() -> None:
    survey_cap = Cap(scope=CapScope.TASK, task="survey", hours=D(10))
    work = [portion(1, "8"), portion(2, "8", task="drawing"), portion(3, "8", day=MARCH_3)]
    result = apply_caps(nsy(survey_cap), work, CapUsage(), END_OF_MARCH)

    # 8 h + 2 h of survey fit the 10 h; the drawing task is not capped.
    assert summary(result.billable) == [
        (1, D(8), D("1160.00")),
        (2, D(8), D("1160.00")),
        (3, D(2), D("290.00")),
    ]
    assert summary(result.held) == [(3, D(6), D("870.00"))]


def test_a_cap_already_overrun_holds_all_new_work_and_lets_empty_work_through() -> None:
    # 510 h billed before the 500 h cap was written into the contract.
    empty = replace(portion(8, "0"), seconds=0, quantity=D(0), amount=D(0))
    result = apply_caps(
        nsy(DESIGN_500_H), [portion(7, "2"), empty], used("phase/design", "510"), END_OF_MARCH
    )
    assert summary(result.held) == [(7, D(2), D("290.00"))]
    assert result.billable == (empty,)


# -- write off and bill-and-adjust ------------------------------------------------------


def test_contract_cap_writes_off_the_excess_and_reports_it_as_leakage() -> None:
    # 96 h of a 100 h contract cap are used; 10 h at 145.00 arrive. 4 h (580.00) are
    # billed, 6 h (870.00) are written off under the contract terms.
    cap = Cap(hours=D(100), on_exceed=OverCap.WRITE_OFF)
    result = apply_caps(nsy(cap), [portion(7, "10")], used("contract", "96"), END_OF_MARCH)

    assert summary(result.billable) == [(7, D(4), D("580.00"))]
    assert summary(result.written_off) == [(7, D(6), D("870.00"))]
    assert result.held == ()
    [leakage] = result.findings
    assert leakage.code == "cap.exceeded"
    assert leakage.severity is Severity.WARNING
    assert (leakage.hours, leakage.amount) == (D("6.00"), D("870.00"))
    assert "written off as leakage" in leakage.message


def test_bill_and_adjust_bills_all_the_work_and_takes_the_excess_back_off() -> None:
    # A 40 h survey cap. 30 h + 15 h at 145.00 are worked: all 45 h are billed
    # (6525.00) and a limit adjustment takes 5 h x 145.00 = 725.00 back off.
    cap = Cap(scope=CapScope.TASK, task="survey", hours=D(40), on_exceed=OverCap.BILL_AND_ADJUST)
    work = [portion(1, "30"), portion(2, "15", day=MARCH_3)]
    result = apply_caps(nsy(cap), work, CapUsage(), END_OF_MARCH)

    assert summary(result.billable) == [
        (1, D(30), D("4350.00")),
        (2, D(10), D("1450.00")),
        (2, D(5), D("725.00")),
    ]
    assert sum(p.amount for p in result.billable) == D("6525.00")
    [adjustment] = result.limit_adjustments
    assert adjustment.amount == D("-725.00")
    assert adjustment.hours == D(5)
    assert adjustment.entry_ids == (2,)
    assert adjustment.cap_key == "task/survey"
    assert adjustment.description == (
        "Not-to-exceed task survey cap of 40 h reached: 5.00 h not charged"
    )
    # The cap is used up, not overrun: adjusted work nets to nothing.
    assert result.usage_after.hours["task/survey"] == D(40)
    assert result.usage_after.amount["task/survey"] == D("5800.00")
    assert [f.code for f in result.findings] == ["cap.warning", "cap.exceeded"]
    assert result.findings[0].message == (
        "Contract NSY-2026 task survey cap: 100% of 40 h used (40.00 h)"
    )


# -- amount caps ------------------------------------------------------------------------


def test_an_amount_cap_splits_where_the_money_runs_out_before_the_hours() -> None:
    # Design: 100 h or 10000.00, whichever first. 50 h and 9000.00 used. 10 h at 125.00
    # (1250.00) arrive: 1000.00 is left, so 8 h are billed and 2 h (250.00) held.
    cap = Cap(scope=CapScope.PHASE, phase="design", hours=D(100), amount=D(10000))
    result = apply_caps(
        nsy(cap),
        [portion(7, "10", rate="125.00")],
        used("phase/design", "50", "9000.00"),
        END_OF_MARCH,
    )

    assert summary(result.billable) == [(7, D(8), D("1000.00"))]
    assert summary(result.held) == [(7, D(2), D("250.00"))]
    assert result.usage_after.amount["phase/design"] == D("10000.00")
    assert result.usage_after.hours["phase/design"] == D(58)
    assert "of 100 h / 10000.00 EUR is reached" in result.findings[-1].message


def test_a_split_that_falls_between_seconds_stays_under_the_cap() -> None:
    # 100.00 left at 145.00/h is 0.6896... h = 2482.76 s: 2482 s are billed, never more.
    cap = Cap(amount=D("1000.00"))
    result = apply_caps(nsy(cap), [portion(7, "1")], used("contract", "0", "900.00"), END_OF_MARCH)

    [billed] = result.billable
    [held] = result.held
    assert billed.seconds == 2482 and held.seconds == 3600 - 2482
    assert billed.amount <= D("100.00")
    assert billed.amount + held.amount == D("145.00")
    assert billed.quantity + held.quantity == D(1)


# -- period caps ------------------------------------------------------------------------


def test_a_monthly_cap_starts_afresh_each_month() -> None:
    # 160 h a month; 150 h used in March. 12 h on 31 March: 10 h fit, 2 h held.
    # 12 h on 1 April count against April's 160 h.
    cap = Cap(scope=CapScope.PERIOD, period=Period.MONTH, hours=D(160))
    work = [portion(1, "12", day=date(2026, 3, 31)), portion(2, "12", day=date(2026, 4, 1))]
    usage = used("period/month@2026-03-01", "150")
    result = apply_caps(nsy(cap), work, usage, date(2026, 4, 2))

    assert summary(result.billable) == [(1, D(10), D("1450.00")), (2, D(12), D("1740.00"))]
    assert summary(result.held) == [(1, D(2), D("290.00"))]
    assert result.usage_after.hours == {
        "period/month@2026-03-01": D(160),
        "period/month@2026-04-01": D(12),
    }
    [exceeded] = result.findings  # March was past 90% already (150 h is 93%)
    assert exceeded.subject == "cap:NSY-2026/period/month@2026-03-01"
    assert exceeded.message.startswith(
        "Contract NSY-2026 month cap 2026-03 of 160 h is reached: 2.00 h (290.00 EUR)"
    )


def test_a_weekly_cap_buckets_by_iso_week() -> None:
    cap = Cap(scope=CapScope.PERIOD, period=Period.WEEK, hours=D(40))
    # Sunday 8 March and Monday 9 March are in different weeks: both 30 h fit.
    work = [portion(1, "30", day=date(2026, 3, 8)), portion(2, "30", day=date(2026, 3, 9))]
    result = apply_caps(nsy(cap), work, CapUsage(), END_OF_MARCH)
    assert result.held == ()
    assert set(result.usage_after.hours) == {"period/week@2026-03-02", "period/week@2026-03-09"}


# -- day rates --------------------------------------------------------------------------


def test_a_day_rate_counts_the_hours_worked_not_the_days_billed() -> None:
    # A 10 h day at 1200.00/day is 10 h against a 20 h cap with 15 h used: half the
    # day (5 h, 0.5 day, 600.00) fits and half is held.
    cap = Cap(hours=D(20))
    day = portion(7, "10", rate="1200.00", days="1")
    assert portion_hours(day) == D(10)
    result = apply_caps(nsy(cap), [day], used("contract", "15"), END_OF_MARCH)

    [billed] = result.billable
    [held] = result.held
    assert (billed.quantity, billed.amount, billed.seconds) == (D("0.5"), D("600.00"), 18000)
    assert (held.quantity, held.amount, held.seconds) == (D("0.5"), D("600.00"), 18000)
    assert result.usage_after.hours["contract"] == D(20)


# -- several caps -----------------------------------------------------------------------


def test_work_under_two_caps_is_billed_only_as_far_as_both_allow() -> None:
    # Design phase cap 100 h (hold), 90 h used; contract cap 500 h (write off), 495 h
    # used. 12 h of design work: the phase allows 10 h, the contract only 5 h. So 5 h
    # are billed and 7 h go to the tighter contract cap, written off. Both caps count
    # the 5 h billed, nothing else.
    phase = Cap(scope=CapScope.PHASE, phase="design", hours=D(100))
    whole = Cap(hours=D(500), on_exceed=OverCap.WRITE_OFF, warn_at=())
    usage = CapUsage(hours={"phase/design": D(90), "contract": D(495)})
    result = apply_caps(nsy(phase, whole), [portion(7, "12")], usage, END_OF_MARCH)

    assert summary(result.billable) == [(7, D(5), D("725.00"))]
    assert summary(result.written_off) == [(7, D(7), D("1015.00"))]
    assert result.held == ()
    assert result.usage_after.hours == {"phase/design": D(95), "contract": D(500)}
    # The phase was at 90% already, so no new warning: only the write-off is reported.
    [exceeded] = result.findings
    assert (exceeded.subject, exceeded.amount) == ("cap:NSY-2026/contract", D("1015.00"))


# -- warnings ---------------------------------------------------------------------------


def test_a_warning_the_first_time_usage_passes_80_and_then_90_percent() -> None:
    contract = nsy(DESIGN_500_H)
    # 390 h (78%) + 12 h = 402 h: past 80%.
    first = apply_caps(contract, [portion(1, "12")], used("phase/design", "390"), END_OF_MARCH)
    assert [f.message for f in first.findings] == [
        "Contract NSY-2026 phase design cap: 80% of 500 h used (402.00 h)"
    ]
    assert first.findings[0].details["threshold"] == "80"
    # 402 h + 53 h = 455 h: past 90%.
    second = apply_caps(contract, [portion(2, "53")], first.usage_after, END_OF_MARCH)
    assert [f.message for f in second.findings] == [
        "Contract NSY-2026 phase design cap: 91% of 500 h used (455.00 h)"
    ]
    assert second.findings[0].severity is Severity.WARNING
    # 455 h + 5 h = 460 h: nothing new passed, nothing said.
    third = apply_caps(contract, [portion(3, "5")], second.usage_after, END_OF_MARCH)
    assert third.findings == ()


def test_passing_two_thresholds_at_once_gives_one_warning_for_the_higher() -> None:
    result = apply_caps(nsy(DESIGN_500_H), [portion(1, "460")], CapUsage(), END_OF_MARCH)
    [warning] = result.findings
    assert warning.details["threshold"] == "90"
    assert warning.message == "Contract NSY-2026 phase design cap: 92% of 500 h used (460.00 h)"


def test_an_amount_cap_warns_in_money() -> None:
    # 44000.00 of 50000.00 (88%) + 10 h x 145.00 = 45450.00 (90.9%).
    cap = Cap(amount=D(50000))
    result = apply_caps(
        nsy(cap), [portion(1, "10")], used("contract", "300", "44000.00"), END_OF_MARCH
    )
    [warning] = result.findings
    assert warning.message == (
        "Contract NSY-2026 contract cap: 90% of 50000.00 EUR used (45450.00 EUR)"
    )


# -- variation orders -------------------------------------------------------------------


VO_1 = Variation(
    code="VO-1",
    effective=date(2026, 4, 1),
    approved=True,
    cap="phase/design",
    cap_hours=D(100),
)


def test_an_approved_variation_raises_the_cap_from_its_effective_date() -> None:
    contract = nsy(DESIGN_500_H, variations=(VO_1,))
    assert cap_limits(contract, DESIGN_500_H, date(2026, 3, 31)) == (D(500), None)
    assert cap_limits(contract, DESIGN_500_H, date(2026, 4, 1)) == (D(600), None)

    # The 10 h held on 31 March are billed once VO-1 is in force on 1 April.
    usage = used("phase/design", "500")
    before = apply_caps(contract, [portion(7, "10")], usage, date(2026, 3, 31))
    after = apply_caps(contract, [portion(7, "10")], usage, date(2026, 4, 1))
    assert summary(before.held) == [(7, D(10), D("1450.00"))]
    assert summary(after.billable) == [(7, D(10), D("1450.00"))]
    assert after.held == ()


def test_an_unapproved_variation_raises_nothing() -> None:
    pending = VO_1.model_copy(update={"approved": False})
    contract = nsy(DESIGN_500_H, variations=(pending,))
    assert cap_limits(contract, DESIGN_500_H, date(2026, 6, 30)) == (D(500), None)
    result = apply_caps(
        contract, [portion(7, "10")], used("phase/design", "500"), date(2026, 6, 30)
    )
    assert result.billable == ()


def test_variations_raise_only_their_own_cap_and_both_limits() -> None:
    both = Cap(scope=CapScope.PHASE, phase="design", hours=D(500), amount=D(70000))
    survey = Cap(scope=CapScope.TASK, task="survey", hours=D(200))
    raise_both = VO_1.model_copy(update={"cap_amount": D(5000)})
    contract = nsy(both, survey, variations=(raise_both,))
    assert cap_limits(contract, both, date(2026, 4, 1)) == (D(600), D(75000))
    assert cap_limits(contract, survey, date(2026, 4, 1)) == (D(200), None)


# -- splitting --------------------------------------------------------------------------


def test_no_caps_bill_everything_in_work_order() -> None:
    work = [portion(2, "3", day=MARCH_3), portion(1, "5")]
    result = apply_caps(nsy(), work, CapUsage(), END_OF_MARCH)
    assert [p.entry_id for p in result.billable] == [1, 2]
    assert result == CapResult(
        billable=tuple(sorted(work, key=chronological)),
        held=(),
        written_off=(),
        limit_adjustments=(),
        findings=(),
        usage_after=CapUsage(),
    )


@given(
    seconds=st.integers(min_value=2, max_value=20 * 3600),
    cut=st.integers(min_value=1, max_value=20 * 3600 - 1),
    rate=st.decimals(min_value=1, max_value=5000, places=2),
)
def test_split_parts_add_up_exactly_to_the_portion(seconds: int, cut: int, rate: Decimal) -> None:
    cut = 1 + cut % (seconds - 1)
    quantity = D(seconds) / 3600  # often a repeating decimal, cut at 28 digits
    whole = replace(portion(7, "1", rate=str(rate)), seconds=seconds, quantity=quantity)
    whole = replace(whole, amount=quantity * rate)
    first, rest = split_portion(whole, cut)
    assert first.seconds + rest.seconds == whole.seconds
    assert first.quantity + rest.quantity == whole.quantity
    assert first.amount + rest.amount == whole.amount
    assert rest.amount >= 0 and first.amount >= 0


# -- properties -------------------------------------------------------------------------

SOME_CAPS = [
    Cap(hours=D(40)),
    Cap(scope=CapScope.PHASE, phase="design", amount=D(5000), on_exceed=OverCap.WRITE_OFF),
    Cap(scope=CapScope.TASK, task="survey", hours=D(20), on_exceed=OverCap.BILL_AND_ADJUST),
    Cap(scope=CapScope.PERIOD, period=Period.WEEK, hours=D(30), amount=D(4000)),
]


@st.composite
def any_portion(draw: st.DrawFn) -> Portion:
    """Up to 12 h of work in March at up to 400.00/h; hours often repeating decimals."""
    seconds = draw(st.integers(min_value=1, max_value=12 * 3600))
    rate = draw(st.decimals(min_value=1, max_value=400, places=2))
    base = portion(
        draw(st.integers(min_value=1, max_value=30)),
        "1",
        day=draw(st.dates(min_value=MARCH_2, max_value=date(2026, 3, 22))),
        rate=str(rate),
        phase=draw(st.sampled_from(["design", "yard"])),
        task=draw(st.sampled_from(["survey", "drawing"])),
    )
    hours = D(seconds) / 3600
    return replace(base, seconds=seconds, quantity=hours, amount=hours * base.unit_price)


@st.composite
def capped_work(draw: st.DrawFn) -> tuple[Contract, list[Portion], list[Portion]]:
    caps = draw(st.lists(st.sampled_from(SOME_CAPS), unique_by=lambda c: c.key, max_size=4))
    work = draw(st.lists(any_portion(), max_size=12))
    return nsy(*caps), work, draw(st.permutations(work))


def exact_sum(values: list[Decimal]) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 300
        return sum(values, D(0))


@settings(max_examples=200)
@given(capped_work())
def test_caps_lose_no_work_respect_every_limit_and_ignore_input_order(
    case: tuple[Contract, list[Portion], list[Portion]],
) -> None:
    contract, work, shuffled = case
    result = apply_caps(contract, work, CapUsage(), END_OF_MARCH)
    out = [*result.billable, *result.held, *result.written_off]

    # Every second and every cent of the work comes out exactly once.
    assert sum(p.seconds for p in out) == sum(p.seconds for p in work)
    assert exact_sum([p.amount for p in out]) == exact_sum([p.amount for p in work])
    assert exact_sum([p.quantity for p in out]) == exact_sum([p.quantity for p in work])
    # No cap is used beyond its limit.
    for cap in contract.caps:
        for key, used_hours in result.usage_after.hours.items():
            if key.split("@")[0] == cap.key:
                assert cap.hours is None or used_hours <= cap.hours
                assert cap.amount is None or result.usage_after.amount[key] <= cap.amount
    # Adjustments take off exactly the bill-and-adjust work beyond its cap.
    adjusted = exact_sum([a.amount for a in result.limit_adjustments])
    capped = exact_sum([p.amount for p in result.billable])
    assert adjusted <= 0 and capped + adjusted >= 0
    assert apply_caps(contract, shuffled, CapUsage(), END_OF_MARCH) == result


@settings(max_examples=200, deadline=None)
@given(
    work=st.lists(
        st.tuples(
            st.integers(1, 6),  # entry
            st.sampled_from([MARCH_2, MARCH_3]),
            st.sampled_from(["", "daily", "weekly", "holiday"]),
            st.sampled_from(["0.25", "1", "2.5"]),
            st.sampled_from(["1", "1.5"]),
        ),
        max_size=30,
    ),
    shuffle=st.randoms(use_true_random=False),
)
def test_chronological_order_sorts_as_the_whole_key_does(work, shuffle) -> None:  # type: ignore[no-untyped-def]
    # Ties on day and entry (the parts of one entry) are where the two ways could part.
    portions = [
        portion(entry_id, hours, day=day, premium=premium, multiplier=multiplier)
        for entry_id, day, premium, hours, multiplier in work
    ]
    shuffle.shuffle(portions)
    ordered = sorted(portions, key=chronological)
    assert in_chronological_order(portions) == ordered
    # In order already (as a run's drafts get them from its caps): given back as it is.
    assert in_chronological_order(ordered) == ordered
    # Any two neighbours out of order are found: by day, by entry, or within one entry.
    for at in range(len(ordered) - 1):
        swapped = [*ordered[:at], ordered[at + 1], ordered[at], *ordered[at + 2 :]]
        assert in_chronological_order(swapped) == ordered
