"""Deterministic, realistic and deliberately messy time, as import rows.

Given a workspace's records, ``generate`` walks a calendar window day by day and, for
every person, writes what their time tools would export, in the import columns of
``domain.canonical`` (docs/import.md):

    harvest H-0000017  kari.hansen@skagerak-marine.com
            "MV Nordic Star - Hull survey & steel renewal" / "Hull survey"
            2026-09-01T08:15 .. 2026-09-01T12:02  Europe/Oslo  approved
    payroll PR-0000018 jga  "J-6033-010" / steel-repair
            2026-09-01T07:00 .. 2026-09-01T15:30  America/Chicago  approved  revision 1

Who works how:

- office staff (harvest, by e-mail): 7-10.5 h on working days of their site's calendar,
  in one to three timer or manual entries over their projects' tasks (a task only
  while its phase runs), now and then travel, rarely a weekend;
- yard crew (payroll, by employee code): 07:00 starts, overtime some days, the odd
  Saturday and standby;
- offshore crew (payroll): 14 days on, 14 off, 12-hour day or night shifts whatever
  the calendar says, travel and mobilisation on the first day of a hitch, travel and
  demobilisation on the last, weather and standby days in between;
- on each public holiday of a site, a few of its people work anyway.

Messy rows (``messy=True``), a few percent in all: submitted-not-approved entries (more
in the last week), overlapping timer entries of one person, project and person names
no rule maps, work of one person in both sources (a duplicate), entries dated after the
window, and in the office export about one line in a thousand malformed on purpose,
its ``notes`` starting with ``MALFORMED`` ("[malformed]"; see ``is_malformed``). Caps
are exceeded by the ordinary volume of work on the capped contracts.

Same records, window, seed and flags: the same rows, byte for byte. Rows are built from
plain strings and a plan worked out once (no validation per row), about 4 µs a row:

    records = workspace_for_rows(1_000_000)  # the demo firm with 9,091 people: apply it
    write_csv(generate_count(1_000_000, seed=7, records=records), path)  # exactly 1,000,000
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TypeVar

import holidays
from pydantic import BaseModel

from billsync.domain.contracts import Contract
from billsync.domain.entries import SourceRef
from billsync.domain.mapping import MappingContext, MappingRule, MatchKind
from billsync.domain.workspace import Person, Project, Site

from . import REFERENCE_DAY, firm_records, shift_months

__all__ = [
    "COLUMNS",
    "MALFORMED",
    "ROWS_PER_PERSON",
    "SOURCES",
    "TEAMS",
    "generate",
    "generate_count",
    "is_malformed",
    "records_of",
    "scaled_workspace",
    "workspace_for_rows",
    "write_csv",
]

Row = dict[str, str]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Records = Mapping[str, Sequence[BaseModel]]

# The import columns, in file order ("source" is on each row but names the file).
COLUMNS = (
    "external_id",
    "person",
    "project",
    "task",
    "date",
    "hours",
    "start",
    "end",
    "timezone",
    "notes",
    "approval",
    "billable",
    "category",
    "rate",
    "revision",
)
HARVEST, PAYROLL = "harvest", "payroll"
SOURCES = (HARVEST, PAYROLL)
MALFORMED = "[malformed]"  # notes of the rows made bad on purpose start with this
ROWS_PER_PERSON = 110  # workspace_for_rows: 2026-08-01 to about 2026-11-20

# Who works on what in the demo firm; the first project listed for a person is theirs
# most of the time. People not listed (a scaled workspace's clones "kha-00002") take
# the teams of the code before the dash, else every project with a rate for their role.
TEAMS: dict[str, tuple[str, ...]] = {
    "P-1001": ("kha", "ejo", "tha", "hkr", "mje", "olu", "kda", "rso", "bst", "gru", "sva", "ani"),
    "P-1002": ("ile", "apa", "lni", "jmo", "psa", "tha"),
    "P-2001": ("mol", "sbe", "ehe", "ljh", "ile", "kha", "mfa", "twm"),
    "P-3001": ("cra", "tbr", "jwa", "dmi", "lhe", "tco", "bre", "mhi", "smi", "dng", "kwh"),
    "P-3002": ("jga", "bth", "ral", "kpa", "hmo", "wtu", "rfo"),
    "P-4001": ("gsl", "ana", "hkr", "olu", "pra"),
    "P-5001": ("twm", "pra", "cxl", "rku", "obk", "wkw", "nai", "dte", "mfa"),
}
# Which tasks a role books: task codes containing one of these words.
ROLE_TASKS: dict[str, tuple[str, ...]] = {
    "naval-architect": ("design", "stability", "arrangement", "class", "drawings", "plan"),
    "marine-engineer": ("machinery", "bwts", "engineering", "commissioning", "installation",
                        "electrical", "supervision"),
    "electrical-engineer": ("electrical", "commissioning"),
    "surveyor": ("survey", "gauging", "inspection", "attendance", "reporting", "plan"),
    "draughtsman": ("drawings", "piping", "arrangement", "design"),
    "project-manager": ("management",),
    "welder": ("steel", "staging", "repair"),
    "fitter": ("steel", "staging", "repair"),
    "offshore-technician": ("maintenance", "inspection"),
}  # fmt: skip
OFFSHORE_ROLES = frozenset({"offshore-technician"})
YARD_ROLES = frozenset({"welder", "fitter"})
TRAVELLING_ROLES = frozenset({"surveyor"})

# How long a working day is (minutes): mostly 7.5-8.5 h, some overtime.
DAY_MINUTES = (450, 450, 465, 480, 480, 480, 480, 495, 510, 510, 540, 570, 600, 630)
YARD_MINUTES = (480, 480, 480, 480, 510, 510, 540, 600, 630, 660)
NOTES = ("", "", "", "", "", "drawings rev B", "call with client", "site visit", "calcs")
UNMAPPED = {  # names no rule of the demo firm maps
    HARVEST: ("MV Nordic Star - warranty items", "Gulf Pionner FPSO (old)"),
    PAYROLL: ("J-9990-010", "J-4417-010"),
}
STRANGERS = {HARVEST: ("j.smith@contractor-pool.com",), PAYROLL: ("T-0117",)}


# -- the plan: everything a row needs, worked out once ------------------------------

_Dates = tuple[date | None, date | None]


@dataclass(frozen=True, eq=False)
class _Assignment:
    """One person's role on one project: what each source calls it, which tasks."""

    project: str
    names: dict[str, str]  # source -> what that source calls the project
    role_tasks: tuple[str, ...]  # billable tasks the role books
    other_tasks: tuple[str, ...]  # the project's other billable tasks
    admin: tuple[str, ...]  # not billable
    phases: dict[str, _Dates]  # task code -> the dates of its phase
    task_names: dict[tuple[str, str], str]  # (source, task code) -> the source's name


