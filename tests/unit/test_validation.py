"""Validation, told as the exceptions finance sees before an invoice goes out.

Unless a story says otherwise: today is Tuesday 2026-03-10. Contract NSY-2026 (EUR,
2026-01-01 to 2026-12-31, at most 16 h a day, source rates may be 2% off) covers
project P-1001 "Hull survey MV Nordic Star", whose phases are design (Q1) and yard
(Q2), with tasks survey (design) and admin (not billable). P-2002 has no contract yet.
Kha logs an approved 8 h survey day on Monday 2026-03-02 in the csv import.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billsync.domain.contracts import Contract
from billsync.domain.entries import Approval, EntryState, SourceRef, TimeEntry
from billsync.domain.findings import Finding, Severity
from billsync.domain.money import D
from billsync.domain.validation import (
    ENTRY_CHECKS,
    RateLookup,
    ValidationContext,
    check_overlaps,
    validate,
)
from billsync.domain.workspace import Phase, Project, Task

TODAY = date(2026, 3, 10)
MONDAY = date(2026, 3, 2)
OSLO = ZoneInfo("Europe/Oslo")
LONDON = ZoneInfo("Europe/London")

NSY = Contract(
    code="NSY-2026",
    client="nordic",
    currency="EUR",
    start=date(2026, 1, 1),
    end=date(2026, 12, 31),
    rate_tolerance=Decimal(2),
)
NORDIC_STAR = Project(
    code="P-1001",
    name="Hull survey MV Nordic Star",
    client="nordic",
    contract="NSY-2026",
    phases=(
        Phase(code="design", start=date(2026, 1, 1), end=date(2026, 3, 31)),
        Phase(code="yard", start=date(2026, 4, 1), end=date(2026, 6, 30)),
    ),
    tasks=(Task(code="survey", phase="design"), Task(code="admin", billable=False)),
)
RETROFIT = Project(code="P-2002", name="Scrubber retrofit", client="nordic")

_ids = itertools.count(1)


def entry(
    worked_hours: str = "8",
    on: date = MONDAY,
    *,
    person: str = "kha",
    source: str = "csv",
    start: str | None = None,
    zone: ZoneInfo = OSLO,
    **changes: Any,
) -> TimeEntry:
    """A mapped, approved, billable survey entry; ``start`` gives it clock times."""
    number = next(_ids)
    seconds = int(D(worked_hours) * 3600)
    began = None if start is None else datetime.combine(on, time.fromisoformat(start), zone)
    fields: dict[str, Any] = {
        "id": number,
        "revision": 1,
        "source": source,
        "external_id": f"A-{number}",
        "ref": SourceRef(person=person, project="4471", task="Survey"),
        "work_date": on,
        "duration_seconds": seconds,
        "timezone": zone.key,
        "start": began,
        "end": None if began is None else began + timedelta(seconds=seconds),
        "person": person,
        "project": "P-1001",
        "task": "survey",
        "phase": "design",
    }
    fields.update(changes)
    return TimeEntry(**fields)


def context(**changes: Any) -> ValidationContext:
    terms: dict[str, Any] = {
        "today": TODAY,
        "contracts_by_project": {"P-1001": NSY},
        "projects": {"P-1001": NORDIC_STAR, "P-2002": RETROFIT},
        "locked_until": None,
        "billed": {},
    }
    terms.update(changes)
    return ValidationContext(**terms)


def found(entries: Sequence[TimeEntry], code: str, **changes: Any) -> list[Finding]:
    return [f for f in validate(entries, context(**changes)) if f.code == code]


def only(entries: Sequence[TimeEntry], code: str, **changes: Any) -> Finding:
    (finding,) = found(entries, code, **changes)
    return finding


def test_an_approved_mapped_day_inside_contract_and_phase_raises_nothing() -> None:
    assert validate([entry()], context()) == []


# -- mapping -----------------------------------------------------------------------------


def test_time_on_a_project_nobody_mapped_is_held_with_what_the_source_called_it() -> None:
    unknown = entry(source="harvest", project="", external_id="H-9")

    finding = only([unknown], "entry.unmapped")

    assert finding.blocking and finding.subject == f"entry:{unknown.id}"
    assert 'project (the source calls it "4471")' in finding.message
    assert "mapping rule" in finding.message and "next run will pick it up" in finding.message
    assert "H-9 from harvest (kha, 2026-03-02)" in finding.message
    assert "no person" not in finding.message


def test_time_from_a_person_nobody_mapped_is_held_naming_the_source_person() -> None:
    stranger = entry(person="", ref=SourceRef(person="k.haugen", project="P-1001"))

    finding = only([stranger], "entry.unmapped")

    assert 'no person (the source calls it "k.haugen")' in finding.message
    assert finding.entry_ids == (stranger.id,)


def test_an_unmapped_project_is_not_also_reported_as_lacking_a_contract() -> None:
    codes = {f.code for f in validate([entry(project="", phase="")], context())}

    assert codes == {"entry.unmapped"}


# -- approval ----------------------------------------------------------------------------


@pytest.mark.parametrize("approval", [Approval.DRAFT, Approval.SUBMITTED, Approval.REJECTED])
def test_only_approved_time_is_billed(approval: Approval) -> None:
    finding = only([entry(approval=approval)], "entry.not_approved")

    assert finding.blocking
    assert f"is {approval}, not approved" in finding.message
    assert finding.hours == Decimal("8.00") and finding.contract == "NSY-2026"


# -- contract and phase ------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(2025, 12, 31), date(2027, 1, 1)])
def test_work_outside_the_contract_dates_is_held(day: date) -> None:
    finding = only([entry(on=day, phase="")], "entry.outside_contract", today=date(2027, 6, 1))

    assert finding.blocking and finding.contract == "NSY-2026"
    assert "2026-01-01 to 2026-12-31" in finding.message


@pytest.mark.parametrize("day", [date(2026, 1, 1), date(2026, 12, 31)])
def test_the_first_and_last_contract_days_are_inside_it(day: date) -> None:
    assert found([entry(on=day, phase="")], "entry.outside_contract", today=day) == []


def test_a_project_without_a_contract_cannot_be_billed() -> None:
    finding = only([entry(project="P-2002", phase="", task="")], "entry.no_contract")

    assert finding.blocking and "P-2002, which has no contract" in finding.message


def test_work_after_its_phase_ended_is_held() -> None:
    late = entry(on=date(2026, 4, 2), phase="design")

    finding = only([late], "entry.outside_phase", today=date(2026, 4, 30))

    assert finding.blocking
    assert "phase design of P-1001 runs 2026-01-01 to 2026-03-31" in finding.message


def test_a_phase_the_project_does_not_have_is_held() -> None:
    finding = only([entry(phase="commissioning")], "entry.outside_phase")

    assert "P-1001 has no phase commissioning" in finding.message


def test_an_entry_without_a_phase_is_not_checked_against_phase_dates() -> None:
    assert found([entry(phase="")], "entry.outside_phase") == []


# -- billable ----------------------------------------------------------------------------


def test_time_on_a_non_billable_task_is_a_warning() -> None:
    finding = only([entry(task="admin", phase="")], "entry.non_billable_task")

    assert finding.severity is Severity.WARNING
    assert "task admin, which project P-1001 marks non-billable" in finding.message


def test_a_non_billable_task_is_named_even_when_the_entry_is_already_non_billable() -> None:
    finding = only([entry(task="admin", phase="", billable=False)], "entry.non_billable_task")

    assert "task admin" in finding.message


def test_time_the_source_marks_non_billable_is_a_warning() -> None:
    finding = only([entry(billable=False)], "entry.non_billable_task")

    assert finding.severity is Severity.WARNING
    assert "marked non-billable in csv" in finding.message


# -- a person's day ----------------------------------------------------------------------


def test_seventeen_hours_in_one_day_is_implausible_and_holds_every_entry_of_it() -> None:
    morning, evening = entry("9"), entry("8", source="harvest")

    finding = only([morning, evening], "entry.implausible_day")

    assert finding.blocking
    assert finding.subject == "person-day:kha/2026-03-02"
    assert finding.entry_ids == (morning.id, evening.id)
    assert finding.hours == Decimal("17.00") and finding.contract == "NSY-2026"
    assert "more than the 16 h a day contract NSY-2026 accepts" in finding.message


def test_exactly_the_daily_maximum_is_plausible() -> None:
    assert found([entry("8"), entry("8")], "entry.implausible_day") == []


def test_the_strictest_contract_of_the_day_sets_the_limit() -> None:
    strict = NSY.model_copy(update={"code": "RTF-2026", "max_daily_hours": Decimal(12)})
    contracts = {"P-1001": NSY, "P-2002": strict}
    day = [entry("7"), entry("6", project="P-2002", task="", phase="")]

    finding = only(day, "entry.implausible_day", contracts_by_project=contracts)

    assert finding.contract == "RTF-2026" and "12 h a day" in finding.message


def test_a_day_at_its_own_contracts_maximum_is_plausible_beside_a_stricter_contract() -> None:
    strict = NSY.model_copy(update={"code": "RTF-2026", "max_daily_hours": Decimal(12)})
    contracts = {"P-1001": NSY, "P-2002": strict}

    assert found([entry("16")], "entry.implausible_day", contracts_by_project=contracts) == []


def test_two_people_on_the_same_day_are_not_added_together() -> None:
    assert found([entry("9"), entry("9", person="ana")], "entry.implausible_day") == []


def test_deleted_and_rejected_time_does_not_make_a_day_implausible() -> None:
    day = [entry("9"), entry("9", deleted=True), entry("9", approval=Approval.REJECTED)]

    assert found(day, "entry.implausible_day") == []


# -- overlapping times -------------------------------------------------------------------


def test_entries_of_one_person_that_overlap_in_time_are_held() -> None:
    survey = entry("4", start="08:00")
    meeting = entry("2", start="11:00", source="harvest")

    finding = only([meeting, survey], "entry.overlap")

    assert finding.blocking and finding.subject == f"entry:{meeting.id}"
    assert finding.entry_ids == (survey.id, meeting.id)
    assert finding.hours == Decimal("1.00")
    assert "2026-03-02T08:00+01:00 to 12:00" in finding.message


def test_one_entry_ending_as_the_next_starts_is_no_overlap() -> None:
    assert found([entry("4", start="08:00"), entry("4", start="12:00")], "entry.overlap") == []


def test_overlap_is_judged_in_real_time_across_time_zones() -> None:
    oslo = entry("2", start="08:00", zone=OSLO)  # 07:00-09:00 UTC
    london = entry("1", start="07:30", zone=LONDON)  # 07:30-08:30 UTC

    assert only([oslo, london], "entry.overlap").entry_ids == (oslo.id, london.id)


def test_different_people_may_work_at_the_same_time() -> None:
    together = [entry("4", start="08:00"), entry("4", start="08:00", person="ana")]

    assert found(together, "entry.overlap") == []


def test_entries_without_clock_times_are_not_checked_for_overlap() -> None:
    assert found([entry("4"), entry("4")], "entry.overlap") == []


def test_every_entry_inside_a_long_one_is_reported_against_it() -> None:
    shift = entry("9", start="08:00")
    first, second = entry("1", start="09:00"), entry("1", start="11:00")

    findings = found([second, shift, first], "entry.overlap")

    assert [f.entry_ids for f in findings] == [(shift.id, first.id), (shift.id, second.id)]


def test_a_chain_of_entries_is_reported_link_by_link() -> None:
    first, second, third = (
        entry("2", start="08:00"),
        entry("3", start="09:00"),
        entry("2", start="11:00"),
    )

    findings = found([third, first, second], "entry.overlap")

    assert [f.entry_ids for f in findings] == [(first.id, second.id), (second.id, third.id)]


def test_a_pile_of_overlapping_entries_is_reported_once_per_entry_not_per_pair() -> None:
    pile = [entry("1", start="08:00") for _ in range(2000)]

    assert len(check_overlaps(pile, context())) == len(pile) - 1


# -- the same work twice -----------------------------------------------------------------


def test_the_same_day_recorded_in_two_tools_is_a_warning() -> None:
    in_csv, in_harvest = entry("7.5"), entry("7.5", source="harvest", external_id="H-9")

    finding = only([in_harvest, in_csv], "entry.duplicate_source")

    assert finding.severity is Severity.WARNING
    assert finding.subject == "person-day:kha/2026-03-02"
    assert finding.entry_ids == (in_csv.id, in_harvest.id)
    assert f"in both csv ({in_csv.external_id}) and harvest (H-9)" in finding.message


def test_two_equal_entries_from_one_tool_are_not_a_duplicate_source() -> None:
    assert found([entry("2"), entry("2")], "entry.duplicate_source") == []


def test_different_durations_from_two_tools_are_not_a_duplicate() -> None:
    assert found([entry("7.5"), entry("7", source="harvest")], "entry.duplicate_source") == []


def test_the_same_hours_on_two_projects_are_not_a_duplicate() -> None:
    other = entry("4", source="harvest", project="P-2002", task="", phase="")

    assert found([entry("4"), other], "entry.duplicate_source") == []


# -- dates -------------------------------------------------------------------------------


def test_time_dated_tomorrow_is_held() -> None:
    finding = only([entry(on=TODAY + timedelta(days=1))], "entry.future")

    assert finding.blocking and "after today (2026-03-10)" in finding.message


def test_time_dated_today_is_fine() -> None:
    assert found([entry(on=TODAY)], "entry.future") == []


@pytest.mark.parametrize("day", [date(2026, 2, 27), date(2026, 2, 28)])
def test_unbilled_time_in_a_locked_period_is_held(day: date) -> None:
    late = entry(on=day)

    finding = only([late], "entry.locked_period", locked_until=date(2026, 2, 28))

    assert finding.blocking and "closed up to 2026-02-28" in finding.message


def test_billed_time_in_a_locked_period_is_where_it_belongs() -> None:
    billed = entry(on=date(2026, 2, 27))

    found_ = found(
        [billed], "entry.locked_period", locked_until=date(2026, 2, 28), billed={billed.id: 1}
    )

    assert found_ == []


def test_time_after_the_lock_or_without_a_lock_is_not_locked() -> None:
    assert (
        found([entry(on=date(2026, 3, 1))], "entry.locked_period", locked_until=date(2026, 2, 28))
        == []
    )
    assert found([entry(on=date(2026, 2, 1))], "entry.locked_period") == []


# -- after billing -----------------------------------------------------------------------


def test_an_edit_at_the_source_after_billing_proposes_an_adjustment() -> None:
    edited = entry(revision=3)

    finding = only([edited], "entry.changed_after_billing", billed={edited.id: 2})

    assert finding.blocking and finding.contract == "NSY-2026"
    assert "now revision 3) after revision 2 was invoiced" in finding.message
    assert "invoice stays as it is" in finding.message
    assert "adjustment line" in finding.message and "credit note" in finding.message


def test_the_billed_revision_itself_is_no_change() -> None:
    billed = entry(revision=2)

    assert found([billed], "entry.changed_after_billing", billed={billed.id: 2}) == []


def test_a_deletion_at_the_source_after_billing_proposes_a_credit_note() -> None:
    gone = entry(revision=2, deleted=True)

    finding = only([gone], "entry.changed_after_billing", billed={gone.id: 2})

    assert "was deleted in csv after revision 2 was invoiced" in finding.message
    assert "credit note" in finding.message


def test_an_unbilled_deletion_raises_nothing_at_all() -> None:
    gone = entry(deleted=True, approval=Approval.DRAFT, on=TODAY + timedelta(days=3))

    assert validate([gone], context()) == []


def test_a_deleted_billed_entry_is_only_reported_as_changed() -> None:
    gone = entry(deleted=True, revision=2, approval=Approval.DRAFT, project="")

    codes = [f.code for f in validate([gone], context(billed={gone.id: 1}))]

    assert codes == ["entry.changed_after_billing"]


# -- source rates ------------------------------------------------------------------------


def contract_rate(rate: str | None) -> RateLookup:
    return lambda _: None if rate is None else D(rate)


@pytest.mark.parametrize("source_rate", ["150.00", "140.00"])
def test_a_source_rate_beyond_the_tolerance_is_a_warning(source_rate: str) -> None:
    priced = entry(source_rate=D(source_rate))

    finding = only([priced], "entry.rate_mismatch", rate_lookup=contract_rate("145.00"))

    assert finding.severity is Severity.WARNING and finding.contract == "NSY-2026"
    assert f"carries rate {source_rate} from csv" in finding.message
    assert "rates it 145.00 EUR" in finding.message and "tolerance 2%" in finding.message


@pytest.mark.parametrize("source_rate", ["145.00", "147.90", "142.10", "146"])
def test_a_source_rate_within_the_tolerance_is_fine(source_rate: str) -> None:
    priced = entry(source_rate=D(source_rate))

    assert found([priced], "entry.rate_mismatch", rate_lookup=contract_rate("145.00")) == []


def test_rates_are_not_compared_without_a_source_rate_a_contract_rate_or_a_lookup() -> None:
    assert found([entry()], "entry.rate_mismatch", rate_lookup=contract_rate("145")) == []
    assert found([entry(source_rate=D("99"))], "entry.rate_mismatch") == []
    priced = entry(source_rate=D("99"))
    assert found([priced], "entry.rate_mismatch", rate_lookup=contract_rate(None)) == []


# -- what is checked at all --------------------------------------------------------------


def test_written_off_time_is_never_checked() -> None:
    written_off = entry(
        state=EntryState.WRITTEN_OFF, approval=Approval.DRAFT, revision=2, project=""
    )

    assert validate([written_off], context(billed={written_off.id: 1})) == []


def test_held_time_is_still_checked() -> None:
    held = entry(state=EntryState.HELD, approval=Approval.SUBMITTED)

    assert [f.code for f in validate([held], context())] == ["entry.not_approved"]


def test_only_the_newest_revision_of_an_entry_counts() -> None:
    submitted = entry(approval=Approval.SUBMITTED, start="08:00")
    approved = entry(id=submitted.id, revision=2, start="08:00")

    assert validate([approved, submitted], context()) == []


def test_every_entry_finding_names_the_source_external_id_person_and_date() -> None:
    messy = entry(
        on=date(2026, 4, 2),
        approval=Approval.SUBMITTED,
        task="admin",
        phase="design",
        source_rate=D("90"),
        revision=2,
    )
    ctx = context(
        today=date(2026, 4, 1), locked_until=date(2026, 4, 30), rate_lookup=contract_rate("145")
    )
    per_entry = [check(messy, ctx) for check in ENTRY_CHECKS]
    per_entry.append(only([messy], "entry.changed_after_billing", billed={messy.id: 1}))

    findings = [f for f in per_entry if f is not None]

    assert len(findings) == 7
    for finding in findings:
        assert f"{messy.external_id} from csv (kha, 2026-04-02)" in finding.message, finding
        assert finding.details["external_id"] == messy.external_id


# -- order -------------------------------------------------------------------------------

MESSY_DAY = [
    entry("9", start="07:00"),
    entry("9", start="15:00", source="harvest", approval=Approval.SUBMITTED),
    entry("9", start="15:00", person="ana", source="harvest"),
    entry("9", person="ana", source="csv", on=TODAY + timedelta(days=1)),
    entry("2", project="", phase=""),
    entry("2", task="admin", on=date(2026, 2, 20)),
]


def test_findings_are_sorted_by_code_then_subject() -> None:
    findings = validate(MESSY_DAY, context(locked_until=date(2026, 2, 28)))

    assert [(f.code, f.subject) for f in findings] == sorted((f.code, f.subject) for f in findings)
    assert {f.code for f in findings} >= {
        "entry.duplicate_source",
        "entry.future",
        "entry.implausible_day",
        "entry.locked_period",
        "entry.non_billable_task",
        "entry.not_approved",
        "entry.overlap",
        "entry.unmapped",
    }


@settings(max_examples=50, deadline=None)
@given(st.permutations(MESSY_DAY))
def test_findings_do_not_depend_on_the_order_entries_arrive_in(
    shuffled: list[TimeEntry],
) -> None:
    ctx = context(locked_until=date(2026, 2, 28))

    assert validate(shuffled, ctx) == validate(MESSY_DAY, ctx)
