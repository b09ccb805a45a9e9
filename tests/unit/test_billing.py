"""Which work goes on which invoice, and the small rules around it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billsync.domain.billing import (
    billable_on_task,
    due_invoices,
    overtime_context,
    threshold_finding,
)
from billsync.domain.contracts import Contract, Unit
from billsync.domain.entries import Category, SourceRef, TimeEntry
from billsync.domain.rated import Portion, Price, Worked
from billsync.domain.workspace import Project

CONTRACT = Contract(code="C", client="c", currency="EUR", start=date(2026, 1, 1))


def portion(entry_id: int, day: date, hours: int = 8) -> Portion:
    return Portion(
        entry_id,
        1,
        day,
        hours * 3600,
        Decimal(hours),
        Decimal(hours * 100),
        Worked("kha", "na", "P", "", "", Category.OPERATING),
        Price(Unit.HOUR, Decimal(100), Decimal(1), "", Decimal("100.00")),
    )


def entry(entry_id: int, day: date, task: str = "", person: str = "kha") -> TimeEntry:
    return TimeEntry(
        entry_id,
        1,
        "csv",
        f"E-{entry_id}",
        SourceRef(person, "P"),
        day,
        3600,
        "UTC",
        person=person,
        project="P",
        task=task,
    )


def test_a_month_is_due_only_once_it_has_ended() -> None:
    march, april = portion(1, date(2026, 3, 31)), portion(2, date(2026, 4, 1))
    due = due_invoices(
        CONTRACT, [march, april], today=date(2026, 4, 1), ready_projects=(), invoiced_milestones=()
    )
    assert [(d.kind, d.period, [p.entry_id for p in d.portions]) for d in due] == [
        ("period", (date(2026, 3, 1), date(2026, 3, 31)), [1])
    ]


def test_unbilled_work_beyond_the_threshold_is_a_warning_naming_the_amount() -> None:
    contract = Contract.model_validate({**CONTRACT.model_dump(), "threshold": {"hours": 10}})
    assert threshold_finding(contract, [portion(1, date(2026, 3, 2))]) is None
    found = threshold_finding(
        contract, [portion(1, date(2026, 3, 2)), portion(2, date(2026, 3, 3))]
    )
    assert found is not None and found.code == "unbilled.threshold" and not found.notice
    assert found.amount == Decimal(1600) and "16.00 h / 1600.00 EUR" in found.message


def test_time_on_a_non_billable_task_is_not_billable() -> None:
    project = Project.model_validate(
        {
            "code": "P",
            "name": "p",
            "client": "c",
            "tasks": [{"code": "survey"}, {"code": "admin", "billable": False}],
        }
    )
    assert billable_on_task(entry(1, date(2026, 3, 2), "survey"), project).billable
    assert not billable_on_task(entry(2, date(2026, 3, 2), "admin"), project).billable


def test_overtime_counts_invoiced_time_of_the_same_person_and_week_only() -> None:
    invoiced = [
        entry(1, date(2026, 3, 2)),
        entry(2, date(2026, 3, 9)),
        entry(3, date(2026, 3, 2), person="ola"),
    ]
    late = [entry(4, date(2026, 3, 6))]  # same ISO week as 2 March
    assert [e.id for e in overtime_context(invoiced, late)] == [1]
