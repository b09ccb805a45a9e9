"""`billsync demo`: a realistic marine engineering firm, three months of messy time,
the pipeline run over it, and what a finance lead wants to see.

The workspace (``firm.yaml``) is written as of ``REFERENCE_DAY``. For any other day,
every date in it moves by whole months, so contracts, phases and milestones keep their
place around the three months of demo time:

    firm.yaml as of 2026-11-25     phase steel 2026-10-01..2027-02-28, M1 reached 2026-10-09
    firm_text(as_of=2027-03-02)    phase steel 2027-02-01..2027-06-30, M1 reached 2027-02-09

(a month's last day stays the last day of its month).
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from importlib import resources

from pydantic import BaseModel

from billsync.config.loader import parse

__all__ = ["FIRM_FILE", "REFERENCE_DAY", "firm_records", "firm_text", "shift_months"]

FIRM_FILE = "firm.yaml"
REFERENCE_DAY = date(2026, 11, 25)
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def shift_months(day: date, months: int) -> date:
    """The same day `months` later; a month's last day stays its month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    is_last = day.day == calendar.monthrange(day.year, day.month)[1]
    return date(year, month, last if is_last else min(day.day, last))


def firm_text(as_of: date | None = None) -> str:
    """The demo workspace YAML, its dates moved to sit around `as_of`."""
    text = resources.files(__package__).joinpath(FIRM_FILE).read_text(encoding="utf-8")
    if as_of is None:
        return text
    months = (as_of.year - REFERENCE_DAY.year) * 12 + as_of.month - REFERENCE_DAY.month
    if months == 0:
        return text

    def moved(match: re.Match[str]) -> str:
        day = date(int(match[1]), int(match[2]), int(match[3]))
        return shift_months(day, months).isoformat()

    return _DATE.sub(moved, text)


def firm_records(as_of: date | None = None) -> dict[str, list[BaseModel]]:
    """The demo workspace as validated records by kind (what `apply` takes)."""
    return parse(FIRM_FILE, firm_text(as_of))