@dataclass
class _Person:
    code: str
    role: str
    kind: str  # office, yard, offshore
    source: str
    name: str  # what its source calls the person
    site: str
    zone: str
    index: int  # among people of its kind: rotations and shifts
    assignments: tuple[_Assignment, ...] = ()


@dataclass
class _Plan:
    people: list[_Person]
    calendars: dict[str, tuple[str, str | None]]  # site -> country, subdivision
    unmapped: dict[str, tuple[str, ...]]
    strangers: dict[str, tuple[str, ...]]
    _holidays: dict[tuple[str, int], frozenset[date]] = field(default_factory=dict)
    _tasks: dict[tuple[int, date], tuple[tuple[str, ...], tuple[str, ...]]] = field(
        default_factory=dict
    )

    def holiday(self, site: str, day: date) -> bool:
        key = (site, day.year)
        days = self._holidays.get(key)
        if days is None:
            country, subdivision = self.calendars[site]
            found = holidays.country_holidays(country, subdiv=subdivision, years=day.year)
            days = self._holidays[key] = frozenset(found)
        return day in days

    def tasks_on(self, a: _Assignment, day: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(billable, not billable) tasks whose phase runs on `day`; billable ones the
        role books if any run, else the project's other billable ones."""
        key = (id(a), day)
        found = self._tasks.get(key)
        if found is None:

            def running(codes: tuple[str, ...]) -> tuple[str, ...]:
                return tuple(c for c in codes if _runs(a.phases.get(c), day))

            work = running(a.role_tasks) or running(a.other_tasks)
            found = self._tasks[key] = (work, running(a.admin))
        return found


def _runs(dates: _Dates | None, day: date) -> bool:
    if dates is None:
        return True
    start, end = dates
    return (start is None or day >= start) and (end is None or day <= end)


def _kind(role: str) -> str:
    if role in OFFSHORE_ROLES:
        return "offshore"
    return "yard" if role in YARD_ROLES else "office"


def _fill_glob(pattern: str) -> str:
    """A name a glob matches: '*' is nothing, or a work order number after a dash."""
    parts = pattern.replace("?", "x").split("*")
    text = parts[0]
    for part in parts[1:]:
        text += ("010" if text.endswith("-") else "") + part
    return text.strip()


def _rule_names(rules: Sequence[MappingRule], source: str, field: str, target: str) -> list[str]:
    """Names a source could use for `target`, from the rules that map them to it: the
    source's own rules first, exact before glob (a regex cannot be turned around)."""
    out: list[str] = []
    for own in (True, False):
        for kind in (MatchKind.EXACT, MatchKind.GLOB):
            for rule in rules:
                if (
                    (rule.source == source) is own
                    and (own or rule.source == "*")
                    and rule.match is kind
                    and rule.field.value == field
                    and getattr(rule, field) == target
                ):
                    out.append(rule.value if kind is MatchKind.EXACT else _fill_glob(rule.value))
    return out


def records_of(records: Records, kind: str, model: type[M]) -> list[M]:
    """The records of one kind, typed."""
    return [r for r in records.get(kind, ()) if isinstance(r, model)]


def _build_plan(records: Records) -> _Plan:
    sites = {s.code: s for s in records_of(records, "site", Site)}
    people = records_of(records, "person", Person)
    projects = {p.code: p for p in records_of(records, "project", Project)}
    contracts = {c.code: c for c in records_of(records, "contract", Contract)}
    rules = records_of(records, "rule", MappingRule)
    context = MappingContext.of(projects.values(), people, rules)

    def first(
        source: str, names: Iterable[str], ref: Callable[[str], SourceRef], **want: str
    ) -> str:
        """The first name the rules map to what is wanted (the code is the last resort)."""
        for name in names:
            resolved = context.resolve(source, ref(name))
            if all(getattr(resolved, k) == v for k, v in want.items()):
                return name
        return next(iter(want.values()))

    def person_name(source: str, person: Person) -> str:
        names = _rule_names(rules, source, "person", person.code)
        if not names:
            return person.code  # a known code maps to itself
        return first(source, names, lambda n: SourceRef(n, ""), person=person.code)

    def project_name(source: str, project: Project) -> str:
        names = _rule_names(rules, source, "project", project.code)
        # An office tool shows the project's name; payroll keeps to its job numbers.
        names.insert(0 if source == HARVEST else len(names), project.name)
        return first(source, names, lambda n: SourceRef("", n), project=project.code)

    made: dict[tuple[str, str], _Assignment | None] = {}

    def assignment(project: Project, role: str) -> _Assignment | None:
        key = (project.code, role)
        if key not in made:
            words = ROLE_TASKS.get(role, ())
            billable = [t.code for t in project.tasks if t.billable]
            mine = tuple(c for c in billable if any(w in c for w in words))
            others = tuple(c for c in billable if c not in mine)
            admin = tuple(t.code for t in project.tasks if not t.billable)
            phases = {p.code: (p.start, p.end) for p in project.phases}
            names = {source: project_name(source, project) for source in SOURCES}
            task_names: dict[tuple[str, str], str] = {}
            for source in SOURCES:
                under = partial(SourceRef, "", names[source])  # a task name under the project
                for task in project.tasks:
                    options = [task.name, task.code] if source == HARVEST else [task.code]
                    task_names[source, task.code] = first(source, options, under, task=task.code)
            made[key] = (
                _Assignment(
                    project.code,
                    names,
                    mine,
                    others,
                    admin,
                    {t.code: phases[t.phase] for t in project.tasks if t.phase in phases},
                    task_names,
                )
                if billable
                else None
            )
        return made[key]

    def rated_roles(project: Project) -> set[str | None]:
        contract = contracts.get(project.contract) if project.contract else None
        return {r.role for r in contract.rates} if contract else set()

    teams: dict[str, list[str]] = {}
    for project_code, team in TEAMS.items():
        for code in team:
            teams.setdefault(code, []).append(project_code)
    seen: dict[str, int] = {}
    planned: list[_Person] = []
    for person in people:
        kind = _kind(person.role)
        joined = teams.get(person.code) or teams.get(person.code.split("-")[0])
        if joined is None:
            joined = [c for c, p in projects.items() if person.role in rated_roles(p)]
        ours = [assignment(projects[c], person.role) for c in joined if c in projects]
        site = sites[person.site]
        source = HARVEST if kind == "office" else PAYROLL
        seen[kind] = seen.get(kind, 0) + 1
        planned.append(
            _Person(
                code=person.code,
                role=person.role,
                kind=kind,
                source=source,
                name=person_name(source, person),
                site=site.code,
                zone=site.timezone,
                index=seen[kind] - 1,
                assignments=tuple(a for a in ours if a is not None),
            )
        )
    return _Plan(
        people=[p for p in planned if p.assignments],
        calendars={code: (s.country, s.subdivision) for code, s in sites.items()},
        unmapped={
            s: tuple(n for n in names if not context.resolve(s, SourceRef("", n)).project)
            for s, names in UNMAPPED.items()
        },
        strangers={
            s: tuple(n for n in names if not context.resolve(s, SourceRef(n, "")).person)
            for s, names in STRANGERS.items()
        },
    )


# -- rows ----------------------------------------------------------------------------

_HHMM = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]
_HOURS = {m: f"{m / 60:.2f}" for m in range(0, 24 * 60 + 1, 15)}  # exact: quarter hours


