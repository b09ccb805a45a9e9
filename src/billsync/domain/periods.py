"""Billing periods: the day, ISO week, month or quarter a work day falls in.

Bounds are inclusive on both ends, so a period is exactly the days it bills:

    period_bounds(Period.WEEK, date(2026, 3, 4))     -> (2026-03-02, 2026-03-08)  Mon..Sun
    period_bounds(Period.QUARTER, date(2026, 5, 20)) -> (2026-04-01, 2026-06-30)
    period_label(Period.WEEK, date(2026, 3, 4))      -> "2026-W10"

    closed_periods(Period.MONTH, since=date(2026, 1, 15), today=date(2026, 3, 31))
      -> [(2026-01-01, 2026-01-31), (2026-02-01, 2026-02-28)]
         (March is still open on the 31st: it ends today, not before today)
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from functools import lru_cache

from .contracts import Period

__all__ = ["closed_periods", "period_bounds", "period_label"]


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


@lru_cache(maxsize=16_384)  # asked once per portion; the days are few
def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """The first and last day (both inclusive) of the period containing `day`."""
    if period is Period.DAY:
        return day, day
    if period is Period.WEEK:
        # ISO weeks: Monday to Sunday, the same weeks overtime rules count in.
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if period is Period.MONTH:
        return day.replace(day=1), _month_end(day.year, day.month)
    if period is Period.QUARTER:
        first_month = 3 * ((day.month - 1) // 3) + 1
        return date(day.year, first_month, 1), _month_end(day.year, first_month + 2)
    raise ValueError(f"unknown period {period!r}")


def closed_periods(period: Period, since: date, today: date) -> list[tuple[date, date]]:
    """Every period that ended before `today`, from the one containing `since` onwards.

    A period ending today is still open: time for today may yet arrive.
    """
    closed: list[tuple[date, date]] = []
    start, end = period_bounds(period, since)
    while end < today:
        closed.append((start, end))
        start, end = period_bounds(period, end + timedelta(days=1))
    return closed


def period_label(period: Period, day: date) -> str:
    """A short name of the period containing `day`: 2026-03-02, 2026-W10, 2026-03, 2026-Q1."""
    if period is Period.DAY:
        return day.isoformat()
    if period is Period.WEEK:
        # The ISO year, not the calendar year: 2026-12-31 is in week 2026-W53,
        # 2025-12-29 in 2026-W01.
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period is Period.MONTH:
        return f"{day.year}-{day.month:02d}"
    if period is Period.QUARTER:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    raise ValueError(f"unknown period {period!r}")
