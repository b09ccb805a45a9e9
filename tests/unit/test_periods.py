"""Billing periods: which days an invoice for a week, month or quarter covers."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billsync.domain.contracts import Period
from billsync.domain.periods import closed_periods, period_bounds, period_label


def test_a_day_is_its_own_period() -> None:
    assert period_bounds(Period.DAY, date(2026, 3, 4)) == (date(2026, 3, 4), date(2026, 3, 4))


def test_a_week_runs_monday_to_sunday_as_iso_weeks_do() -> None:
    # Wednesday 4 March 2026 is in the week of Monday 2 March.
    assert period_bounds(Period.WEEK, date(2026, 3, 4)) == (date(2026, 3, 2), date(2026, 3, 8))
    assert period_bounds(Period.WEEK, date(2026, 3, 8)) == (date(2026, 3, 2), date(2026, 3, 8))
    assert period_bounds(Period.WEEK, date(2026, 3, 9))[0] == date(2026, 3, 9)


def test_a_week_can_straddle_two_years() -> None:
    assert period_bounds(Period.WEEK, date(2026, 1, 1)) == (date(2025, 12, 29), date(2026, 1, 4))
    assert period_label(Period.WEEK, date(2025, 12, 30)) == "2026-W01"
    assert period_label(Period.WEEK, date(2026, 12, 31)) == "2026-W53"


def test_february_ends_on_the_28th_or_in_a_leap_year_the_29th() -> None:
    assert period_bounds(Period.MONTH, date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_bounds(Period.MONTH, date(2028, 2, 14)) == (date(2028, 2, 1), date(2028, 2, 29))


@pytest.mark.parametrize(
    ("day", "bounds", "label"),
    [
        (date(2026, 1, 1), (date(2026, 1, 1), date(2026, 3, 31)), "2026-Q1"),
        (date(2026, 5, 20), (date(2026, 4, 1), date(2026, 6, 30)), "2026-Q2"),
        (date(2026, 9, 30), (date(2026, 7, 1), date(2026, 9, 30)), "2026-Q3"),
        (date(2026, 12, 31), (date(2026, 10, 1), date(2026, 12, 31)), "2026-Q4"),
    ],
)
def test_quarters_are_calendar_quarters(day: date, bounds: tuple[date, date], label: str) -> None:
    assert period_bounds(Period.QUARTER, day) == bounds
    assert period_label(Period.QUARTER, day) == label


def test_labels_name_the_period_a_finance_team_would() -> None:
    day = date(2026, 3, 4)
    assert period_label(Period.DAY, day) == "2026-03-04"
    assert period_label(Period.WEEK, day) == "2026-W10"
    assert period_label(Period.MONTH, day) == "2026-03"


def test_closed_months_since_mid_january_on_the_last_day_of_march() -> None:
    # March ends today, so time for it may still arrive: only January and February closed.
    assert closed_periods(Period.MONTH, date(2026, 1, 15), date(2026, 3, 31)) == [
        (date(2026, 1, 1), date(2026, 1, 31)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]
    # On 1 April, March is closed too.
    assert closed_periods(Period.MONTH, date(2026, 1, 15), date(2026, 4, 1))[-1] == (
        date(2026, 3, 1),
        date(2026, 3, 31),
    )


def test_closed_weeks_start_with_the_week_containing_since() -> None:
    # Since Thursday 5 March; today Tuesday 17 March: weeks of 2 and 9 March are closed.
    assert closed_periods(Period.WEEK, date(2026, 3, 5), date(2026, 3, 17)) == [
        (date(2026, 3, 2), date(2026, 3, 8)),
        (date(2026, 3, 9), date(2026, 3, 15)),
    ]


def test_nothing_is_closed_while_the_first_period_is_still_running() -> None:
    assert closed_periods(Period.QUARTER, date(2026, 1, 15), date(2026, 3, 31)) == []
    assert closed_periods(Period.DAY, date(2026, 3, 5), date(2026, 3, 5)) == []
    assert closed_periods(Period.DAY, date(2026, 3, 5), date(2026, 3, 1)) == []


@given(
    period=st.sampled_from(list(Period)),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
)
def test_every_day_lies_in_its_period_and_periods_tile_the_calendar(
    period: Period, day: date
) -> None:
    start, end = period_bounds(period, day)
    assert start <= day <= end
    assert period_bounds(period, start) == (start, end) == period_bounds(period, end)
    # The next period starts the day after this one ends: no gaps, no overlaps.
    assert period_bounds(period, end + timedelta(days=1))[0] == end + timedelta(days=1)
    assert period_label(period, start) == period_label(period, end)


@given(
    period=st.sampled_from(list(Period)),
    since=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    days=st.integers(min_value=0, max_value=400),
)
def test_closed_periods_are_consecutive_and_all_ended_before_today(
    period: Period, since: date, days: int
) -> None:
    today = since + timedelta(days=days)
    closed = closed_periods(period, since, today)
    for (_, end), (start, _) in zip(closed, closed[1:], strict=False):
        assert start == end + timedelta(days=1)
    assert all(end < today for _, end in closed)
    # The first period not listed is still open today.
    first_open = closed[-1][1] + timedelta(days=1) if closed else since
    assert period_bounds(period, first_open)[1] >= today
    if closed:
        assert closed[0] == period_bounds(period, since)
