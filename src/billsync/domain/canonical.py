"""A source record's fields -> the canonical entry fields, or every error in it.

One import line (CSV or JSON Lines, documented in docs/import.md):

    external_id=A-17, person=kha, project=P-1001, task=survey,
    start=2026-03-02T08:00, end=2026-03-02T17:30, timezone=Europe/Oslo, approval=approved
 -> work_date 2026-03-02, duration 34200 s, start/end aware in Europe/Oslo

Errors name the field and say what is wrong; nothing is guessed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .entries import Approval, Category, SourceRef

E = TypeVar("E", Approval, Category)
MAX_SECONDS = 24 * 3600
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}
_FLAGS = dict.fromkeys(TRUE, True) | dict.fromkeys(FALSE, False)
# Members by value: a dict lookup, where calling the enum costs a million calls.
_MEMBERS: dict[type, dict[str, Approval | Category]] = {
    kind: {member.value: member for member in kind} for kind in (Approval, Category)
}
DURATION = re.compile(r"^(\d{1,2}):([0-5]\d)$")
KNOWN_FIELDS = frozenset(
    {
        "external_id",
        "person",
        "project",
        "task",
        "client",
        "date",
        "hours",
        "minutes",
        "duration",
        "start",
        "end",
        "timezone",
        "notes",
        "approval",
        "billable",
        "category",
        "rate",
        "revision",
        "deleted",
    }
)


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Defaults:
    timezone: str | None = None
    approval: Approval = Approval.SUBMITTED


@dataclass(frozen=True, slots=True)
class Canonical:
    external_id: str
    ref: SourceRef
    work_date: dt.date
    duration_seconds: int
    timezone: str
    start: dt.datetime | None
    end: dt.datetime | None
    notes: str
    approval: Approval
    billable: bool
    category: Category
    source_rate: Decimal | None
    source_revision: str | None  # None: the time it arrived decides
    deleted: bool

    def content(self) -> tuple[object, ...]:
        """What makes two revisions the same work (revision stamp excluded)."""
        return (
            self.ref,
            self.work_date,
            self.duration_seconds,
            self.timezone,
            self.start,
            self.end,
            self.notes,
            self.approval,
            self.billable,
            self.category,
            self.source_rate,
            self.deleted,
        )


@cache
def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def revision_stamp(value: str) -> str:
    """Sortable text for a source revision the source gave: a counter or a timestamp.
    Counters sort before timestamps, so a source should keep to one kind."""
    text = value.strip()
    if text.isdigit():
        return f"n:{int(text):020d}"
    stamp = dt.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        raise ValueError("a timestamp revision needs its UTC offset")
    return "t:" + stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def arrival_stamp(at: dt.datetime) -> str:
    """The stamp of a record that came without a revision: when it arrived."""
    return "a:" + at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def supersedes(incoming: str, stored: str) -> bool:
    """Whether a record stamped `incoming` may replace one stamped `stored`. Where
    either stamp is only an arrival time, the source said nothing about order, so
    what arrives later wins; otherwise the source's own revisions decide."""
    if incoming.startswith("a:") or stored.startswith("a:"):
        return True
    return incoming >= stored