def _pick(items: Sequence[T], roll: float) -> T:
    return items[int(roll * len(items))]


class _Writer:
    """Turns planned work into rows: numbers them, names things as each source does,
    and adds the mess. Draws come from one seeded generator in a fixed order."""

    def __init__(self, plan: _Plan, seed: int, messy: bool) -> None:
        self.plan, self.messy = plan, messy
        self.random = random.Random(seed).random
        self.serial = 0
        self.late_from: date | None = None  # the window's last week: more unapproved
        self.unapproved = -1.0  # the chance of a submitted, not approved entry today

    def start_day(self, day: date) -> None:
        late = self.late_from is not None and day >= self.late_from
        self.unapproved = (0.3 if late else 0.012) if self.messy else -1.0

    def row(
        self,
        p: _Person,
        a: _Assignment,
        task: str,
        day: date,
        iso: str,
        start: int = -1,
        end: int = -1,
        minutes: int = 0,
        category: str = "",
        notes: str = "",
        source: str = "",
    ) -> Row:
        """One entry: from `start` to `end` (minutes after midnight; past 1440 is the
        next day) or, with `minutes`, a manual entry of that many on `iso`."""
        source = source or p.source
        payroll = source == PAYROLL
        person = p.name if source == p.source else p.code
        project = a.names[source]
        if self.messy and self.random() < 0.003:
            roll = self.random()
            strangers, unmapped = self.plan.strangers[source], self.plan.unmapped[source]
            if roll < 0.3 and strangers:
                person = _pick(strangers, roll / 0.3)
            elif unmapped:
                project = _pick(unmapped, (roll - 0.3) / 0.7)
        self.serial += 1
        return {
            "source": source,
            "external_id": f"PR-{self.serial:07d}" if payroll else f"H-{self.serial:07d}",
            "person": person,
            "project": project,
            "task": a.task_names[source, task],
            "date": iso,
            "hours": _HOURS[minutes] if minutes else "",
            "start": "" if minutes else _moment(day, iso, start),
            "end": "" if minutes else _moment(day, iso, end),
            "timezone": p.zone,
            "notes": notes,
            "approval": "submitted" if self.random() < self.unapproved else "approved",
            "billable": "",
            "category": category,
            "rate": "",
            "revision": "1" if payroll else "",
        }

    def malformed(self, row: Row) -> Row:
        """The row broken in one of five ways, and marked as such in its notes."""
        bad = dict(row)
        kind = int(self.random() * 5)
        day = row["date"]
        if kind == 0:
            bad.update(start="", end="", hours="7,5")
            what = "hours with a decimal comma"
        elif kind == 1:
            bad.update(start="", end="", hours="8.00", date=day[:8] + "32")
            what = "no such date"
        elif kind == 2:
            bad.update(hours="", start=f"{day}T17:00", end=f"{day}T08:00")
            what = "ends before it starts"
        elif kind == 3:
            bad.update(timezone="Europe/Bergen")
            what = "unknown time zone"
        else:
            bad.update(person="")
            what = "no person"
        bad["notes"] = f"{MALFORMED} {what}"
        return bad


