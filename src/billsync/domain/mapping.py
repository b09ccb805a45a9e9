"""Mapping rules: what a source calls a project, task or person -> the firm's codes.

    rules:
      - {source: harvest, field: project, match: exact, value: "4471", project: P-1001}
      - {source: "*", field: project, match: glob, value: "Nordic Star*", project: P-1001}
      - {source: csv, field: task, match: regex, value: "(?i)^survey", task: survey,
         phase: design}

Precedence, most specific first: a rule for this source beats a rule for any source;
then exact beats glob beats regex; then the higher `priority`; then the rule listed
first. Each target field (project, task, phase, cost center, person) is taken from the
first rule, in that order, that sets it.
"""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import replace

from pydantic import model_validator

from .entries import TimeEntry
from .model import Record


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
    priority: int = 0
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
        if self.source not in ("*", entry.source):
            return False
        text = getattr(entry.ref, self.field.value)
        if self.match is MatchKind.EXACT:
            return bool(text == self.value)
        if self.match is MatchKind.GLOB:
            return fnmatch.fnmatchcase(text, self.value)
        return re.search(self.value, text) is not None

    def precedence(self) -> tuple[int, int, int]:
        kind_rank = {MatchKind.EXACT: 0, MatchKind.GLOB: 1, MatchKind.REGEX: 2}[self.match]
        return (0 if self.source != "*" else 1, kind_rank, -self.priority)


TARGETS = ("project", "task", "phase", "cost_center", "person")


def order_rules(rules: list[MappingRule] | tuple[MappingRule, ...]) -> list[MappingRule]:
    """Rules in precedence order; sorting is stable, so listing order breaks ties."""
    return sorted(rules, key=MappingRule.precedence)


def map_entry(
    entry: TimeEntry,
    ordered_rules: list[MappingRule],
    known_projects: frozenset[str],
    known_people: frozenset[str],
) -> TimeEntry:
    """Resolve codes. A source value that already is a known code maps to itself,
    so a CSV written with the firm's own codes needs no rules."""
    found: dict[str, str] = {}
    for rule in ordered_rules:
        if all(t in found for t in TARGETS):
            break
        if not rule.matches(entry):
            continue
        for target in TARGETS:
            value = getattr(rule, target)
            if value and target not in found:
                found[target] = value
    project = found.get("project") or (
        entry.ref.project if entry.ref.project in known_projects else ""
    )
    person = found.get("person") or (entry.ref.person if entry.ref.person in known_people else "")
    return replace(
        entry,
        project=project,
        person=person,
        task=found.get("task") or entry.ref.task,
        phase=found.get("phase", ""),
        cost_center=found.get("cost_center", ""),
    )
