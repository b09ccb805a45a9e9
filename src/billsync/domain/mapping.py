"""Mapping rules: what a source calls a project, task or person -> the firm's codes.

    rules:
      - {source: harvest, field: project, match: exact, value: "4471", project: P-1001}
      - {source: "*", field: project, match: glob, value: "Nordic Star*", project: P-1001}
      - {source: csv, field: task, match: regex, value: "(?i)^survey", task: survey,
         phase: design}

    before  harvest entry H-9: ref(person="kha", project="4471", task="Survey"), 2026-03-02
    after   person kha (a known code maps to itself), project P-1001 (rule 1),
            task "Survey" (no rule: the source's name), phase design (the one phase of
            P-1001 dated over 2026-03-02), cost center 310 (kha's own)

Precedence, most specific first: a rule for this source beats a rule for any source;
then exact beats glob beats regex; then the higher `priority`; then the rule listed
first. Each target field (project, task, phase, cost center, person) is taken from the
first rule, in that order, that sets it.

A field no rule sets falls back:

- project, person: the source's value when it already is a known code, else empty
  (the entry stays unmapped and validation says so);
- task: the source's value as it is;
- phase: the phase of the project's task, else the one project phase whose dates cover
  the work date (none or several: empty);
- cost center: the person's, else the project's.

Many entries share a source reference, so rules are matched once per distinct
(source, reference) and the result is remembered by the ``MappingContext``.
"""

from __future__ import annotations

import enum
import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache, partial
from itertools import chain
from operator import attrgetter, eq
from typing import Any

from pydantic import model_validator

from .entries import SourceRef, TimeEntry
from .model import Record, Whole
from .workspace import Person, Project

__all__ = [
    "TARGETS",
    "MappingContext",
    "MappingRule",
    "Resolution",
    "MatchField",
    "MatchKind",
    "Codes",
    "map_entries",
    "map_entry",
    "mapped_codes",
    "order_rules",
]


class MatchKind(enum.StrEnum):
    EXACT = "exact"
    GLOB = "glob"
    REGEX = "regex"


class MatchField(enum.StrEnum):
    PROJECT = "project"
    TASK = "task"
    PERSON = "person"
    CLIENT = "client"


class MappingRule(Record):
    source: str = "*"
    field: MatchField
    match: MatchKind = MatchKind.EXACT
    value: str
    priority: Whole = 0
    project: str | None = None
    task: str | None = None
    phase: str | None = None
    cost_center: str | None = None
    person: str | None = None

    @model_validator(mode="after")
    def _sets_something(self) -> MappingRule:
        if not any((self.project, self.task, self.phase, self.cost_center, self.person)):
            raise ValueError("a mapping rule must set project, task, phase, cost_center or person")
        if self.match is MatchKind.REGEX:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.value!r}: {exc}") from exc
        return self

    def matches(self, entry: TimeEntry) -> bool:
        return self.matches_ref(entry.source, entry.ref)

    def matches_ref(self, source: str, ref: SourceRef) -> bool:
        if self.source not in ("*", source):
            return False
        return bool(_text_test(self.match, self.value)(getattr(ref, self.field.value)))

    def precedence(self) -> tuple[int, int, int]:
        kind_rank = {MatchKind.EXACT: 0, MatchKind.GLOB: 1, MatchKind.REGEX: 2}[self.match]
        return (0 if self.source != "*" else 1, kind_rank, -self.priority)


@lru_cache(maxsize=1024)
def _text_test(match: MatchKind, value: str) -> Callable[[str], object]:
    """Whether a text matches `value` the way `match` says (a true result or not),
    compiled once: a context tries its rules on every distinct reference."""
    if match is MatchKind.EXACT:
        return partial(eq, value)
    if match is MatchKind.GLOB:
        return re.compile(fnmatch.translate(value)).match  # as fnmatch.fnmatchcase does
    return re.compile(value).search


TARGETS = ("project", "task", "phase", "cost_center", "person")
# Remembered resolutions are dropped past this many, so a long-lived context stays small.
_CACHE_LIMIT = 200_000


