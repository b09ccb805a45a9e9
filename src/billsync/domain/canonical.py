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
MAX_TEXT = 200  # characters of an id or a name a source gives: the store's columns' width
TRUE = {"true", "yes", "y", "1"}
FALSE = {"false", "no", "n", "0"}
_FLAGS = dict.fromkeys(TRUE, True) | dict.fromkeys(FALSE, False)
# Members by value: a dict lookup, where calling the enum costs a million calls.
_MEMBERS: dict[type, dict[str, Approval | Category]] = {
    kind: {member.value: member for member in kind} for kind in (Approval, Category)
}
DURATION = re.compile(r"^(\d{1,2}):([0-5]\d)$")
# A record's fields, in the order `parse_fields` reads them.
FIELDS = (
    "external_id",
    "person",
    "project",
    "task",
    "client",
    "timezone",
    "start",
    "end",
    "date",
    "hours",
    "minutes",
    "duration",
    "revision",
    "approval",
    "category",
    "billable",
    "deleted",
    "rate",
    "notes",
)
KNOWN_FIELDS = frozenset(FIELDS)


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


@lru_cache(maxsize=4096)
def _zone(value: str | None, default: str | None) -> tuple[str, ZoneInfo | None]:
    """A record's time zone name (its own, else the default, else "") and the zone it
    names, if any. Lines share their zones: one name object each (which a second
    process reading the lines pickles once)."""
    name = (value or "").strip() or default or ""
    return name, zone(name) if name else None


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

    def text(self, name: str) -> str:
        return (self.fields.get(name) or "").strip()

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


NUL = "contains a NUL character (U+0000), which no field may hold"
SURROGATE = (
    "contains a lone surrogate (a \\ud800-\\udfff escape without its pair), which is not text"
)

# Why a time has no instant when no zone is given for it (not said for a bad zone).
_NO_ZONE = "has no UTC offset and no timezone is given"


@lru_cache(maxsize=4096)
def _day(value: str) -> dt.date:
    """A day, read once: lines share their days, one object each (which a second
    process reading the lines pickles once)."""
    return dt.date.fromisoformat(value)


@lru_cache(maxsize=4096)
def _date(value: str | None) -> dt.date | str | None:
    """What a date field says: its day, None when it is empty, or why it is no day."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return _day(text)
    except ValueError:
        return f"{text!r} is not a date (YYYY-MM-DD)"


class _Moment(NamedTuple):
    at: dt.datetime  # aware
    utc: dt.datetime  # the same instant in UTC: wall clocks jump at daylight-saving changes
    day: dt.date  # the local day, in the record's zone when it has one


@lru_cache(maxsize=65_536)
def _moment(value: str | None, tz: ZoneInfo | None) -> _Moment | str | None:
    """The instant a time field means (None when it is empty), or why it is none. The
    same clock times recur on every day's lines: each is read once, and lines share it."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return f"{text!r} is not an ISO 8601 date and time"
    if stamp.tzinfo is None:
        if tz is None:
            return _NO_ZONE
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


@lru_cache(maxsize=65_536)
def _ref(values: tuple[str | None, ...]) -> tuple[SourceRef | None, tuple[FieldError, ...]]:
    """The reference the person, project, task and client fields (as given, in that
    order) make, else the errors of the required ones. Lines share their people,
    projects and tasks: one reference for each combination."""
    person, project, task, client = ((value or "").strip() for value in values)
    required = (("person", person), ("project", project))
    errors = tuple(FieldError(name, "is required") for name, text in required if not text)
    given = (("person", person), ("project", project), ("task", task), ("client", client))
    errors += tuple(FieldError(n, _too_long(text)) for n, text in given if len(text) > MAX_TEXT)
    return (None if errors else SourceRef(person, project, task, client)), errors


def _too_long(text: str) -> str:
    return f"is {len(text)} characters long; at most {MAX_TEXT}"


# A source revision's stamp, worked out once: a source stamps many lines alike.
_revision = lru_cache(maxsize=4096)(revision_stamp)


def forget_repeats() -> None:
    """Drop the values lines have shared. A bulk read leaves up to 65,536 times and
    references alive, tens of megabytes that the work after it (a run) can use."""
    for cached in (_zone, _day, _date, _moment, _seconds, _terms, _ref, _revision):
        cached.cache_clear()


def _time_error(errors: list[FieldError], name: str, reason: str, bad_zone: bool) -> None:
    """Say why a time field has no instant; that it has no zone is not said again
    when the zone given is the fault."""
    if not (bad_zone and reason is _NO_ZONE):
        errors.append(FieldError(name, reason))


