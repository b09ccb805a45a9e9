"""The demo's time generator: deterministic, exact in count, parseable, and as messy as
it says, no more."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from billsync.config.loader import check_references
from billsync.demo import REFERENCE_DAY, firm_records, firm_text, shift_months
from billsync.demo.timegen import (
    COLUMNS,
    HARVEST,
    PAYROLL,
    generate,
    generate_count,
    is_malformed,
    scaled_workspace,
    workspace_for_rows,
    write_csv,
)
from billsync.domain.canonical import Canonical, Defaults, parse_record
from billsync.domain.mapping import MappingContext

START = date(2026, 8, 1)  # Houston has Labor Day (09-07), Singapore Deepavali (11-09)
DAYS = 116


@pytest.fixture(scope="module")
def records():  # type: ignore[no-untyped-def]
    return firm_records()


@pytest.fixture(scope="module")
def rows(records):  # type: ignore[no-untyped-def]
    return list(generate(records, start=START, days=DAYS, seed=11))


@pytest.fixture(scope="module")
def context(records) -> MappingContext:  # type: ignore[no-untyped-def]
    return MappingContext.of(records["project"], records["person"], records["rule"])


def as_imported(row: dict[str, str]) -> dict[str, str]:
    """The row as its file has it: "source" names the file, it is not a column."""
    return {k: v for k, v in row.items() if k != "source"}


def parsed(row: dict[str, str]) -> Canonical:
    result = parse_record(as_imported(row), Defaults())
    assert isinstance(result, Canonical), (row, result)
    return result


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(records) -> None:  # type: ignore[no-untyped-def]
    first = list(generate(records, start=START, days=20, seed=5))
    again = list(generate(records, start=START, days=20, seed=5))
    other = list(generate(records, start=START, days=20, seed=6))
    assert first == again
    assert first != other
    assert len({r["external_id"] for r in first}) == len(first)


@pytest.mark.parametrize("n", [0, 1, 999, 4321])
def test_generate_count_gives_exactly_n_rows_deterministically(n: int) -> None:
    rows = list(generate_count(n, seed=3))
    assert len(rows) == n
    assert rows == list(generate_count(n, seed=3))


def test_generate_count_runs_the_calendar_on_past_any_window(records) -> None:  # type: ignore[no-untyped-def]
    rows = list(generate_count(30_000, seed=1, records=records, start=START))
    assert len(rows) == 30_000
    last = max(r["date"] for r in rows if not is_malformed(r))
    assert last > (START + timedelta(days=365)).isoformat()  # 50 people: well over a year


def test_every_row_parses_except_the_few_marked_malformed(rows) -> None:  # type: ignore[no-untyped-def]
    bad = [r for r in rows if is_malformed(r)]
    assert 0 < len(bad) <= len(rows) // 200
    for row in rows:
        result = parse_record(as_imported(row), Defaults())
        assert isinstance(result, list) == is_malformed(row), (row, result)
    assert {r["source"] for r in bad} == {HARVEST}  # payroll exports are clean


def test_clean_rows_map_to_the_firms_codes(records, context) -> None:  # type: ignore[no-untyped-def]
    rows = list(generate(records, start=START, days=40, seed=2, messy=False))
    projects = {p.code for p in records["project"]}
    for row in rows:
        entry = parsed(row)
        resolved = context.resolve(row["source"], entry.ref)
        assert resolved.project in projects and resolved.person, row
        assert entry.approval == "approved"
    assert not any(is_malformed(r) for r in rows)


def test_messy_rows_hold_each_kind_of_problem_a_few_percent(rows, context) -> None:  # type: ignore[no-untyped-def]
    good = [(r, parsed(r)) for r in rows if not is_malformed(r)]
    n = len(good)
    unapproved = sum(1 for _, e in good if e.approval != "approved")
    unmapped = sum(
        1
        for r, e in good
        if not (resolved := context.resolve(r["source"], e.ref)).project or not resolved.person
    )
    future = [e for _, e in good if e.work_date >= START + timedelta(days=DAYS)]
    assert 0 < unapproved < n * 0.06
    assert 0 < unmapped < n * 0.01
    assert 1 <= len(future) <= 3
    # overlapping timer entries of one person
    spans: dict[str, list[tuple[object, object]]] = {}
    for r, e in good:
        if e.start is not None and e.end is not None:
            spans.setdefault(f"{r['source']}/{r['person']}", []).append((e.start, e.end))
    overlaps = 0
    for person_spans in spans.values():
        person_spans.sort()
        overlaps += sum(
            1 for a, b in zip(person_spans, person_spans[1:], strict=False) if b[0] < a[1]
        )
    assert 0 < overlaps < n * 0.01
    # the same work in both sources: person, day and hours alike, one row each
    harvest_days = {
        (context.resolve(r["source"], e.ref).person, e.work_date, e.duration_seconds)
        for r, e in good
        if r["source"] == HARVEST
    }
    doubled = [
        r
        for r, e in good
        if r["source"] == PAYROLL
        and (context.resolve(r["source"], e.ref).person, e.work_date, e.duration_seconds)
        in harvest_days
    ]
    assert 0 < len(doubled) < n * 0.01


def test_people_work_their_sites_calendar(records, rows, context) -> None:  # type: ignore[no-untyped-def]
    sites = {p.code: p.site for p in records["person"]}
    roles = {p.code: p.role for p in records["person"]}
    worked: Counter[tuple[str, date]] = Counter()
    for row in rows:
        if is_malformed(row):
            continue
        entry = parsed(row)
        person = context.resolve(row["source"], entry.ref).person
        if person and roles[person] != "offshore-technician":
            worked[sites[person], entry.work_date] += 1
    labor_day, weekday = date(2026, 9, 7), date(2026, 9, 8)
    assert 0 < worked["houston", labor_day] < worked["houston", weekday] / 3  # a few work
    assert worked["bergen", labor_day] > 10  # not a holiday in Norway
    assert worked["singapore", date(2026, 11, 9)] < worked["singapore", date(2026, 11, 10)] / 3
    sunday = date(2026, 9, 13)
    assert worked["bergen", sunday] < worked["bergen", weekday] / 5


def test_offshore_crew_rotate_and_book_offshore_categories(rows) -> None:  # type: ignore[no-untyped-def]
    offshore = [r for r in rows if r["project"].startswith("J-6010") and not is_malformed(r)]
    categories = Counter(r["category"] or "operating" for r in offshore)
    assert {"operating", "travel", "mobilisation", "demobilisation", "weather", "standby"} <= set(
        categories
    )
    days = Counter(r["date"] for r in offshore if r["person"] == "cra")
    assert 40 <= len(days) <= 70  # 14 on, 14 off
    shifts = [parsed(r) for r in offshore if not r["category"]]
    assert all(e.duration_seconds == 12 * 3600 for e in shifts)
    assert any(e.end is not None and e.end.date() > e.work_date for e in shifts)  # nights


def test_write_csv_writes_the_import_columns(tmp_path: Path, rows) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "time.csv"
    assert write_csv(rows[:50], path) == 50
    with path.open(encoding="utf-8", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert list(back[0]) == list(COLUMNS)
    assert back == [{k: r[k] for k in COLUMNS} for r in rows[:50]]


def test_scaled_workspace_adds_valid_people_the_generator_uses() -> None:
    records = scaled_workspace(130)
    people = records["person"]
    assert len(people) == 130 and len({p.code for p in people}) == 130
    assert check_references(records) == []
    rows = list(generate_count(5000, seed=4, records=records))
    assert any(r["person"] == "cra-00002" for r in rows)
    assert len(workspace_for_rows(1_000_000)["person"]) >= 1_000_000 // 150


@pytest.mark.parametrize("as_of", [date(2024, 2, 29), date(2026, 11, 25), date(2031, 7, 1)])
def test_the_firm_moves_by_whole_months_to_any_day(as_of: date) -> None:
    records = firm_records(as_of)
    months = (as_of.year - REFERENCE_DAY.year) * 12 + as_of.month - REFERENCE_DAY.month
    p1001 = next(p for p in records["project"] if p.code == "P-1001")
    steel = next(f for f in p1001.phases if f.code == "steel")
    assert steel.start == shift_months(date(2026, 10, 1), months)
    assert steel.start.day == 1 and (steel.end + timedelta(days=1)).day == 1
    assert ("2026-10-01" in firm_text(as_of)) == (months == 0)
    milestone = next(c for c in records["contract"] if c.code == "STRAITS-NB").milestones[0]
    assert milestone.reached is not None and milestone.reached <= as_of