def order_rules(rules: Iterable[MappingRule]) -> list[MappingRule]:
    """Rules in precedence order; sorting is stable, so listing order breaks ties."""
    return sorted(rules, key=MappingRule.precedence)


@dataclass(frozen=True, slots=True)
class Resolution:
    """What one (source, reference) maps to; the phase may still depend on the date."""

    project: str
    person: str
    task: str
    phase: str
    phase_by_date: bool  # no rule or task gave a phase: pick it by the work date
    cost_center: str


@dataclass(frozen=True, slots=True)
class MappingContext:
    """Everything mapping reads, built once per run: known projects and people by code,
    and the rules (given in listing order, kept in precedence order)."""

    projects: Mapping[str, Project]
    people: Mapping[str, Person]
    rules: Sequence[MappingRule] = ()
    _by_ref: dict[tuple[str, SourceRef], Resolution] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _phase_on: dict[tuple[str, date], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # Positions of exact rules by (field, value), and of every other rule: a reference
    # is tried against the few exact rules naming its values, not against every rule.
    _exact: dict[tuple[str, str], list[int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _inexact: list[int] = field(default_factory=list, init=False, repr=False, compare=False)
    # Each rule's matches_ref, ready to run: its source, the field it reads, its test.
    _tests: tuple[tuple[str, Callable[[SourceRef], str], Callable[[str], object]], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Sorting an already ordered list is a no-op (stable), so this is safe to repeat.
        object.__setattr__(self, "rules", tuple(order_rules(self.rules)))
        tests = tuple(
            (r.source, attrgetter(r.field.value), _text_test(r.match, r.value)) for r in self.rules
        )
        object.__setattr__(self, "_tests", tests)
        for position, rule in enumerate(self.rules):
            if rule.match is MatchKind.EXACT:
                self._exact.setdefault((rule.field.value, rule.value), []).append(position)
            else:
                self._inexact.append(position)

    def _candidates(self, ref: SourceRef) -> list[int]:
        """The positions of the rules that may match `ref`, in precedence order."""
        named = (self._exact.get((f.value, getattr(ref, f.value)), ()) for f in MatchField)
        return sorted(chain(self._inexact, *named))

    @classmethod
    def of(
        cls,
        projects: Iterable[Project] = (),
        people: Iterable[Person] = (),
        rules: Iterable[MappingRule] = (),
    ) -> MappingContext:
        """A context from the workspace's records as listed."""
        return cls(
            projects={p.code: p for p in projects},
            people={p.code: p for p in people},
            rules=tuple(rules),
        )

    def fingerprint(self) -> str:
        """A hash of everything mapping reads (projects, people, rules). Codes resolved
        under another fingerprint may be stale; under this one they are what mapping
        gives again, so they need not be resolved again. Every entry row stores it: 64
        bits, not 256, keep a stale code's odds of passing for current at 2**-64."""
        inputs = [
            [self.projects[code].model_dump(mode="json") for code in sorted(self.projects)],
            [self.people[code].model_dump(mode="json") for code in sorted(self.people)],
            [rule.model_dump(mode="json") for rule in self.rules],
        ]
        text = json.dumps(inputs, sort_keys=True).encode()
        return hashlib.blake2b(text, digest_size=8).hexdigest()

    def resolve(self, source: str, ref: SourceRef) -> Resolution:
        """What the rules and fallbacks make of a reference, worked out once."""
        key = (source, ref)
        resolved = self._by_ref.get(key)
        if resolved is None:
            if len(self._by_ref) >= _CACHE_LIMIT:
                self._by_ref.clear()
            resolved = self._by_ref[key] = self._resolve(source, ref)
        return resolved

    def phase_on(self, project_code: str, day: date) -> str:
        """The one phase of the project whose dates cover ``day``, else ""."""
        key = (project_code, day)
        phase = self._phase_on.get(key)
        if phase is None:
            if len(self._phase_on) >= _CACHE_LIMIT:
                self._phase_on.clear()
            project = self.projects.get(project_code)
            covering = [p.code for p in project.phases if p.covers(day)] if project else []
            phase = self._phase_on[key] = covering[0] if len(covering) == 1 else ""
        return phase

    def _apply_rules(self, positions: list[int], source: str, ref: SourceRef) -> dict[str, str]:
        """Each target from the first matching rule of those at `positions` (in
        precedence order) that sets it."""
        found: dict[str, str] = {}
        for position in positions:
            if len(found) == len(TARGETS):
                break
            rule_source, read, test = self._tests[position]
            if rule_source not in ("*", source) or not test(read(ref)):
                continue
            rule = self.rules[position]
            for target in TARGETS:
                value = getattr(rule, target)
                if value and target not in found:
                    found[target] = value
        return found

    def _resolve(self, source: str, ref: SourceRef) -> Resolution:
        found = self._apply_rules(self._candidates(ref), source, ref)
        project_code = found.get("project") or (ref.project if ref.project in self.projects else "")
        person_code = found.get("person") or (ref.person if ref.person in self.people else "")
        task_code = found.get("task") or ref.task
        project = self.projects.get(project_code)
        person = self.people.get(person_code)
        phase = found.get("phase", "")
        if not phase and project is not None:
            task = project.task(task_code) if task_code else None
            phase = task.phase if task is not None else ""
        cost_center = found.get("cost_center") or (
            (person.cost_center if person else "") or (project.cost_center if project else "")
        )
        return Resolution(
            project=project_code,
            person=person_code,
            task=task_code,
            phase=phase,
            phase_by_date=not phase and project is not None,
            cost_center=cost_center,
        )


# ``dataclasses.replace`` costs twice a positional rebuild, which shows on a million
# entries; the rebuild is used only while every field of TimeEntry is positional.
_CODE_FIELDS = ("person", "project", "task", "phase", "cost_center")
_codes_of = attrgetter(*_CODE_FIELDS)
_ENTRY_FIELDS = fields(TimeEntry)
_all_fields_of = attrgetter(*(f.name for f in _ENTRY_FIELDS))
_CODE_POSITIONS = tuple(
    next(i for i, f in enumerate(_ENTRY_FIELDS) if f.name == name) for name in _CODE_FIELDS
)
_POSITIONAL = all(f.init and not f.kw_only for f in _ENTRY_FIELDS)


def _with_codes(entry: TimeEntry, codes: tuple[str, ...]) -> TimeEntry:
    if not _POSITIONAL:
        person, project, task, phase, cost_center = codes
        return replace(
            entry, person=person, project=project, task=task, phase=phase, cost_center=cost_center
        )
    values: list[Any] = list(_all_fields_of(entry))
    for position, code in zip(_CODE_POSITIONS, codes, strict=True):
        values[position] = code
    return TimeEntry(*values)


def map_entry(entry: TimeEntry, context: MappingContext) -> TimeEntry:
    """The entry with its codes resolved from its source reference.

    Mapping always starts from the reference, so re-mapping after a rule change gives
    the same result as mapping a fresh entry. An entry that already carries exactly
    these codes is returned as it is.
    """
    codes = mapped_codes(context, entry.source, entry.ref, entry.work_date)
    if _codes_of(entry) == codes:
        return entry
    return _with_codes(entry, codes)


Codes = tuple[str, str, str, str, str]  # person, project, task, phase, cost center


def mapped_codes(context: MappingContext, source: str, ref: SourceRef, work_date: date) -> Codes:
    """The codes an entry of this source, reference and day maps to."""
    resolved = context.resolve(source, ref)
    phase = (
        context.phase_on(resolved.project, work_date) if resolved.phase_by_date else resolved.phase
    )
    return (resolved.person, resolved.project, resolved.task, phase, resolved.cost_center)


def map_entries(entries: Iterable[TimeEntry], context: MappingContext) -> list[TimeEntry]:
    """Every entry mapped, in the order given."""
    return [map_entry(entry, context) for entry in entries]
