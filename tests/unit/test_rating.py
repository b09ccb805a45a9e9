"""Rating, told as billing stories: a person's hours, the contract terms, the invoice money.

Unless a story says otherwise: contract NSY-2026 in EUR, Ana is a naval architect at the
Oslo yard (Norwegian holidays), and 2026-03-02 is a Monday.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billsync.domain.contracts import Contract, Overtime, Rate, Rounding, RoundingMode, Unit
from billsync.domain.entries import (
    Category,
    EntryState,
    SourceRef,
    TimeEntry,
    WriteAdjustment,
)
from billsync.domain.findings import Severity
from billsync.domain.money import D, quantize
from billsync.domain.rated import Adjustment, Portion, RatedEntry
from billsync.domain.rating import PersonInfo, rate_entries, round_seconds, select_rate

ANA = PersonInfo(role="naval-architect", timezone="Europe/Oslo", country="NO")
BO = PersonInfo(role="surveyor", timezone="Europe/London", country="GB", subdivision="SCT")
PEOPLE = {"ana": ANA, "bo": BO}

MONDAY = date(2026, 3, 2)
SATURDAY = date(2026, 3, 7)
LABOUR_DAY = date(2026, 5, 1)  # a Friday, public holiday in Norway
BOXING_DAY = date(2026, 12, 26)  # a Saturday, public holiday in Norway
ST_ANDREWS_DAY = date(2026, 11, 30)  # a Monday, holiday in Scotland, not in England

ARCHITECT_145 = Rate(role="naval-architect", rate=D("145.00"))
SURVEYOR_120 = Rate(role="surveyor", rate=D("120.00"))

_ids = itertools.count(1)


def entry(
    worked: str,
    on: date = MONDAY,
    *,
    person: str = "ana",
    start: str | None = None,
    category: Category = Category.OPERATING,
    task: str = "survey",
    phase: str = "design",
    **changes: Any,
) -> TimeEntry:
    """A mapped, approved, billable entry of ``worked`` hours: "9.5" or "9:20"."""
    number = next(_ids)
    zone = ZoneInfo(PEOPLE[person].timezone if person in PEOPLE else "UTC")
    started = None if start is None else datetime.combine(on, time.fromisoformat(start), zone)
    fields: dict[str, Any] = {
        "id": number,
        "revision": 1,
        "source": "csv",
        "external_id": f"A-{number}",
        "ref": SourceRef(person=person, project="4471"),
        "work_date": on,
        "duration_seconds": _seconds(worked),
        "timezone": zone.key,
        "start": started,
        "category": category,
        "person": person,
        "project": "P-1001",
        "task": task,
        "phase": phase,
    }
    fields.update(changes)
    return TimeEntry(**fields)


def _seconds(worked: str) -> int:
    if ":" in worked:
        h, m = worked.split(":")
        return int(h) * 3600 + int(m) * 60
    seconds = D(worked) * 3600
    assert seconds == int(seconds), f"{worked} h is not a whole number of seconds"
    return int(seconds)


def contract(*rates: Rate, **terms: Any) -> Contract:
    return Contract(
        code="NSY-2026",
        client="nordic",
        currency=terms.pop("currency", "EUR"),
        start=date(2026, 1, 1),
        rates=rates or (ARCHITECT_145, SURVEYOR_120),
        **terms,
    )


def rate_one(e: TimeEntry, c: Contract) -> RatedEntry:
    (rated,) = rate_entries([e], c, PEOPLE)
    return rated


def lines(rated: RatedEntry) -> list[tuple[Decimal, Decimal, str]]:
    """Each portion as (quantity, unit price, premium): how an invoice reads it."""
    return [(p.quantity, p.unit_price, p.premium) for p in rated.portions]


def total(rated: list[RatedEntry]) -> Decimal:
    return sum((r.amount for r in rated), Decimal(0))


def test_module_example_rounds_then_splits_daily_overtime() -> None:
    # 9 h 20 min -> 9.5 h by 15-minute rounding: 8 h x 145.00 + 1.5 h x 217.50 = 1486.25.
    c = contract(
        rounding=Rounding(increment_minutes=15),
        overtime=Overtime(daily_after_hours=D(8), daily_multiplier=D("1.5")),
    )
    rated = rate_one(entry("9:20", MONDAY + timedelta(days=1)), c)
    assert (rated.billable_seconds, rated.adjustments) == (34200, (Adjustment("rounding", 600),))
    assert lines(rated) == [(D(8), D("145.00"), ""), (D("1.5"), D("217.50"), "daily")]
    assert rated.amount == D("1486.25")
    # Each portion carries the entry's adjustments: its billed mark records them.
    assert [p.adjustments for p in rated.portions] == [rated.adjustments] * 2


# -- billable seconds ----------------------------------------------------------------------


def test_rounding_up_bills_the_started_increment_and_records_the_difference() -> None:
    # 7 min worked, 15-minute increments rounded up: 15 min billed, +8 min "rounding".
    assert round_seconds(420, Rounding(increment_minutes=15, mode=RoundingMode.UP)) == (
        900,
        (Adjustment("rounding", 480),),
    )


def test_rounding_to_nearest_takes_halves_up() -> None:
    # 15-minute increments: 7 min 30 s -> 15 min, 7 min 29 s -> 0, 22 min 30 s -> 30 min.
    nearest = Rounding(increment_minutes=15, mode=RoundingMode.NEAREST)
    assert round_seconds(450, nearest) == (900, (Adjustment("rounding", 450),))
    assert round_seconds(449, nearest) == (0, (Adjustment("rounding", -449),))
    assert round_seconds(1350, nearest) == (1800, (Adjustment("rounding", 450),))


def test_rounding_down_drops_the_unfinished_increment() -> None:
    down = Rounding(increment_minutes=6, mode=RoundingMode.DOWN)
    assert round_seconds(5 * 3600 + 11 * 60, down) == (
        5 * 3600 + 6 * 60,
        (Adjustment("rounding", -300),),
    )


def test_zero_increment_leaves_worked_seconds_as_billable() -> None:
    assert round_seconds(1234, Rounding(increment_minutes=0)) == (1234, ())


def test_minimum_charge_applies_after_rounding() -> None:
    # 10 min -> 15 min by rounding, then the 30-minute minimum adds 15 more.
    terms = Rounding(increment_minutes=15, minimum_minutes=30)
    assert round_seconds(600, terms) == (
        1800,
        (Adjustment("rounding", 300), Adjustment("minimum", 900)),
    )


def test_zero_length_entry_earns_no_minimum_charge() -> None:
    assert round_seconds(0, Rounding(increment_minutes=15, minimum_minutes=30)) == (0, ())


def test_negative_duration_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        round_seconds(-1, Rounding())


def test_rounded_entry_bills_its_rounded_hours() -> None:
    # 7 h 50 min rounded up to 8 h at 145.00 -> 1160.00.
    rated = rate_one(entry("7:50"), contract(rounding=Rounding(increment_minutes=15)))
    assert rated.billable_seconds == 8 * 3600
    assert lines(rated) == [(D(8), D("145.00"), "")]
    assert rated.amount == D("1160.00")


def test_write_down_reduces_billable_hours_and_keeps_its_reason_code() -> None:
    # 8 h worked, finance writes 1.5 h down as "learning curve": 6.5 h x 145.00 = 942.50.
    e = entry("8", adjustments=(WriteAdjustment(seconds=-5400, reason="learning_curve"),))
    rated = rate_one(e, contract())
    assert rated.billable_seconds == 23400
    assert rated.adjustments == (Adjustment("learning_curve", -5400),)
    assert rated.amount == D("942.50")


def test_write_up_after_rounding_adds_billable_hours() -> None:
    # 1 h 50 min -> 2 h by rounding, written up 1 h: 3 h x 145.00 = 435.00.
    e = entry("1:50", adjustments=(WriteAdjustment(seconds=3600, reason=""),))
    rated = rate_one(e, contract(rounding=Rounding(increment_minutes=30)))
    assert rated.billable_seconds == 3 * 3600
    assert rated.adjustments == (Adjustment("rounding", 600), Adjustment("write_up", 3600))
    assert rated.amount == D("435.00")


def test_write_down_never_takes_billable_time_below_zero() -> None:
    e = entry("2", adjustments=(WriteAdjustment(seconds=-3 * 3600, reason="write_down"),))
    rated = rate_one(e, contract())
    assert rated.billable_seconds == 0
    assert rated.portions == ()
    assert rated.findings == ()
    # Worked plus adjustments still equals billable: the cut below zero is on record.
    assert rated.adjustments == (Adjustment("write_down", -10800), Adjustment("floor", 3600))
    assert e.duration_seconds + sum(a.seconds for a in rated.adjustments) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"deleted": True},
        {"state": EntryState.HELD},
        {"state": EntryState.WRITTEN_OFF},
        {"billable": False},
        {"person": ""},
        {"project": ""},
    ],
    ids=["deleted", "held", "written-off", "not-billable", "no-person", "no-project"],
)
def test_entries_reported_elsewhere_pass_through_unpriced_and_unflagged(
    changes: dict[str, Any],
) -> None:
    rated = rate_one(entry("8", **changes), contract())
    assert (rated.billable_seconds, rated.portions, rated.findings) == (0, (), ())


# -- the rate card -------------------------------------------------------------------------


def pick(c: Contract, **work: Any) -> Rate | None:
    wanted: dict[str, Any] = {
        "person": "ana",
        "role": "naval-architect",
        "task": "survey",
        "phase": "design",
        "category": Category.OPERATING,
        "on": MONDAY,
    }
    wanted.update(work)
    return select_rate(c, **wanted)


def test_most_specific_rate_row_wins_by_weighted_dimensions() -> None:
    by_role = Rate(role="naval-architect", rate=D(145))
    by_category = Rate(category=Category.OPERATING, rate=D(1))
    by_phase = Rate(phase="design", rate=D(150))
    by_task = Rate(task="survey", rate=D(160))
    by_person = Rate(person="ana", rate=D(175))
    c = contract(by_role, by_category, by_phase, by_task, by_person)
    assert pick(c) == by_person
    assert pick(c, person="eva") == by_task
    assert pick(c, person="eva", task="drafting") == by_phase
    assert pick(c, person="eva", task="drafting", phase="yard") == by_role
    assert pick(c, person="eva", task="drafting", phase="yard", role="welder") == by_category
    # Two low dimensions never outweigh a higher one: task (8) beats phase + role + category (7).
    phase_role_category = Rate(
        phase="design", role="naval-architect", category=Category.OPERATING, rate=D(1)
    )
    assert pick(contract(phase_role_category, by_task), person="eva") == by_task


def test_row_with_the_entrys_category_beats_an_any_category_row() -> None:
    # Standby of a naval architect: 90.00 from the standby row, not 145.00 from the role row.
    standby = Rate(role="naval-architect", category=Category.STANDBY, rate=D("90.00"))
    c = contract(ARCHITECT_145, standby)
    assert pick(c, category=Category.STANDBY) == standby
    assert pick(c, category=Category.WEATHER) == ARCHITECT_145


def test_row_only_matches_inside_its_effective_dates_both_ends_included() -> None:
    march = Rate(
        role="naval-architect", rate=D(150), effective_from=MONDAY, effective_to=date(2026, 3, 31)
    )
    c = contract(march)
    assert pick(c, on=MONDAY) == march
    assert pick(c, on=date(2026, 3, 31)) == march
    assert pick(c, on=date(2026, 3, 1)) is None
    assert pick(c, on=date(2026, 4, 1)) is None


def test_equally_specific_rows_go_to_the_later_effective_from() -> None:
    old = Rate(role="naval-architect", rate=D(140))
    raised = Rate(role="naval-architect", rate=D(145), effective_from=date(2026, 3, 1))
    c = contract(raised, old)
    assert pick(c, on=date(2026, 2, 27)) == old
    assert pick(c, on=MONDAY) == raised


def test_fully_tied_rows_go_to_the_one_listed_first() -> None:
    first = Rate(role="naval-architect", rate=D(145))
    second = Rate(role="naval-architect", rate=D(999))
    assert pick(contract(first, second)) == first


def test_a_changed_contract_is_rated_by_its_own_card() -> None:
    # A rate change stores a new contract version; the old one keeps its own prices.
    old = contract(ARCHITECT_145)
    assert pick(old) == ARCHITECT_145
    raised = old.model_copy(update={"rates": (Rate(role="naval-architect", rate=D(150)),)})
    assert pick(raised) == Rate(role="naval-architect", rate=D(150))
    assert pick(old) == ARCHITECT_145


def test_standby_and_weather_hours_bill_at_their_category_rates() -> None:
    # 4 h operating at 145.00, 3 h standby at 90.00, 2 h waiting on weather at 70.00 = 990.00.
    c = contract(
        ARCHITECT_145,
        Rate(role="naval-architect", category=Category.STANDBY, rate=D("90.00")),
        Rate(role="naval-architect", category=Category.WEATHER, rate=D("70.00")),
    )
    rated = rate_entries(
        [
            entry("4", start="06:00"),
            entry("3", start="10:00", category=Category.STANDBY),
            entry("2", start="13:00", category=Category.WEATHER),
        ],
        c,
        PEOPLE,
    )
    assert [lines(r) for r in rated] == [
        [(D(4), D("145.00"), "")],
        [(D(3), D("90.00"), "")],
        [(D(2), D("70.00"), "")],
    ]
    assert total(rated) == D("990.00")


def test_missing_rate_blocks_the_entry_with_a_finding_naming_it() -> None:
    e = entry("3", category=Category.TRAVEL, person="bo")
    rated = rate_one(e, contract(ARCHITECT_145))
    assert rated.portions == ()
    assert rated.billable_seconds == 3 * 3600
    (finding,) = rated.findings
    assert finding.code == "rate.missing"
    assert finding.severity is Severity.BLOCKING
    assert finding.subject == f"entry:{e.id}"
    assert finding.entry_ids == (e.id,)
    assert finding.contract == "NSY-2026"
    assert finding.hours == D(3)
    for named in (e.external_id, "bo", "surveyor", "survey", "travel", "2026-03-02", "NSY-2026"):
        assert named in finding.message


def test_person_missing_from_the_workspace_blocks_the_entry() -> None:
    e = entry("3", person="ghost")
    (finding,) = rate_one(e, contract()).findings
    assert (finding.code, finding.severity, finding.entry_ids) == (
        "rate.person_unknown",
        Severity.BLOCKING,
        (e.id,),
    )
    assert "ghost" in finding.message


def test_unit_price_is_quantized_and_amount_kept_exact() -> None:
    # 133.333/h x 1.5 = 199.9995 -> 200.00 per overtime hour; 10 min of it = 33.3333... exact.
    c = contract(
        Rate(role="naval-architect", rate=D("133.333")),
        overtime=Overtime(daily_after_hours=D(8), daily_multiplier=D("1.5")),
    )
    rated = rate_one(entry("8:10"), c)
    straight, overtime = rated.portions
    assert straight.unit_price == D("133.33")
    assert straight.amount == D(8) * D("133.33")
    assert (overtime.base_rate, overtime.multiplier, overtime.unit_price) == (
        D("133.333"),
        D("1.5"),
        D("200.00"),
    )
    assert overtime.quantity == D(600) / 3600
    assert overtime.amount == D(600) / 3600 * D("200.00")


def test_unit_price_follows_the_currency_minor_unit() -> None:
    # JPY has no minor unit: 12345.6 x 1.5 = 18518.4 -> 18518 yen per overtime hour.
    c = contract(
        Rate(role="naval-architect", rate=D("12345.6")),
        currency="JPY",
        overtime=Overtime(daily_after_hours=D(8)),
    )
    assert lines(rate_one(entry("9"), c)) == [
        (D(8), D(12346), ""),
        (D(1), D(18518), "daily"),
    ]


# -- day rates -----------------------------------------------------------------------------

DAY_1200 = Rate(role="naval-architect", unit=Unit.DAY, rate=D("1200.00"), day_min_hours=D(8))


@pytest.mark.parametrize("worked", ["8", "10", "14"])
def test_day_of_at_least_the_minimum_hours_bills_one_day(worked: str) -> None:
    # 8, 10 or 14 h against day_min_hours 8: one day at 1200.00.
    rated = rate_one(entry(worked), contract(DAY_1200))
    (portion,) = rated.portions
    assert (portion.unit, portion.quantity, portion.amount) == (Unit.DAY, D(1), D("1200.00"))


def test_day_rated_entries_of_one_day_share_exactly_one_day() -> None:
    # Three 3-hour entries = 9 h >= 8 h: one day, a third each, summing to exactly 1.
    rated = rate_entries(
        [entry("3", start="07:00"), entry("3", start="10:00"), entry("3", start="13:00")],
        contract(DAY_1200),
        PEOPLE,
    )
    portions = [p for r in rated for p in r.portions]
    assert all(p.unit is Unit.DAY for p in portions)
    assert sum(p.quantity for p in portions) == 1
    assert quantize(total(rated), "EUR") == D("1200.00")


def test_short_day_bills_hours_at_the_short_day_rate() -> None:
    # 5 h < 8 h with a short-day rate of 160.00/h: 5 h x 160.00 = 800.00.
    short = DAY_1200.model_copy(update={"short_day_rate": D("160.00")})
    rated = rate_one(entry("5"), contract(short))
    (portion,) = rated.portions
    assert (portion.unit, portion.quantity, portion.base_rate, portion.amount) == (
        Unit.HOUR,
        D(5),
        D("160.00"),
        D("800.00"),
    )
    # A day of exactly 8 h is a full day: 1200.00, not 8 h x 160.00 = 1280.00.
    assert lines(rate_one(entry("8"), contract(short))) == [(D(1), D("1200.00"), "")]


def test_short_day_without_short_day_rate_bills_a_pro_rata_day() -> None:
    # 2 h + 4 h = 6 h of an 8-hour day: 0.25 + 0.5 = 0.75 day x 1200.00 = 900.00.
    rated = rate_entries(
        [entry("4", start="12:00"), entry("2", start="08:00")], contract(DAY_1200), PEOPLE
    )
    assert [lines(r) for r in rated] == [
        [(D("0.5"), D("1200.00"), "")],
        [(D("0.25"), D("1200.00"), "")],
    ]
    assert total(rated) == D("900.00")


def test_day_rates_carry_no_overtime_premiums() -> None:
    # 12 h on a Saturday under weekend and daily overtime rules: still one plain day.
    c = contract(
        DAY_1200, overtime=Overtime(daily_after_hours=D(8), weekend_multiplier=D(2), stack=True)
    )
    assert lines(rate_one(entry("12", SATURDAY), c)) == [(D(1), D("1200.00"), "")]


def test_day_rated_hours_do_not_count_towards_hourly_overtime() -> None:
    # 10 h on a standby day rate, then 3 h of hourly travel: no daily overtime on the travel.
    c = contract(
        Rate(category=Category.STANDBY, unit=Unit.DAY, rate=D("900.00"), day_min_hours=D(8)),
        Rate(category=Category.TRAVEL, rate=D("100.00")),
        overtime=Overtime(daily_after_hours=D(8)),
    )
    rated = rate_entries(
        [
            entry("10", start="06:00", category=Category.STANDBY),
            entry("3", start="16:00", category=Category.TRAVEL),
        ],
        c,
        PEOPLE,
    )
    assert [lines(r) for r in rated] == [[(D(1), D("900.00"), "")], [(D(3), D("100.00"), "")]]


def test_day_pools_are_per_person_and_per_day() -> None:
    # Ana 4 h Monday + 4 h Tuesday, Bo 8 h Monday: two half days for Ana, one day for Bo.
    c = contract(DAY_1200, Rate(role="surveyor", unit=Unit.DAY, rate=D(1000), day_min_hours=D(8)))
    rated = rate_entries(
        [entry("4"), entry("4", MONDAY + timedelta(days=1)), entry("8", person="bo")], c, PEOPLE
    )
    assert [r.portions[0].quantity for r in rated] == [D("0.5"), D("0.5"), D(1)]
    assert total(rated) == D("2200.00")


# -- overtime ------------------------------------------------------------------------------

DAILY = Overtime(daily_after_hours=D(8), daily_multiplier=D("1.5"))


def test_daily_overtime_bills_hours_beyond_threshold_at_multiplier() -> None:
    # 9.5 h at 145.00, daily OT after 8 h at 1.5x -> 8 h x 145.00 + 1.5 h x 217.50 = 1486.25.
    rated = rate_one(entry("9.5"), contract(overtime=DAILY))
    assert lines(rated) == [(D(8), D("145.00"), ""), (D("1.5"), D("217.50"), "daily")]
    assert [p.seconds for p in rated.portions] == [8 * 3600, 5400]
    assert rated.amount == D("1486.25")


def test_daily_overtime_falls_on_the_later_entry_of_the_day_whatever_the_input_order() -> None:
    # 6 h from 07:00, then 4 h from 14:00, listed backwards: the afternoon has 2 h overtime.
    afternoon, morning = entry("4", start="14:00"), entry("6", start="07:00")
    rated = rate_entries([afternoon, morning], contract(overtime=DAILY), PEOPLE)
    assert [r.entry for r in rated] == [afternoon, morning]
    assert lines(rated[0]) == [(D(2), D("145.00"), ""), (D(2), D("217.50"), "daily")]
    assert lines(rated[1]) == [(D(6), D("145.00"), "")]
    assert total(rated) == D("1595.00")


def test_entries_without_start_count_after_timed_ones_of_the_same_day() -> None:
    untimed, timed = entry("4"), entry("6", start="15:00")
    rated = rate_entries([untimed, timed], contract(overtime=DAILY), PEOPLE)
    assert lines(rated[0]) == [(D(2), D("145.00"), ""), (D(2), D("217.50"), "daily")]
    assert lines(rated[1]) == [(D(6), D("145.00"), "")]


def test_weekly_overtime_bills_hours_beyond_the_weekly_threshold() -> None:
    # 9 h Monday to Friday, weekly OT after 40 h: Friday bills 4 h straight + 5 h at 217.50.
    week = [entry("9", MONDAY + timedelta(days=n)) for n in range(5)]
    c = contract(overtime=Overtime(weekly_after_hours=D(40)))
    rated = rate_entries(week, c, PEOPLE)
    assert all(lines(r) == [(D(9), D("145.00"), "")] for r in rated[:4])
    assert lines(rated[4]) == [(D(4), D("145.00"), ""), (D(5), D("217.50"), "weekly")]
    assert total(rated) == D("6887.50")


def test_daily_overtime_hours_do_not_count_towards_the_weekly_threshold() -> None:
    # FLSA-style: 9 h x 5 days with daily OT after 8 h and weekly after 40 h gives 5 daily
    # hours and no weekly hours (only the 40 straight hours count towards the week).
    week = [entry("9", MONDAY + timedelta(days=n)) for n in range(5)]
    c = contract(overtime=Overtime(daily_after_hours=D(8), weekly_after_hours=D(40)))
    rated = rate_entries(week, c, PEOPLE)
    assert all(lines(r) == [(D(8), D("145.00"), ""), (D(1), D("217.50"), "daily")] for r in rated)
    # A Saturday then crosses 40 h at once: all of it is weekly overtime.
    saturday = rate_entries([*week, entry("3", SATURDAY)], c, PEOPLE)[-1]
    assert lines(saturday) == [(D(3), D("217.50"), "weekly")]


def test_entry_splits_into_straight_weekly_and_daily_portions_at_each_threshold() -> None:
    # Weekly after 36 h, daily after 8 h: Mon-Thu 8 h = 32 h; Friday's 10 h is 4 h straight,
    # 4 h weekly (reaching its 8 h day), 2 h daily.
    week = [entry("8", MONDAY + timedelta(days=n)) for n in range(4)]
    friday = entry("10", MONDAY + timedelta(days=4))
    c = contract(overtime=Overtime(daily_after_hours=D(8), weekly_after_hours=D(36)))
    rated = rate_entries([*week, friday], c, PEOPLE)[-1]
    assert lines(rated) == [
        (D(4), D("145.00"), ""),
        (D(4), D("217.50"), "weekly"),
        (D(2), D("217.50"), "daily"),
    ]


def test_weekly_threshold_restarts_each_iso_week() -> None:
    # 40 h Mon-Fri, then 8 h the next Monday: the new week starts straight again.
    c = contract(overtime=Overtime(weekly_after_hours=D(40)))
    days = [entry("8", MONDAY + timedelta(days=n)) for n in (0, 1, 2, 3, 4, 7)]
    assert lines(rate_entries(days, c, PEOPLE)[-1]) == [(D(8), D("145.00"), "")]


def test_overtime_counts_each_persons_hours_separately() -> None:
    # Ana 6 h and Bo 6 h on the same day: neither reaches 8 h.
    rated = rate_entries([entry("6"), entry("6", person="bo")], contract(overtime=DAILY), PEOPLE)
    assert [r.portions[0].premium for r in rated] == ["", ""]
    assert total(rated) == D("1590.00")


def test_weekend_hours_bill_at_the_weekend_multiplier() -> None:
    # 4 h on a Saturday, weekend 1.5x: 4 h x 217.50 = 870.00.
    rated = rate_one(entry("4", SATURDAY), contract(overtime=Overtime(weekend_multiplier=D("1.5"))))
    assert lines(rated) == [(D(4), D("217.50"), "weekend")]
    assert rated.amount == D("870.00")


def test_weekend_days_are_the_contracts_choice() -> None:
    # A Friday-Saturday weekend: Friday 2026-03-06 is weekend work, Sunday is not.
    c = contract(overtime=Overtime(weekend_multiplier=D(2), weekend_days=(4, 5)))
    friday, sunday = entry("1", date(2026, 3, 6)), entry("1", date(2026, 3, 8))
    assert [r.portions[0].premium for r in rate_entries([friday, sunday], c, PEOPLE)] == [
        "weekend",
        "",
    ]


def test_public_holiday_hours_bill_at_the_holiday_multiplier() -> None:
    # Labour Day in Norway, 3 h at 2x: 3 h x 290.00 = 870.00.
    rated = rate_one(entry("3", LABOUR_DAY), contract(overtime=Overtime(holiday_multiplier=D(2))))
    assert lines(rated) == [(D(3), D("290.00"), "holiday")]


def test_holidays_follow_the_persons_country_and_subdivision() -> None:
    # St Andrew's Day is a holiday for Bo in Scotland, not for a surveyor based in England.
    people = {**PEOPLE, "cy": PersonInfo("surveyor", "Europe/London", "GB", "ENG")}
    c = contract(overtime=Overtime(holiday_multiplier=D(2)))
    rated = rate_entries(
        [entry("2", ST_ANDREWS_DAY, person="bo"), entry("2", ST_ANDREWS_DAY, person="cy")],
        c,
        people,
    )
    assert [lines(r) for r in rated] == [
        [(D(2), D("240.00"), "holiday")],
        [(D(2), D("120.00"), "")],
    ]


def test_a_rule_without_multiplier_is_off() -> None:
    # No holiday or weekend multiplier: Labour Day and a Saturday bill straight time.
    c = contract(overtime=Overtime())
    rated = rate_entries([entry("3", LABOUR_DAY), entry("3", SATURDAY)], c, PEOPLE)
    assert [lines(r) for r in rated] == [[(D(3), D("145.00"), "")]] * 2


STACKING = Overtime(
    daily_after_hours=D(8),
    daily_multiplier=D("1.5"),
    weekend_multiplier=D("1.5"),
    holiday_multiplier=D(2),
    stack=True,
)


def test_stacked_premiums_multiply_and_join_their_names_in_fixed_order() -> None:
    # Boxing Day is a Saturday: 10 h -> 8 h at 1.5 x 2 = 3x (435.00) + 2 h at 4.5x (652.50).
    rated = rate_one(entry("10", BOXING_DAY), contract(overtime=STACKING))
    assert lines(rated) == [
        (D(8), D("435.00"), "weekend+holiday"),
        (D(2), D("652.50"), "daily+weekend+holiday"),
    ]
    assert rated.amount == D("4785.00")


def test_unstacked_premiums_take_the_highest_multiplier() -> None:
    # Same Boxing Day without stacking: holiday 2x outranks weekend and daily 1.5x, so all
    # 10 h are one holiday portion: 10 h x 290.00 = 2900.00.
    unstacked = STACKING.model_copy(update={"stack": False})
    rated = rate_one(entry("10", BOXING_DAY), contract(overtime=unstacked))
    assert lines(rated) == [(D(10), D("290.00"), "holiday")]
    assert rated.amount == D("2900.00")


def test_unstacked_equal_multipliers_name_the_earlier_rule() -> None:
    # Saturday, 9 h, daily and weekend both 2x: the overtime hour is "daily", not "weekend".
    c = contract(
        overtime=Overtime(daily_after_hours=D(8), daily_multiplier=D(2), weekend_multiplier=D(2))
    )
    assert lines(rate_one(entry("9", SATURDAY), c)) == [
        (D(8), D("290.00"), "weekend"),
        (D(1), D("290.00"), "daily"),
    ]


# -- order independence --------------------------------------------------------------------

# Late December crosses Christmas, a weekend, ISO week 53 and a new year.
_DAYS = [date(2026, 12, 21) + timedelta(days=n) for n in range(16)]
_MIXED = contract(
    ARCHITECT_145,
    SURVEYOR_120,
    Rate(role="surveyor", task="inspection", rate=D("130.00")),
    Rate(category=Category.STANDBY, unit=Unit.DAY, rate=D("900.00"), day_min_hours=D(8)),
    Rate(
        category=Category.WEATHER,
        unit=Unit.DAY,
        rate=D("700.00"),
        day_min_hours=D(10),
        short_day_rate=D("75.00"),
    ),
    rounding=Rounding(increment_minutes=15, minimum_minutes=30),
    overtime=Overtime(
        daily_after_hours=D("7.5"),
        weekly_after_hours=D(37),
        weekend_multiplier=D("1.5"),
        holiday_multiplier=D(2),
    ),
)

_entries = st.lists(
    st.builds(
        lambda person, day, minutes, start, category, task: entry(
            f"{minutes // 60}:{minutes % 60:02}",
            day,
            person=person,
            start=start,
            category=category,
            task=task,
        ),
        person=st.sampled_from(["ana", "bo"]),
        day=st.sampled_from(_DAYS),
        minutes=st.integers(min_value=0, max_value=12 * 60),
        start=st.none() | st.sampled_from(["06:00", "08:00", "13:30"]),
        category=st.sampled_from(
            [Category.OPERATING, Category.STANDBY, Category.WEATHER, Category.TRAVEL]
        ),
        task=st.sampled_from(["survey", "inspection"]),
    ),
    max_size=30,
)


def _portions_by_entry(rated: list[RatedEntry]) -> dict[int, Counter[Portion]]:
    return {r.entry.id: Counter(r.portions) for r in rated}


@settings(max_examples=150, deadline=None)
@given(entries=_entries, data=st.data())
def test_rating_does_not_depend_on_the_order_entries_arrive_in(
    entries: list[TimeEntry], data: st.DataObject
) -> None:
    for stack in (False, True):
        c = _MIXED.model_copy(
            update={"overtime": _MIXED.overtime.model_copy(update={"stack": stack})}
        )
        shuffled = data.draw(st.permutations(entries))
        rated, reshuffled = rate_entries(entries, c, PEOPLE), rate_entries(shuffled, c, PEOPLE)
        assert [r.entry for r in rated] == entries
        assert [r.entry for r in reshuffled] == shuffled
        assert _portions_by_entry(rated) == _portions_by_entry(reshuffled)
        for r in rated:
            # Every billable second is priced exactly once (or the entry is flagged).
            assert sum(p.seconds for p in r.portions) in (0, r.billable_seconds)
            assert bool(r.portions) != bool(r.findings) or r.billable_seconds == 0
