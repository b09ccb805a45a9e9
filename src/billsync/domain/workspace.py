"""Clients, sites, people, projects with their vessel, phases and tasks.

project P-1001 "Hull survey MV Nordic Star" (IMO 9074729), client nordic,
  phases: design 2026-01-01..2026-03-31, yard 2026-04-01..2026-06-30
  tasks: survey (design, billable), admin (design, not billable)
"""

from __future__ import annotations

import enum
from datetime import date
from functools import cache, cached_property
from zoneinfo import ZoneInfo, available_timezones

import holidays
from pydantic import field_validator, model_validator

from .model import Code, Record


# Both read the library's or the system's tables, tens of milliseconds a call, and
# every site of a workspace is validated each time the workspace is loaded.
@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@cache
def _calendar_problem(country: str, subdivision: str | None) -> str | None:
    """Why there is no holiday calendar for the country and subdivision, or None."""
    # Looked up by name in the library: a market (NYSE), its base class or any other
    # name in it is no country.
    if not (len(country) == 2 and country in holidays.list_supported_countries()):
        return f"no holiday calendar for country {country!r}"
    try:
        holidays.country_holidays(country, years=2026)
    except NotImplementedError:
        return f"no holiday calendar for country {country!r}"
    try:
        holidays.country_holidays(country, subdiv=subdivision, years=2026)
    except NotImplementedError:
        return f"no holiday calendar for subdivision {subdivision!r} of {country}"
    return None


def imo_check_digit_ok(imo: str) -> bool:
    """IMO ship numbers: 7 digits, the last is sum(d_i * (7 - i)) mod 10 of the first six."""
    digits = imo.removeprefix("IMO").strip()
    # ASCII digits only (isdigit() takes '٩' and '⁹'); 0000000 passes the sum and is
    # no ship's number.
    if len(digits) != 7 or not (digits.isascii() and digits.isdigit()) or digits == "0000000":
        return False
    total = sum(int(d) * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True))
    return total % 10 == int(digits[6])


class ProjectStatus(enum.StrEnum):
    ACTIVE = "active"
    READY_FOR_BILLING = "ready_for_billing"
    COMPLETED = "completed"
    CLOSED = "closed"


class Client(Record):
    code: Code
    name: str
    email: str = ""
    address: str = ""
    tax_id: str = ""


class Site(Record):
    """Where people work: its time zone and public-holiday calendar decide overtime."""

    code: Code
    name: str = ""
    timezone: str
    country: str  # ISO 3166-1 alpha-2, as the holidays library knows it
    subdivision: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # localtime is whatever the host's zone is; Factory is tzdata's placeholder.
        if value not in _zones() or value in ("localtime", "Factory"):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @model_validator(mode="after")
    def _known_calendar(self) -> Site:
        problem = _calendar_problem(self.country, self.subdivision)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Person(Record):
    code: Code
    name: str
    role: Code
    site: Code
    cost_center: str = ""
    email: str = ""


class Vessel(Record):
    name: str
    imo: str

    @field_validator("imo")
    @classmethod
    def _check_digit(cls, value: str) -> str:
        if not imo_check_digit_ok(value):
            raise ValueError(f"IMO number {value!r} fails its check digit")
        return value.removeprefix("IMO").strip()


class Phase(Record):
    code: Code
    name: str = ""
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Phase:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"phase {self.code} ends {self.end} before it starts {self.start}")
        return self

    def covers(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


class Task(Record):
    code: Code
    name: str = ""
    phase: str = ""
    billable: bool = True


class Project(Record):
    code: Code
    name: str
    client: Code
    contract: Code | None = None
    vessel: Vessel | None = None
    status: ProjectStatus = ProjectStatus.ACTIVE
    cost_center: str = ""
    phases: tuple[Phase, ...] = ()
    tasks: tuple[Task, ...] = ()

    @model_validator(mode="after")
    def _tasks_in_phases(self) -> Project:
        for kind, codes in (
            ("phase", [p.code for p in self.phases]),
            ("task", [t.code for t in self.tasks]),
        ):
            twice = sorted({c for c in codes if codes.count(c) > 1})
            if twice:
                raise ValueError(f"{kind} {twice[0]} is listed twice")
        phases = {p.code for p in self.phases}
        for task in self.tasks:
            if task.phase and task.phase not in phases:
                raise ValueError(f"task {task.code} names unknown phase {task.phase!r}")
        return self

    # Looked up for every entry of a run: by dict, built on first use (the model is frozen).
    @cached_property
    def task_by_code(self) -> dict[str, Task]:
        return {t.code: t for t in self.tasks}

    @cached_property
    def phase_by_code(self) -> dict[str, Phase]:
        return {p.code: p for p in self.phases}

    def task(self, code: str) -> Task | None:
        return self.task_by_code.get(code)

    def phase(self, code: str) -> Phase | None:
        return self.phase_by_code.get(code)
