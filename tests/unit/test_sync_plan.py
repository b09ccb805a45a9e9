"""Where an incremental sync starts reading."""

from __future__ import annotations

import datetime as dt

from billsync.pipeline.sync import read_plan

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_never_read_or_asked_for_is_a_full_read() -> None:
    assert read_plan(None, None, 10, NOW) == (True, None)
    assert read_plan(NOW - DAY, None, 10, NOW, full=True) == (True, None)


def test_an_incremental_read_starts_the_overlap_before_the_watermark() -> None:
    assert read_plan(NOW - DAY, None, 10, NOW) == (False, NOW - DAY - dt.timedelta(minutes=10))
    assert read_plan(NOW - DAY, 30 * DAY, 0, NOW) == (False, NOW - DAY)


def test_a_watermark_older_than_the_vendor_keeps_changes_means_reading_everything() -> None:
    assert read_plan(NOW - 31 * DAY, 30 * DAY, 10, NOW) == (True, None)
    assert read_plan(NOW - 29 * DAY, 30 * DAY, 10, NOW)[0] is False
