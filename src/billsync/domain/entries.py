"""The canonical time entry, as every source becomes it.

A source record (a CSV line, a vendor payload) becomes one ``TimeEntry`` revision.
Worked time (``duration_seconds``) is what the person recorded and is never changed;
billable quantities are computed beside it by rating (see ``rating``), and every
difference between the two is an adjustment with a reason code.

    source "csv", external id "A-17", revision 2:
      person "jdoe", project "P-1001", task "survey", 2026-03-02 08:00-17:30
      Europe/Oslo, approved, billable -> duration 34200 s (9.5 h)
"""

from __future__ import annotations

import enum
from dataclasses import field
from datetime import date, datetime
from decimal import Decimal

from .values import value


class Approval(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class Category(enum.StrEnum):
    """Rate categories of offshore and yard work; each may carry its own rate."""

    OPERATING = "operating"
    STANDBY = "standby"
    WEATHER = "weather"  # waiting on weather
    TRAVEL = "travel"
    MOBILISATION = "mobilisation"
    DEMOBILISATION = "demobilisation"


class EntryState(enum.StrEnum):
    """Finance's hand on an entry, beside what the source says."""

    ACTIVE = "active"
    HELD = "held"  # kept off invoices until released
    WRITTEN_OFF = "written_off"  # never billed, reported as leakage


@value
class SourceRef:
    """What the source called things, before mapping."""

    person: str
    project: str
    task: str = ""
    client: str = ""


@value
class TimeEntry:
    id: int  # the logical entry (one per source + external id)
    revision: int  # grows with each change at the source
    source: str
    external_id: str
    ref: SourceRef
    work_date: date  # the local day at the person's site
    duration_seconds: int
    timezone: str
    start: datetime | None = None  # tz-aware when the source gives times
    end: datetime | None = None
    notes: str = ""
    approval: Approval = Approval.APPROVED
    billable: bool = True
    category: Category = Category.OPERATING
    source_rate: Decimal | None = None  # what the source thought the rate was
    deleted: bool = False  # deleted at the source
    state: EntryState = EntryState.ACTIVE
    # Resolved by mapping; empty until then.
    person: str = ""
    project: str = ""
    task: str = ""
    phase: str = ""
    cost_center: str = ""
    adjustments: tuple[WriteAdjustment, ...] = field(default=())

    @property
    def mapped(self) -> bool:
        return bool(self.person and self.project)


@value
class WriteAdjustment:
    """A finance write-up or write-down of billable time, with its reason code."""

    reason: str
    seconds: int  # positive writes up, negative writes down