class _Reader:
    """Collects every field error of one record instead of stopping at the first."""

    def __init__(self, fields: Mapping[str, str]):
        self.fields = {k: (v or "").strip() for k, v in fields.items()}
        self.errors: list[FieldError] = []

    def text(self, name: str, required: bool = False) -> str:
        value = self.fields.get(name, "")
        if required and not value:
            self.errors.append(FieldError(name, "is required"))
        return value

    def fail(self, name: str, reason: str) -> None:
        self.errors.append(FieldError(name, reason))

    def choice(self, name: str, kind: type[E], default: E) -> E:
        value = self.text(name).lower()
        if not value:
            return default
        member = _MEMBERS[kind].get(value)
        if member is None:
            self.fail(name, f"{value!r} is not one of {', '.join(k.value for k in kind)}")
            return default
        return member  # type: ignore[return-value]  # a member of `kind`, looked up by it

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        flag = _FLAGS.get(value)
        if flag is None:
            self.fail(name, f"{value!r} is not true or false")
            return default
        return flag

    def decimal(self, name: str) -> Decimal | None:
        value = self.text(name)
        if not value:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            self.fail(name, f"{value!r} is not a number")
            return None
        if not number.is_finite() or number < 0:
            self.fail(name, f"{value!r} must be a finite number of zero or more")
            return None
        return number

    def day(self, name: str) -> dt.date | None:
        value = self.text(name)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            self.fail(name, f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def moment(self, name: str, tz: ZoneInfo | None, quiet: bool = False) -> dt.datetime | None:
        value = self.text(name)
        if not value:
            return None
        try:
            stamp = _moment(value, tz)
        except ValueError:
            self.fail(name, f"{value!r} is not an ISO 8601 date and time")
            return None
        if stamp is None:
            if not quiet:
                self.fail(name, "has no UTC offset and no timezone is given")
            return None
        return stamp


@lru_cache(maxsize=65_536)
def _moment(value: str, tz: ZoneInfo | None) -> dt.datetime | None:
    """The instant a time means, None when it needs a zone and has none. The same
    clock times recur on every day's lines: each is read once, and lines share it."""
    stamp = dt.datetime.fromisoformat(value)
    if stamp.tzinfo is not None:
        return stamp
    return None if tz is None else stamp.replace(tzinfo=tz)


def _duration(r: _Reader) -> int | None:
    """Seconds from hours (decimal), minutes (integer) or duration (H:MM)."""
    given = [n for n in ("hours", "minutes", "duration") if r.text(n)]
    if len(given) > 1:
        r.fail(given[1], f"give only one of hours, minutes, duration (also {given[0]})")
        return None
    if not given:
        return None
    name = given[0]
    if name == "duration":
        match = DURATION.match(r.text(name))
        if not match:
            r.fail(name, f"{r.text(name)!r} is not H:MM")
            return None
        return int(match[1]) * 3600 + int(match[2]) * 60
    number = r.decimal(name)
    if number is None:
        return None
    seconds = number * (3600 if name == "hours" else 60)
    if seconds != seconds.to_integral_value():
        r.fail(name, f"{r.text(name)} is not a whole number of seconds")
        return None
    return int(seconds)


def parse_record(fields: Mapping[str, str], defaults: Defaults) -> Canonical | list[FieldError]:
    r = _Reader(fields)
    if not KNOWN_FIELDS.issuperset(fields):
        for name in sorted(set(fields) - KNOWN_FIELDS):
            r.fail(name, "unknown column")
    external_id = r.text("external_id", required=True)
    person = r.text("person", required=True)
    project = r.text("project", required=True)
    tz_name = r.text("timezone") or defaults.timezone or ""
    tz = zone(tz_name) if tz_name else None
    if tz_name and tz is None:
        r.fail("timezone", f"{tz_name!r} is not an IANA time zone")
    bad_zone = bool(tz_name) and tz is None  # said once, not again for each time
    start = r.moment("start", tz, quiet=bad_zone)
    end = r.moment("end", tz, quiet=bad_zone)
    day = r.day("date")
    seconds = _duration(r)
    if (start is None) != (end is None) and not r.errors:
        r.fail("end" if start else "start", "start and end go together")
    if start and end:
        # In UTC: wall clocks jump at daylight-saving changes, elapsed time does not.
        span = int((end.astimezone(dt.UTC) - start.astimezone(dt.UTC)).total_seconds())
        if span <= 0:
            r.fail("end", "is not after start")
        else:
            if seconds is not None and seconds != span:
                r.fail("hours", f"{seconds} s disagrees with start-end ({span} s)")
            seconds = span
        local = start.astimezone(tz) if tz else start
        if day and day != local.date():
            r.fail("date", f"{day} is not the local day of start ({local.date()})")
        day = local.date()
    elif not r.errors:
        if day is None:
            r.fail("date", "is required when start and end are not given")
        if seconds is None:
            r.fail("hours", "one of hours, minutes, duration or start/end is required")
    if not tz_name and not r.errors:
        r.fail("timezone", "is required (or pass a default time zone)")
    if seconds is not None and seconds > MAX_SECONDS:
        r.fail("hours", f"{seconds / 3600:g} h is more than a day in one entry")
    revision: str | None = None
    if given_revision := r.text("revision"):
        try:
            revision = revision_stamp(given_revision)
        except ValueError as exc:
            r.fail("revision", f"{given_revision!r}: {exc}")
    approval = r.choice("approval", Approval, defaults.approval)
    category = r.choice("category", Category, Category.OPERATING)
    billable = r.flag("billable", True)
    deleted = r.flag("deleted", False)
    rate = r.decimal("rate")
    if r.errors or day is None or seconds is None:
        return r.errors
    return Canonical(
        external_id=external_id,
        ref=SourceRef(person, project, r.text("task"), r.text("client")),
        work_date=day,
        duration_seconds=seconds,
        timezone=tz_name,
        start=start,
        end=end,
        notes=r.text("notes"),
        approval=approval,
        billable=billable,
        category=category,
        source_rate=rate,
        source_revision=revision,
        deleted=deleted,
    )