def _moment(day: date, iso: str, minute: int) -> str:
    if minute < 1440:
        return f"{iso}T{_HHMM[minute]}"
    later = day + timedelta(days=minute // 1440)
    return f"{later.isoformat()}T{_HHMM[minute % 1440]}"


def _office_day(w: _Writer, p: _Person, day: date, iso: str, extra: bool, out: list[Row]) -> None:
    """An office or yard person's day; `extra` is work on a weekend or holiday."""
    r = w.random
    yard = p.kind == "yard"
    if extra:
        total, parts = 240 + 60 * int(r() * 4), 1
        minute = 420 if yard else 540
    elif yard:
        total, parts, minute = _pick(YARD_MINUTES, r()), 1 if r() < 0.85 else 2, 420
    else:
        roll = r()
        total = _pick(DAY_MINUTES, r())
        parts = 1 if roll < 0.45 else 2 if roll < 0.85 else 3
        minute = 450 + 15 * int(r() * 7)
    lengths = _split(r, total, parts)
    assignments = p.assignments
    previous_end = -1
    for number, length in enumerate(lengths):
        a = assignments[0]
        if len(assignments) > 1 and r() < 0.3:
            a = assignments[1 + int(r() * (len(assignments) - 1))]
        work, admin = w.plan.tasks_on(a, day)
        if admin and (r() < 0.03 or not work):
            task = _pick(admin, r())
        elif work:
            task = _pick(work, r())
        else:
            continue
        category = ""
        if yard and r() < 0.03:
            category = "standby"
        elif parts > 1 and p.role in TRAVELLING_ROLES and r() < 0.08:
            category = "travel"
        if yard or r() < 0.75:  # a timer: start and end
            begin, end = minute, minute + length + (0 if yard else int(r() * 15) - 7)
            if w.messy and previous_end > 0 and r() < 0.02:
                begin = previous_end - 15 * (2 + int(r() * 3))  # the timer ran on
            row = w.row(p, a, task, day, iso, begin, end, category=category)
            previous_end = minute = end
        else:  # typed in afterwards: hours in quarters
            quarters = max(1, round(length / 15))
            notes = _pick(NOTES, r())
            row = w.row(p, a, task, day, iso, minutes=15 * quarters, category=category, notes=notes)
            minute += 15 * quarters
            previous_end = -1
            if w.messy and r() < 0.008:  # the same work, in the other source too
                other = PAYROLL if p.source == HARVEST else HARVEST
                out.append(row)
                row = w.row(
                    p, a, task, day, iso, minutes=15 * quarters, source=other,
                    notes="entered from paper timesheet",
                )  # fmt: skip
        if w.messy and row["source"] == HARVEST and r() < 0.001:  # office tools let anything in
            row = w.malformed(row)
        out.append(row)
        if number == 0:
            minute += 30  # lunch


def _split(r: Callable[[], float], total: int, parts: int) -> list[int]:
    """`total` minutes in `parts` pieces of at least an hour, on quarter hours."""
    if parts == 1:
        return [total]
    quarters = total // 15
    cuts = sorted({4 + int(r() * (quarters - 7)) for _ in range(parts - 1)})
    edges = [0, *(15 * c for c in cuts), total]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def _offshore_day(w: _Writer, p: _Person, day: date, iso: str, out: list[Row]) -> None:
    """14 days on, 14 off, whatever the calendar says; travel at both ends of a hitch."""
    hitch = (day.toordinal() + 7 * p.index) % 28
    if hitch >= 14:
        return
    a = p.assignments[0]
    work, _ = w.plan.tasks_on(a, day)
    if not work:
        return
    task = work[p.index % len(work)]
    if hitch == 0:
        out.append(w.row(p, a, task, day, iso, 480, 840, category="travel"))
        out.append(w.row(p, a, task, day, iso, 840, 1080, category="mobilisation"))
    elif hitch == 13:
        out.append(w.row(p, a, task, day, iso, 360, 600, category="demobilisation"))
        out.append(w.row(p, a, task, day, iso, 600, 960, category="travel"))
    else:
        roll = w.random()
        category = "weather" if roll < 0.05 else "standby" if roll < 0.09 else ""
        start = 360 if p.index % 2 == 0 else 1080  # day or night shift
        out.append(w.row(p, a, task, day, iso, start, start + 720, category=category))


def _holiday_crew(plan: _Plan, seed: int, site: str, day: date) -> frozenset[str]:
    """The few people of a site who work on one of its public holidays."""
    people = sorted(p.code for p in plan.people if p.site == site and p.kind != "offshore")
    if not people:
        return frozenset()
    salt = sum(ord(c) for c in site)  # str hashes differ between processes; this does not
    rng = random.Random(seed * 1_000_003 + day.toordinal() * 1009 + salt)
    return frozenset(rng.sample(people, max(1, math.ceil(len(people) * 0.15))))


def _stream(plan: _Plan, seed: int, start: date, days: int | None, messy: bool) -> Iterator[Row]:
    w = _Writer(plan, seed, messy)
    r = w.random
    if days is not None:
        w.late_from = start + timedelta(days=days - 7)
    crews: dict[tuple[str, date], frozenset[str]] = {}
    offset = 0
    while days is None or offset < days:
        day = start + timedelta(days=offset)
        iso = day.isoformat()
        weekend = day.weekday() >= 5
        w.start_day(day)
        rows: list[Row] = []  # a day at a time: streaming, without a generator per person
        for p in plan.people:
            if p.kind == "offshore":
                _offshore_day(w, p, day, iso, rows)
                continue
            holiday = plan.holiday(p.site, day)
            if holiday:
                crew = crews.get((p.site, day))
                if crew is None:
                    crew = crews[p.site, day] = _holiday_crew(plan, seed, p.site, day)
                if p.code not in crew:
                    continue
            elif weekend:
                if r() >= (0.05 if p.kind == "yard" else 0.012):
                    continue
            elif r() < 0.04:  # leave, sickness, training
                continue
            _office_day(w, p, day, iso, weekend or holiday, rows)
        yield from rows
        offset += 1
    if messy and days is not None:
        yield from _future(w, start + timedelta(days=days))


def _future(w: _Writer, after: date) -> Iterator[Row]:
    """Time entered ahead: dated after the window (after today, in the demo)."""
    office = [p for p in w.plan.people if p.kind == "office"]
    for ahead in (3, 9):
        if not office:
            return
        p = office[(ahead * 7) % len(office)]
        day = after + timedelta(days=ahead)
        a = p.assignments[0]
        work, admin = w.plan.tasks_on(a, day)
        task = (work or admin or a.role_tasks or a.other_tasks)[0]
        w.start_day(day)
        yield w.row(p, a, task, day, day.isoformat(), 480, 960, notes="planned")


# -- the public surface ----------------------------------------------------------------


def generate(
    records: Records, *, start: date, days: int, seed: int, messy: bool = True
) -> Iterator[Row]:
    """Rows of `days` days from `start` for every person of the workspace, day by day.

    Each row is a dict of the import columns plus "source" ("harvest" or "payroll").
    With `messy`, the entries dated after the window come last.
    """
    if days < 0:
        raise ValueError(f"days must be zero or more, not {days}")
    return _stream(_build_plan(records), seed, start, days, messy)


def generate_count(
    n: int,
    seed: int = 0,
    *,
    records: Records | None = None,
    start: date | None = None,
    messy: bool = True,
) -> Iterator[Row]:
    """Exactly `n` rows, streamed: the calendar runs on from `start` until there are
    enough. Without `records`, the demo firm scaled to `workspace_for_rows(n)`;
    without `start`, the demo's own first day (2026-08-01, three months before its
    reference day 2026-11-25)."""
    if n < 0:
        raise ValueError(f"n must be zero or more, not {n}")
    plan = _build_plan(records if records is not None else workspace_for_rows(n))
    first = start or shift_months(REFERENCE_DAY.replace(day=1), -3)
    return islice(_stream(plan, seed, first, None, messy), n)


def scaled_workspace(people: int, as_of: date | None = None) -> dict[str, list[BaseModel]]:
    """The demo firm with at least `people` people: clones of the fifty ("kha-00002"),
    with the same role, site, cost center and teams, and no e-mail (both sources send
    their codes, which map to themselves). Contracts and caps stay as they are."""
    records = {kind: list(items) for kind, items in firm_records(as_of).items()}
    base = records_of(records, "person", Person)
    clones: list[BaseModel] = []
    for i in range(max(0, people - len(base))):
        original = base[i % len(base)]
        copy = i // len(base) + 2
        clones.append(
            Person(
                code=f"{original.code}-{copy:05d}",
                name=f"{original.name} {copy}",
                role=original.role,
                site=original.site,
                cost_center=original.cost_center,
            )
        )
    records["person"] = [*base, *clones]
    return records


def workspace_for_rows(n: int, as_of: date | None = None) -> dict[str, list[BaseModel]]:
    """The demo firm with enough people that `n` rows of `generate_count` run from
    2026-08-01 to about 2026-11-20 (ROWS_PER_PERSON a person)."""
    return scaled_workspace(max(50, math.ceil(n / ROWS_PER_PERSON)), as_of)


def is_malformed(row: Mapping[str, str]) -> bool:
    """A row made bad on purpose (the import quarantines it)."""
    return row.get("notes", "").startswith(MALFORMED)


def write_csv(
    rows: Iterable[Mapping[str, str]], path: Path, columns: Sequence[str] = COLUMNS
) -> int:
    """Write rows as an import CSV (UTF-8, header first); returns how many."""
    pick = itemgetter(*columns)
    source = iter(rows)
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        while chunk := list(islice(source, 10_000)):
            writer.writerows(map(pick, chunk))
            count += len(chunk)
    return count


def write_by_source(rows: Iterable[Mapping[str, str]], paths: Mapping[str, Path]) -> dict[str, int]:
    """Stream rows into one import CSV per source (the row's "source" picks the file,
    as each platform exports its own); returns how many rows each file got."""
    pick = itemgetter(*COLUMNS)
    counts = dict.fromkeys(paths, 0)
    with ExitStack() as stack:
        writers = {}
        for source, path in paths.items():
            writers[source] = csv.writer(
                stack.enter_context(path.open("w", encoding="utf-8", newline=""))
            )
            writers[source].writerow(COLUMNS)
        for row in rows:
            writers[row["source"]].writerow(pick(row))
            counts[row["source"]] += 1
    return counts
