"""Mapping, told as stories of what a source called the work and what finance bills it as.

Unless a story says otherwise: project P-1001 "Hull survey MV Nordic Star" has phases
design (Q1 2026) and yard (Q2 2026) and tasks survey (design), admin (design) and
drawings (no phase), cost center 400; P-2002 has no phases, cost center 500. Kha sits in
cost center 310; Ana has none.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from billsync.domain.entries import SourceRef, TimeEntry
from billsync.domain.mapping import (
    MappingContext,
    MappingRule,
    MatchKind,
    map_entries,
    map_entry,
    order_rules,
)
from billsync.domain.workspace import Person, Phase, Project, Task

DESIGN_DAY = date(2026, 3, 2)
YARD_DAY = date(2026, 5, 4)
AFTER_ALL_PHASES = date(2026, 9, 1)

NORDIC_STAR = Project(
    code="P-1001",
    name="Hull survey MV Nordic Star",
    client="nordic",
    cost_center="400",
    phases=(
        Phase(code="design", start=date(2026, 1, 1), end=date(2026, 3, 31)),
        Phase(code="yard", start=date(2026, 4, 1), end=date(2026, 6, 30)),
    ),
    tasks=(
        Task(code="survey", phase="design"),
        Task(code="admin", phase="design", billable=False),
        Task(code="drawings"),
    ),
)
RETROFIT = Project(code="P-2002", name="Scrubber retrofit", client="nordic", cost_center="500")
KHA = Person(code="kha", name="Kari Haugen", role="surveyor", site="oslo", cost_center="310")
ANA = Person(code="ana", name="Ana Lund", role="naval-architect", site="oslo")

_ids = itertools.count(1)


def context(*rules: MappingRule, projects: tuple[Project, ...] = ()) -> MappingContext:
    return MappingContext.of(
        projects=projects or (NORDIC_STAR, RETROFIT), people=(KHA, ANA), rules=rules
    )


def recorded(
    project: str = "4471",
    person: str = "kha",
    task: str = "",
    *,
    source: str = "harvest",
    client: str = "",
    on: date = DESIGN_DAY,
    **changes: Any,
) -> TimeEntry:
    """An entry as a source recorded it, before mapping."""
    number = next(_ids)
    return TimeEntry(
        id=number,
        revision=1,
        source=source,
        external_id=f"H-{number}",
        ref=SourceRef(person=person, project=project, task=task, client=client),
        work_date=on,
        duration_seconds=3600,
        timezone="Europe/Oslo",
        **changes,
    )


def rule(value: str, **terms: Any) -> MappingRule:
    return MappingRule(value=value, **{"field": "project", **terms})


# -- precedence --------------------------------------------------------------------------


def test_a_rule_for_this_source_beats_a_rule_for_any_source() -> None:
    any_source = rule("4471", project="P-2002", priority=100)
    harvest_only = rule("44*", source="harvest", match=MatchKind.GLOB, project="P-1001")

    mapped = map_entry(recorded("4471"), context(any_source, harvest_only))

    assert mapped.project == "P-1001"


def test_a_rule_for_another_source_does_not_apply() -> None:
    csv_only = rule("4471", source="csv", project="P-1001")

    mapped = map_entry(recorded("4471", source="harvest"), context(csv_only))

    assert mapped.project == ""


def test_an_exact_rule_beats_a_glob_which_beats_a_regex() -> None:
    regex = rule("^Nordic", match=MatchKind.REGEX, project="P-2002", priority=9)
    glob = rule("Nordic*", match=MatchKind.GLOB, project="P-1001", priority=5)
    exact = rule("Nordic Star", project="P-2002")

    assert map_entry(recorded("Nordic Star"), context(regex, glob, exact)).project == "P-2002"
    assert map_entry(recorded("Nordic Star 2"), context(regex, glob, exact)).project == "P-1001"
    assert map_entry(recorded("Nordic"), context(regex, exact)).project == "P-2002"


def test_the_higher_priority_wins_between_equally_specific_rules() -> None:
    low = rule("Nordic*", match=MatchKind.GLOB, project="P-2002", priority=1)
    high = rule("*Star", match=MatchKind.GLOB, project="P-1001", priority=2)

    assert map_entry(recorded("Nordic Star"), context(low, high)).project == "P-1001"


def test_the_rule_listed_first_wins_a_full_tie() -> None:
    first = rule("Nordic*", match=MatchKind.GLOB, project="P-2002")
    second = rule("*Star", match=MatchKind.GLOB, project="P-1001")

    assert map_entry(recorded("Nordic Star"), context(first, second)).project == "P-2002"
    assert map_entry(recorded("Nordic Star"), context(second, first)).project == "P-1001"


def test_rules_are_kept_in_precedence_order_whatever_order_they_are_given_in() -> None:
    regex = rule("^4", match=MatchKind.REGEX, project="P-2002")
    exact_any = rule("4471", project="P-2002")
    exact_here = rule("4471", source="harvest", project="P-1001")

    ctx = context(regex, exact_any, exact_here)

    assert list(ctx.rules) == [exact_here, exact_any, regex] == order_rules(ctx.rules)


def test_each_field_comes_from_the_first_rule_that_sets_it() -> None:
    project_rule = rule("4471", project="P-1001")
    task_rule = MappingRule(
        field="task", match=MatchKind.REGEX, value="(?i)^survey", task="survey",
        project="P-2002", phase="yard", cost_center="777",
    )  # fmt: skip
    later_task_rule = MappingRule(
        field="task", match=MatchKind.REGEX, value="(?i)survey$", task="drawings"
    )

    mapped = map_entry(
        recorded("4471", task="Survey"), context(project_rule, task_rule, later_task_rule)
    )

    # The exact project rule comes first; the regex rules fill the rest, in listing order.
    assert (mapped.project, mapped.task, mapped.phase, mapped.cost_center) == (
        "P-1001",
        "survey",
        "yard",
        "777",
    )


def test_rules_can_match_the_person_and_the_client() -> None:
    by_person = MappingRule(field="person", value="Kari H.", person="kha")
    by_client = MappingRule(field="client", value="Nordic Shipping AS", project="P-1001")

    mapped = map_entry(
        recorded("misc", person="Kari H.", client="Nordic Shipping AS"),
        context(by_person, by_client),
    )

    assert (mapped.person, mapped.project) == ("kha", "P-1001")


def test_a_rule_with_a_broken_regular_expression_is_refused() -> None:
    with pytest.raises(ValidationError, match="bad regular expression"):
        rule("(unclosed", match=MatchKind.REGEX, project="P-1001")


# -- identity and unmapped ---------------------------------------------------------------


def test_a_source_that_uses_the_firms_own_codes_needs_no_rules() -> None:
    mapped = map_entry(recorded("P-1001", person="ana", task="survey"), context())

    assert (mapped.person, mapped.project, mapped.task) == ("ana", "P-1001", "survey")
    assert mapped.mapped


def test_a_rule_overrides_a_code_that_happens_to_be_known() -> None:
    moved = rule("P-1001", source="harvest", project="P-2002")

    assert map_entry(recorded("P-1001"), context(moved)).project == "P-2002"


def test_a_task_no_rule_names_keeps_what_the_source_called_it() -> None:
    assert map_entry(recorded("P-1001", task="Welding QA"), context()).task == "Welding QA"


def test_an_unknown_project_leaves_the_entry_unmapped() -> None:
    mapped = map_entry(recorded("4471", person="kha"), context())

    assert (mapped.person, mapped.project) == ("kha", "")
    assert not mapped.mapped


def test_an_unknown_person_leaves_the_entry_unmapped() -> None:
    mapped = map_entry(recorded("P-1001", person="k.haugen"), context())

    assert (mapped.person, mapped.project) == ("", "P-1001")
    assert not mapped.mapped


def test_remapping_after_a_rule_is_removed_unmaps_the_entry() -> None:
    mapped = map_entry(recorded("4471"), context(rule("4471", project="P-1001")))

    remapped = map_entry(mapped, context())

    assert remapped.project == ""
    assert remapped.ref == mapped.ref


# -- phase -------------------------------------------------------------------------------


def test_the_phase_comes_from_the_projects_task() -> None:
    # The survey task belongs to design, even on a day in the yard phase.
    assert map_entry(recorded("P-1001", task="survey", on=YARD_DAY), context()).phase == "design"


def test_a_task_without_a_phase_takes_the_phase_dated_over_the_work_day() -> None:
    ctx = context()

    assert map_entry(recorded("P-1001", task="drawings", on=DESIGN_DAY), ctx).phase == "design"
    assert map_entry(recorded("P-1001", task="drawings", on=YARD_DAY), ctx).phase == "yard"


def test_no_phase_is_guessed_when_none_covers_the_day() -> None:
    mapped = map_entry(recorded("P-1001", task="drawings", on=AFTER_ALL_PHASES), context())

    assert mapped.phase == ""


def test_no_phase_is_guessed_when_two_phases_cover_the_day() -> None:
    overlapping = NORDIC_STAR.model_copy(
        update={
            "phases": (*NORDIC_STAR.phases, Phase(code="class-renewal", start=date(2026, 3, 1)))
        }
    )

    mapped = map_entry(recorded("P-1001", on=DESIGN_DAY), context(projects=(overlapping,)))

    assert mapped.phase == ""


def test_a_rule_phase_beats_the_tasks_phase() -> None:
    to_yard = MappingRule(field="task", value="survey", phase="yard")

    assert map_entry(recorded("P-1001", task="survey"), context(to_yard)).phase == "yard"


def test_an_unmapped_project_gets_no_phase() -> None:
    assert map_entry(recorded("4471", task="survey"), context()).phase == ""


def test_entries_sharing_a_reference_still_take_the_phase_of_their_own_day() -> None:
    days = [DESIGN_DAY, YARD_DAY, AFTER_ALL_PHASES, DESIGN_DAY]

    mapped = map_entries([recorded("P-1001", on=day) for day in days], context())

    assert [e.phase for e in mapped] == ["design", "yard", "", "design"]


# -- cost center -------------------------------------------------------------------------


def test_the_cost_center_is_the_persons() -> None:
    assert map_entry(recorded("P-1001", person="kha"), context()).cost_center == "310"


def test_a_person_without_a_cost_center_books_to_the_projects() -> None:
    assert map_entry(recorded("P-2002", person="ana"), context()).cost_center == "500"


def test_a_rule_cost_center_beats_the_persons_and_the_projects() -> None:
    offshore = rule("P-1001", cost_center="820")

    assert map_entry(recorded("P-1001", person="kha"), context(offshore)).cost_center == "820"


# -- many entries ------------------------------------------------------------------------


def test_map_entries_keeps_the_order_it_was_given() -> None:
    entries = [recorded("P-1001"), recorded("4471"), recorded("P-2002", person="ana")]

    mapped = map_entries(entries, context())

    assert [e.id for e in mapped] == [e.id for e in entries]
    assert [e.project for e in mapped] == ["P-1001", "", "P-2002"]


def test_entries_that_differ_only_in_person_or_task_are_mapped_each_on_their_own() -> None:
    entries = [
        recorded("P-1001", person="kha", task="survey", on=YARD_DAY),
        recorded("P-1001", person="ana", task="survey", on=YARD_DAY),
        recorded("P-1001", person="ana", task="drawings", on=YARD_DAY),
    ]

    mapped = map_entries(entries, context())

    assert [(e.person, e.phase, e.cost_center) for e in mapped] == [
        ("kha", "design", "310"),
        ("ana", "design", "400"),
        ("ana", "yard", "400"),
    ]


def test_mapping_an_entry_twice_changes_nothing() -> None:
    ctx = context(rule("4471", project="P-1001"))
    once = map_entry(recorded("4471", task="survey"), ctx)

    assert map_entry(once, ctx) is once


def test_mapping_keeps_every_other_field_of_the_entry() -> None:
    entry = recorded("P-1001", notes="hull thickness gauging", billable=False)

    mapped = map_entry(entry, context())

    assert mapped.notes == entry.notes and not mapped.billable
    assert (mapped.id, mapped.external_id, mapped.work_date) == (
        entry.id,
        entry.external_id,
        entry.work_date,
    )


def test_rules_are_matched_once_per_distinct_source_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[SourceRef] = []
    apply_rules = MappingContext._apply_rules

    def counting(
        self: MappingContext, positions: list[int], source: str, ref: SourceRef
    ) -> dict[str, str]:
        tried.append(ref)
        return apply_rules(self, positions, source, ref)

    monkeypatch.setattr(MappingContext, "_apply_rules", counting)
    rules = (rule("4471", project="P-1001"), rule("4472", project="P-2002"))
    entries = [recorded(f"447{n % 2 + 1}", on=date(2026, 3, n % 28 + 1)) for n in range(1000)]

    mapped = map_entries(entries, context(*rules))

    assert len(tried) == len(set(tried)) == 2  # the two references, once each
    assert {e.project for e in mapped} == {"P-1001", "P-2002"}
