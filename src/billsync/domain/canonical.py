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
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .entries import Approval, Category, SourceRef
from .values import value

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


@value
class Canonical:
    """One record's entry fields (a value: an import makes one per line)."""

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
    what arrives later wins; otherwise the source's own revisions decide, and an equal
    one replaces: a source that stamps whole seconds gives two edits in one second the
    same stamp, and the later edit must win. So a source's states are to be written in
    the order they were read (webhook fetches of a connection take turns)."""
    if incoming.startswith("a:") or stored.startswith("a:"):
        return True
    return incoming >= stored


class _Reader:
    """Collects every field error of one record instead of stopping at the first."""

    def __init__(self, fields: Mapping[str, str | None]):
        self.fields = fields
        self.errors: list[FieldError] = []

    def text(self, name: str, required: bool = False) -> str:
        value = (self.fields.get(name) or "").strip()
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
            return _day(value)
        except ValueError:
            self.fail(name, f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def moment(self, name: str, tz: ZoneInfo | None, quiet: bool = False) -> _Moment | None:
        value = self.text(name)
        if not value:
            return None
        try:
            moment = _moment(value, tz)
        except ValueError:
            self.fail(name, f"{value!r} is not an ISO 8601 date and time")
            return None
        if moment is None:
            if not quiet:
                self.fail(name, "has no UTC offset and no timezone is given")
            return None
        return moment


@lru_cache(maxsize=4096)
def _day(value: str) -> dt.date:
    """A day, read once: lines share their days, one object each (which a second
    process reading the lines pickles once)."""
    return dt.date.fromisoformat(value)


class _Moment(NamedTuple):
    at: dt.datetime  # aware
    utc: dt.datetime  # the same instant in UTC: wall clocks jump at daylight-saving changes
    day: dt.date  # the local day, in the record's zone when it has one


@lru_cache(maxsize=65_536)
def _moment(value: str, tz: ZoneInfo | None) -> _Moment | None:
    """The instant a time means, None when it needs a zone and has none. The same
    clock times recur on every day's lines: each is read once, and lines share it."""
    stamp = dt.datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        if tz is None:
            return None
        stamp = stamp.replace(tzinfo=tz)
    local = stamp.astimezone(tz) if tz else stamp
    day = _day(local.date().isoformat())  # the one object of that day, as a date column's
    return _Moment(stamp, stamp.astimezone(dt.UTC), day)


# The fields that give an amount of time, at most one of them.
_AMOUNT = ("hours", "minutes", "duration")


@lru_cache(maxsize=4096)
def _seconds(values: tuple[str | None, ...]) -> tuple[int | None, tuple[FieldError, ...]]:
    """Seconds from the _AMOUNT fields (as given, in that order) with their errors:
    hours (decimal), minutes (integer) or duration (H:MM). Few amounts recur."""
    r = _Reader(dict(zip(_AMOUNT, values, strict=True)))
    return _duration(r), tuple(r.errors)


def _duration(r: _Reader) -> int | None:
    given = [n for n in _AMOUNT if r.text(n)]
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


# The fields that describe the work, read as one (in this order).
_TERMS = ("approval", "category", "billable", "deleted", "rate")


class _Terms(NamedTuple):
    approval: Approval
    category: Category
    billable: bool
    deleted: bool
    rate: Decimal | None
    errors: tuple[FieldError, ...]


@lru_cache(maxsize=4096)
def _terms(values: tuple[str | None, ...], default_approval: Approval) -> _Terms:
    """What the _TERMS fields (as given, in that order) say, with their errors: the
    same few combinations recur on every line, so each is read once."""
    r = _Reader(dict(zip(_TERMS, values, strict=True)))
    return _Terms(
        r.choice("approval", Approval, default_approval),
        r.choice("category", Category, Category.OPERATING),
        r.flag("billable", True),
        r.flag("deleted", False),
        r.decimal("rate"),
        tuple(r.errors),
    )


# Lines share their people, projects and tasks: one reference for each combination.
_ref = lru_cache(maxsize=65_536)(SourceRef)


def forget_repeats() -> None:
    """Drop the values lines have shared. A bulk read leaves up to 65,536 times and
    references alive, tens of megabytes that the work after it (a run) can use."""
    for cached in (_day, _moment, _seconds, _terms, _ref):
        cached.cache_clear()


def parse_record(fields: Mapping[str, str], defaults: Defaults) -> Canonical | list[FieldError]:
    r = _Reader(fields)
    text = r.text
    if not KNOWN_FIELDS.issuperset(fields):
        for name in sorted(set(fields) - KNOWN_FIELDS):
            r.fail(name, "unknown column")
    external_id = text("external_id", required=True)
    person = text("person", required=True)
    project = text("project", required=True)
    tz_name = text("timezone") or defaults.timezone or ""
    tz = zone(tz_name) if tz_name else None
    if tz_name and tz is None:
        r.fail("timezone", f"{tz_name!r} is not an IANA time zone")
    bad_zone = bool(tz_name) and tz is None  # said once, not again for each time
    start = r.moment("start", tz, quiet=bad_zone)
    end = r.moment("end", tz, quiet=bad_zone)
    day = r.day("date")
    seconds, amount_errors = _seconds(tuple(map(fields.get, _AMOUNT)))
    r.errors += amount_errors
    if (start is None) != (end is None) and not r.errors:
        r.fail("end" if start else "start", "start and end go together")
    if start and end:
        span = int((end.utc - start.utc).total_seconds())
        if span <= 0:
            r.fail("end", "is not after start")
        else:
            if seconds is not None and seconds != span:
                r.fail("hours", f"{seconds} s disagrees with start-end ({span} s)")
            seconds = span
        if day and day != start.day:
            r.fail("date", f"{day} is not the local day of start ({start.day})")
        day = start.day
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
    if given_revision := text("revision"):
        try:
            revision = revision_stamp(given_revision)
        except ValueError as exc:
            r.fail("revision", f"{given_revision!r}: {exc}")
    terms = _terms(tuple(map(fields.get, _TERMS)), defaults.approval)
    r.errors += terms.errors
    if r.errors or day is None or seconds is None:
        return r.errors
    return Canonical(
        external_id=external_id,
        ref=_ref(person, project, text("task"), text("client")),
        work_date=day,
        duration_seconds=seconds,
        timezone=tz_name,
        start=start.at if start else None,
        end=end.at if end else None,
        notes=text("notes"),
        approval=terms.approval,
        billable=terms.billable,
        category=terms.category,
        source_rate=terms.rate,
        source_revision=revision,
        deleted=terms.deleted,
    )