def parse_record(fields: Mapping[str, str], defaults: Defaults) -> Canonical | list[FieldError]:
    """A record given by field name (a connector's, a JSON line's)."""
    unknown = [] if KNOWN_FIELDS.issuperset(fields) else sorted(set(fields) - KNOWN_FIELDS)
    errors = [FieldError(name, "unknown column") for name in unknown]
    # What no database text holds, from JSON's escapes (a CSV file is read as strict
    # UTF-8, so only its NUL reaches here): said here, for every backend.
    errors += [FieldError(name, why) for name, value in fields.items() if (why := _not_text(value))]
    return parse_fields(tuple(map(fields.get, FIELDS)), defaults, errors)


def _not_text(value: str | None) -> str | None:
    """Why a field's value cannot be stored as text, if it cannot."""
    if not value:
        return None
    if "\x00" in value:
        return NUL
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return SURROGATE
    return None


def parse_fields(
    values: tuple[str | None, ...], defaults: Defaults, errors: list[FieldError] | None = None
) -> Canonical | list[FieldError]:
    """A record given as its FIELDS' values, in that order (None or "": not given), and
    the errors found before (which it adds to). Every field is read as its text
    stripped, inline or by a cached helper: this runs once per line of a file."""
    errors = [] if errors is None else errors
    (external_id, person, project, task, client, zone_name, start_at, end_at, date, hours,
     minutes, duration, given_revision, approval, category, billable, deleted, rate,
     notes) = values  # fmt: skip
    external_id = (external_id or "").strip()
    if not external_id:
        errors.append(FieldError("external_id", "is required"))
    elif len(external_id) > MAX_TEXT:
        errors.append(FieldError("external_id", _too_long(external_id)))
    ref, ref_errors = _ref((person, project, task, client))
    errors += ref_errors
    tz_name, tz = _zone(zone_name, defaults.timezone)
    if tz_name and tz is None:
        errors.append(FieldError("timezone", f"{tz_name!r} is not an IANA time zone"))
    bad_zone = bool(tz_name) and tz is None  # said once, not again for each time
    start = _moment(start_at, tz)
    if isinstance(start, str):
        _time_error(errors, "start", start, bad_zone)
        start = None
    end = _moment(end_at, tz)
    if isinstance(end, str):
        _time_error(errors, "end", end, bad_zone)
        end = None
    day = _date(date)
    if isinstance(day, str):
        errors.append(FieldError("date", day))
        day = None
    seconds, amount_errors = _seconds((hours, minutes, duration))
    errors += amount_errors
    if (start is None) != (end is None) and not errors:
        errors.append(FieldError("end" if start else "start", "start and end go together"))
    if start and end:
        span = int((end.utc - start.utc).total_seconds())
        if span <= 0:
            errors.append(FieldError("end", "is not after start"))
        else:
            if seconds is not None and seconds != span:
                errors.append(
                    FieldError("hours", f"{seconds} s disagrees with start-end ({span} s)")
                )
            seconds = span
        if day and day != start.day:
            errors.append(FieldError("date", f"{day} is not the local day of start ({start.day})"))
        day = start.day
    elif not errors:
        if day is None:
            errors.append(FieldError("date", "is required when start and end are not given"))
        if seconds is None:
            errors.append(
                FieldError("hours", "one of hours, minutes, duration or start/end is required")
            )
    if not tz_name and not errors:
        errors.append(FieldError("timezone", "is required (or pass a default time zone)"))
    if seconds is not None and seconds > MAX_SECONDS:
        errors.append(FieldError("hours", f"{seconds / 3600:g} h is more than a day in one entry"))
    revision: str | None = None
    if given_revision := (given_revision or "").strip():
        try:
            revision = _revision(given_revision)
        except ValueError as exc:
            errors.append(FieldError("revision", f"{given_revision!r}: {exc}"))
    terms = _terms((approval, category, billable, deleted, rate), defaults.approval)
    errors += terms.errors
    if errors or ref is None or day is None or seconds is None:
        return errors
    # Positional, in Canonical's field order: by keyword, a call builds a dict.
    return Canonical(
        external_id,
        ref,
        day,
        seconds,
        tz_name,
        start.at if start else None,
        end.at if end else None,
        (notes or "").strip(),
        terms.approval,
        terms.billable,
        terms.category,
        terms.rate,
        revision,
        terms.deleted,
    )
