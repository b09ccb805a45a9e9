"""Time import: raw records kept, idempotent by (source, external id), revisions
ordered, bad files rejected whole or quarantined line by line."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from billsync.config.loader import load
from billsync.domain import canonical
from billsync.domain.canonical import Defaults, FieldError, parse_record
from billsync.errors import UserError
from billsync.pipeline import file_chunks, files
from billsync.pipeline.file_chunks import ImportRejected
from billsync.pipeline.files import import_file
from billsync.pipeline.workspace import apply
from billsync.store import audit
from billsync.store import entries as entries_store
from billsync.store.db import Store
from billsync.store.entries import load_entries
from billsync.store.incoming import UNMAPPED, Mapper
from billsync.store.tables import import_batches, quarantine, raw_records, time_entries
from support.producers import chunks_then_death, chunks_then_error, second_processes

FIRM = Path(__file__).parent.parent / "fixtures" / "firm.yaml"
HEADER = "external_id,person,project,task,date,hours,timezone,approval,revision\n"
DEFAULTS = Defaults(timezone=None)


def run(store: Store, path: Path, **kw: Any) -> Any:
    return import_file(store, path, source="csv", actor="tester", defaults=DEFAULTS, **kw)


def count(store: Store, table: Any) -> int:
    with store.reading() as tx:
        return int(
            tx.conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.workspace_id == tx.workspace_id)
            ).scalar_one()
        )


def test_each_line_becomes_an_entry_with_its_raw_record(store: Store, write: Any) -> None:
    path = write(
        "t.csv",
        HEADER + "A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved,1\n"
        "A-2,kha,P-1001,survey,2026-03-03,8,Europe/Oslo,submitted,1\n",
    )
    result = run(store, path)
    assert (result.counts.new, result.counts.changed) == (2, 0)
    with store.reading() as tx:
        entries = {e.external_id: e for e in load_entries(tx)}
        raw = tx.conn.execute(
            select(raw_records.c.payload, raw_records.c.sha256).where(
                raw_records.c.external_id == "A-1", raw_records.c.workspace_id == tx.workspace_id
            )
        ).one()
    assert entries["A-1"].duration_seconds == 27000
    assert entries["A-1"].approval == "approved" and entries["A-2"].approval == "submitted"
    assert raw.payload == "A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved,1"
    assert len(raw.sha256) == 64


def test_an_import_leaves_no_shared_values_behind(store: Store, write: Any) -> None:
    # What the lines shared (times, references) is of no use after the file, and at a
    # million lines it is tens of megabytes the run after the import needs.
    path = write(
        "t.csv",
        HEADER + "A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved,1\n"
        "A-2,kha,P-1001,survey,2026-03-02,1,Europe/Oslo,approved,1\n",
    )
    line = {"external_id": "X", "person": "kha", "project": "P-1001", "date": "2026-03-02"}
    parse_record({**line, "hours": "1", "timezone": "UTC"}, DEFAULTS)
    assert canonical._ref.cache_info().currsize > 0
    run(store, path)
    assert canonical._ref.cache_info().currsize == 0
    assert canonical._seconds.cache_info().currsize == 0


def test_importing_the_same_file_again_changes_nothing(store: Store, write: Any) -> None:
    path = write("t.csv", HEADER + "A-1,kha,P-1001,survey,2026-03-02,7.5,UTC,approved,1\n")
    run(store, path)
    again = run(store, path)
    assert (again.counts.new, again.counts.changed, again.counts.unchanged) == (0, 0, 1)
    assert count(store, raw_records) == 1 and count(store, time_entries) == 1


def test_a_changed_record_becomes_the_next_revision(store: Store, write: Any) -> None:
    run(store, write("a.csv", HEADER + "A-1,kha,P-1001,survey,2026-03-02,7.5,UTC,approved,1\n"))
    result = run(
        store, write("b.csv", HEADER + "A-1,kha,P-1001,survey,2026-03-02,9,UTC,approved,2\n")
    )
    assert result.counts.changed == 1
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
        story = [e for e in audit.events(tx) if e["subject"] == f"entry:{entry.id}"]
    assert (entry.revision, entry.duration_seconds) == (2, 32400)
    assert story[0]["before"] == {"duration_seconds": 27000}
    assert story[0]["after"] == {"revision": 2, "duration_seconds": 32400}
    assert count(store, raw_records) == 2  # both revisions kept verbatim


def test_an_older_revision_never_overwrites_a_newer_one(store: Store, write: Any) -> None:
    run(store, write("new.csv", HEADER + "A-1,kha,P-1001,survey,2026-03-02,9,UTC,approved,5\n"))
    late = run(
        store, write("old.csv", HEADER + "A-1,kha,P-1001,survey,2026-03-02,2,UTC,approved,3\n")
    )
    assert late.counts.stale == 1
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert (entry.revision, entry.duration_seconds) == (1, 32400)


def test_within_one_file_the_newest_revision_wins_whatever_the_order(
    store: Store, write: Any
) -> None:
    run(
        store,
        write(
            "t.csv",
            HEADER + "A-1,kha,P-1001,,2026-03-02,4,UTC,approved,2\n"
            "A-1,kha,P-1001,,2026-03-02,3,UTC,approved,1\n",
        ),
    )
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert entry.duration_seconds == 4 * 3600


def test_a_file_with_bad_lines_is_rejected_whole_listing_every_bad_line(
    store: Store, write: Any
) -> None:
    path = write(
        "t.csv",
        HEADER + "A-1,kha,P-1001,,2026-03-02,7.5,UTC,approved,1\n"
        "A-2,kha,P-1001,,2026-02-30,7.5,UTC,approved,1\n"
        "A-3,,P-1001,,2026-03-02,lots,Mars/Base,maybe,1\n",
    )
    with pytest.raises(ImportRejected) as caught:
        run(store, path)
    message = str(caught.value)
    assert "t.csv:3: date: '2026-02-30' is not a date (YYYY-MM-DD)" in message
    assert "t.csv:4: person: is required" in message
    assert "timezone: 'Mars/Base' is not an IANA time zone" in message
    assert "approval: 'maybe' is not one of draft, submitted, approved, rejected" in message
    assert count(store, time_entries) == 0 and count(store, raw_records) == 0
    with store.reading() as tx:
        assert audit.events(tx) == []


def test_partial_imports_good_lines_and_quarantines_bad_ones(store: Store, write: Any) -> None:
    path = write(
        "t.jsonl",
        '{"external_id":"A-1","person":"kha","project":"P-1001",'
        '"date":"2026-03-02","hours":7.5,"timezone":"UTC"}\n'
        '{"external_id":"A-2","person":"kha","project":"P-1001","date":"2026-03-02"}\n'
        "not json\n",
    )
    result = run(store, path, partial=True)
    assert result.counts.new == 1
    assert [(b.line_no, b.errors[0].field) for b in result.quarantined] == [
        (2, "hours"),
        (3, "(line)"),
    ]
    assert count(store, quarantine) == 2 and count(store, time_entries) == 1


def test_a_nul_character_is_a_bad_field_on_every_backend(store: Store, write: Any) -> None:
    # SQLite would store one and PostgreSQL refuse it: neither happens, the line is bad.
    csv = write("t.csv", HEADER + 'A-1,kha,P-1001,,2026-03-02,2,UTC,approved,1\n'
                'A-2,k\x00ha,P-1001,,2026-03-02,2,UTC,approved,1\n')  # fmt: skip
    jsonl = write(
        "t.jsonl",
        '{"external_id":"B-1","person":"kha","project":"P-1001","date":"2026-03-02",'
        '"hours":"1","timezone":"UTC","notes":"cut\\u0000here"}\n',
    )
    with pytest.raises(ImportRejected) as caught:
        run(store, jsonl)
    assert "t.jsonl:1: notes: contains a NUL character" in str(caught.value)
    result = run(store, csv, partial=True)
    assert result.counts.new == 1
    assert [(b.line_no, b.describe()) for b in result.quarantined] == [
        (3, "person: contains a NUL character (U+0000), which no field may hold")
    ]
    with store.reading() as tx:
        kept = tx.conn.execute(
            select(quarantine.c.payload).where(quarantine.c.workspace_id == tx.workspace_id)
        ).scalar_one()
    assert kept == "A-2,k\ufffdha,P-1001,,2026-03-02,2,UTC,approved,1"
    assert count(store, time_entries) == count(store, raw_records) == 1


def test_a_record_with_what_no_text_holds_is_refused_naming_the_field() -> None:
    # A connector's record, decoded from JSON as a JSON line is: its escapes can give both.
    record = {"external_id": "C-1", "person": "kha", "project": "P-1001", "hours": "1",
              "date": "2026-03-02", "timezone": "UTC", "task": "sur\x00vey",
              "notes": "half \ud83d of a ship 🚢"}  # fmt: skip
    assert parse_record(record, DEFAULTS) == [
        canonical.FieldError("task", canonical.NUL),
        canonical.FieldError("notes", canonical.SURROGATE),
    ]
    whole = {**record, "task": "survey", "notes": "a whole 🚢"}
    assert not isinstance(parse_record(whole, DEFAULTS), list)


def test_a_json_line_with_a_lone_surrogate_is_a_bad_line(store: Store, write: Any) -> None:
    path = write(
        "t.jsonl",
        '{"external_id":"B-1","person":"kha","project":"P-1001","date":"2026-03-02",'
        '"hours":"1","timezone":"UTC","notes":"cut \\udc00 here"}\n'
        '{"external_id":"B-2","person":"kha","project":"P-1001","date":"2026-03-02",'
        '"hours":"1","timezone":"UTC","notes":"paired \\ud83d\\udea2"}\n',
    )
    result = run(store, path, partial=True)
    assert [(b.line_no, b.errors[0].reason) for b in result.quarantined] == [
        (1, canonical.SURROGATE)
    ]
    with store.reading() as tx:
        (kept,) = load_entries(tx)
    assert kept.notes == "paired 🚢" and count(store, quarantine) == 1


def test_ids_and_names_longer_than_the_store_keeps_are_bad_fields(store: Store, write: Any) -> None:
    # 200 characters are stored on every backend; 201 would be refused by PostgreSQL.
    widest, wider = "P" * canonical.MAX_TEXT, "P" * (canonical.MAX_TEXT + 1)
    path = write(
        "t.csv",
        HEADER + f"A-1,kha,{widest},{widest},2026-03-02,2,UTC,approved,1\n"
        f"A-2,kha,{wider},,2026-03-02,2,UTC,approved,1\n"
        f"{'A' * 201},kha,P-1001,{wider},2026-03-02,2,UTC,approved,1\n",
    )
    result = run(store, path, partial=True)
    assert [(b.line_no, b.describe()) for b in result.quarantined] == [
        (3, "project: is 201 characters long; at most 200"),
        (4, "external_id: is 201 characters long; at most 200; "
            "task: is 201 characters long; at most 200"),
    ]  # fmt: skip
    with store.reading() as tx:
        (stored,) = load_entries(tx)
    assert stored.ref.project == stored.ref.task == widest


def test_a_source_name_longer_than_a_code_is_refused_before_anything_is_written(
    store: Store, write: Any
) -> None:
    path = write("t.csv", HEADER + "A-1,kha,P-1001,,2026-03-02,2,UTC,approved,1\n")
    with pytest.raises(UserError, match="a source's name has 1 to 64 characters"):
        import_file(store, path, source="s" * 65, actor="t", defaults=DEFAULTS)
    assert count(store, import_batches) == count(store, raw_records) == 0


def test_start_and_end_give_the_local_day_and_duration(store: Store, write: Any) -> None:
    # 23:00-01:30 in Houston: the local day is the 2nd though UTC says the 3rd.
    path = write(
        "t.csv",
        "external_id,person,project,start,end,timezone\n"
        "A-1,jdo,P-1001,2026-03-02T23:00,2026-03-03T01:30,America/Chicago\n",
    )
    run(store, path)
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert str(entry.work_date) == "2026-03-02" and entry.duration_seconds == 9000
    # The same instant comes back, on SQLite too: 23:00 in Houston is 05:00 UTC.
    assert entry.start is not None and entry.start.isoformat() == "2026-03-03T05:00:00+00:00"


def test_a_newer_revision_with_the_same_work_still_keeps_older_ones_out(
    store: Store, write: Any
) -> None:
    run(store, write("a.csv", HEADER + "R-1,kha,P-1001,,2026-03-02,2,UTC,approved,3\n"))
    run(store, write("b.csv", HEADER + "R-1,kha,P-1001,,2026-03-02,2,UTC,approved,5\n"))
    late = run(store, write("c.csv", HEADER + "R-1,kha,P-1001,,2026-03-02,4,UTC,approved,4\n"))
    assert late.counts.stale == 1
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert entry.duration_seconds == 2 * 3600


def test_without_revisions_what_arrives_later_wins_and_counters_may_follow(
    store: Store, write: Any
) -> None:
    bare = "external_id,person,project,date,hours,timezone\n"
    run(store, write("a.csv", bare + "R-1,kha,P-1001,2026-03-02,2,UTC\n"))
    run(store, write("b.csv", bare + "R-1,kha,P-1001,2026-03-02,3,UTC\n"))
    counted = run(store, write("c.csv", HEADER + "R-1,kha,P-1001,,2026-03-02,5,UTC,approved,1\n"))
    assert counted.counts.changed == 1
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert (entry.revision, entry.duration_seconds) == (3, 5 * 3600)


def test_a_night_across_the_clock_change_counts_the_time_that_passed(
    store: Store, write: Any
) -> None:
    # Europe/Oslo springs forward at 02:00 on 2026-03-29: 01:00-04:00 is 2 h, not 3.
    path = write(
        "t.csv",
        "external_id,person,project,start,end,timezone\n"
        "A-1,kha,P-1001,2026-03-29T01:00,2026-03-29T04:00,Europe/Oslo\n",
    )
    run(store, path)
    with store.reading() as tx:
        (entry,) = list(load_entries(tx))
    assert entry.duration_seconds == 2 * 3600


def test_a_file_that_is_not_utf8_is_rejected_cleanly(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "A-1,Søren,P-1001,,2026-03-02,2,UTC,approved,1\n").encode("latin-1"))
    with pytest.raises(ImportRejected, match="not UTF-8"):
        run(store, path)


def test_an_unknown_column_is_reported_once_for_the_whole_file(store: Store, write: Any) -> None:
    path = write(
        "t.csv",
        "external_id,person,project,date,hours,timezone,colour\n"
        "A-1,kha,P-1001,2026-03-02,2,UTC,red\nA-2,kha,P-1001,2026-03-03,2,UTC,blue\n",
    )
    with pytest.raises(ImportRejected) as caught:
        run(store, path, partial=True)
    assert caught.value.bad[0].line_no == 1 and len(caught.value.bad) == 1
    assert "colour: unknown column" in str(caught.value)
    assert count(store, time_entries) == 0


# A file with good lines, bad ones of every kind a reader finds, two lines of one id
# and revision that disagree, and a revision that comes late; and the same entries
# changed, for a second import (changed, unchanged and stale lines, revision events).
MIXED_CSV = HEADER + (
    "A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved,2\n"
    "A-2,kha,P-1001,survey,2026-02-30,8,Europe/Oslo,approved,1\n"
    "A-3,,P-1001,,2026-03-02,lots,Mars/Base,maybe,1\n"
    'A-4,kha,"P-1001",survey,2026-03-03,1,UTC,approved,1,extra cell\n'
    "A-5,kha,P-1001,survey,2026-03-04,2,UTC,approved,1\n"
    "A-5,kha,P-1001,survey,2026-03-04,3,UTC,approved,1\n"
    "A-1,kha,P-1001,survey,2026-03-02,6,Europe/Oslo,approved,1\n"
    'A-6,jdo,P-1001,"design,\nreview",2026-03-05,4,UTC,submitted,\n'
)
CHANGED_CSV = HEADER + (
    "A-1,kha,P-1001,survey,2026-03-02,7.5,Europe/Oslo,approved,3\n"
    "A-6,jdo,P-1001,review,2026-03-05,5,UTC,approved,\n"
    "A-7,kha,P-1001,survey,2026-03-06,1,UTC,approved,1\n"
    "A-1,kha,P-1001,survey,2026-03-02,9,Europe/Oslo,approved,1\n"
)
MIXED_JSONL = (
    '{"external_id": "J-1", "person": "kha", "project": "P-1001", "date": "2026-03-02",'
    ' "hours": 7.5, "timezone": "UTC", "revision": 2}\n'
    "\n"
    "not json\n"
    "[1, 2]\n"
    '{"external_id": "J-2", "person": "kha", "project": "P-1001", "date": "2026-03-02"}\n'
    '{"external_id": "J-3", "person": "kha", "project": "P-1001", "date": "2026-03-03",'
    ' "minutes": 90, "timezone": "UTC", "notes": null, "billable": false}\n'
)
CHANGED_JSONL = (
    '{"external_id": "J-1", "person": "kha", "project": "P-1001", "date": "2026-03-02",'
    ' "hours": 8, "timezone": "UTC", "revision": 3}\n'
    '{"external_id": "J-3", "person": "kha", "project": "P-1001", "date": "2026-03-03",'
    ' "minutes": 90, "timezone": "UTC", "billable": false}\n'
)
HERE, THERE = {"second_process_from": 10**12}, {"second_process_from": 0}


@pytest.mark.parametrize("where", [HERE, THERE], ids=["here", "second process"])
def test_two_lines_of_one_id_and_revision_that_disagree_are_both_bad(
    store: Store, write: Any, where: dict[str, int]
) -> None:
    path = write(
        "t.csv",
        HEADER + "A-1,kha,P-1001,survey,2026-03-02,2,UTC,approved,1\n"
        "A-2,kha,P-1001,survey,2026-03-03,1,UTC,approved,1\n"
        "A-1,kha,P-1001,survey,2026-03-02,3,UTC,approved,1\n"  # line 2 says 2 hours
        "A-2,kha,P-1001,survey,2026-03-03,1,UTC,approved,1\n"  # line 3 again: one entry
        "A-3,kha,P-1001,survey,2026-03-04,1,UTC,approved,1\n"
        "A-3,kha,P-1001,survey,2026-03-04,5,UTC,approved,2\n",  # a later revision wins
    )
    result = run(store, path, partial=True, **where)
    reason = "another line has this external_id and revision with different content"
    assert [(b.line_no, b.errors) for b in result.quarantined] == [
        (2, (FieldError("external_id", reason),)),
        (4, (FieldError("external_id", reason),)),
    ]
    with store.reading() as tx:
        seconds = {e.external_id: e.duration_seconds for e in load_entries(tx)}
    assert seconds == {"A-2": 3600, "A-3": 5 * 3600}
    with pytest.raises(ImportRejected, match="t.csv:4: external_id: another line"):
        run(store, path, **where)


def written(store: Store) -> dict[str, Any]:
    """Every row an import wrote for the workspace, without what differs from one
    workspace or moment to another (ids, times, arrival stamps)."""

    def rows(table: Any, *leave_out: str) -> list[tuple[Any, ...]]:
        columns = [c for c in table.c if c.name not in ("id", "workspace_id", *leave_out)]
        query = select(*columns).where(table.c.workspace_id == tx.workspace_id)
        return [tuple(row) for row in tx.conn.execute(query.order_by(table.c.id))]

    with store.reading() as tx:
        entries = [
            tuple("a:" if str(v).startswith("a:") else v for v in row)
            for row in rows(time_entries, "updated_at")
        ]
        return {
            "entries": entries,
            "raw": rows(raw_records, "batch_id", "received_at"),
            "quarantine": rows(quarantine, "batch_id", "created_at"),
            "batches": rows(import_batches, "created_at"),
            "events": [(e["action"], e["before"], e["after"]) for e in audit.events(tx)],
        }


def second_processes_started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The readers an import runs in a second process from now on, as it starts each."""
    started: list[Any] = []
    start = files.second_process

    def starting() -> Any:
        started.append(True)
        return start()

    monkeypatch.setattr(files, "second_process", starting)
    return started


def outcome(result: Any) -> tuple[Any, ...]:
    bad = [(b.line_no, b.errors, b.payload) for b in result.quarantined]
    return result.lines, result.counts, bad


@pytest.mark.parametrize(
    "name, first, then",
    [("t.csv", MIXED_CSV, CHANGED_CSV), ("t.jsonl", MIXED_JSONL, CHANGED_JSONL)],
    ids=["csv", "jsonl"],
)
def test_a_file_read_in_a_second_process_imports_as_one_read_here(
    store: Store, write: Any, monkeypatch: pytest.MonkeyPatch, name: str, first: str, then: str
) -> None:
    started = second_processes_started(monkeypatch)
    here = Store(store.engine, f"{store.workspace}-here")
    for workspace in (here, store):  # people and projects to map the lines to
        apply(workspace, "firm.yaml", load(FIRM), "tester")
    results = []
    for content in (first, then):
        path = write(name, content)
        alone = run(here, path, partial=True, **HERE)
        results.append(run(store, path, partial=True, **THERE))
        assert outcome(results[-1]) == outcome(alone)
    assert len(started) == 2  # the second import of each file, not the first
    assert results[0].quarantined and results[1].counts.changed  # both files do something
    assert written(store) == written(here)
    with store.reading() as tx:
        assert {(e.project, e.cost_center) for e in load_entries(tx)} >= {("P-1001", "CC-NA")}
    assert second_processes() == []


@pytest.mark.parametrize(
    "name, content",
    [
        ("t.csv", MIXED_CSV),
        ("t.jsonl", MIXED_JSONL),
        ("t.csv", "external_id,person,project,colour\nA-1,kha,P-1001,red\n"),
        ("t.csv", (HEADER + "A-1,Søren,P-1001,,2026-03-02,2,UTC,approved,1\n").encode("latin-1")),
    ],
    ids=["csv", "jsonl", "unknown-column", "latin-1"],
)
def test_a_file_read_in_a_second_process_is_rejected_as_one_read_here(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str | bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    here = Store(store.engine, f"{store.workspace}-here")
    with pytest.raises(ImportRejected) as alone:
        run(here, path, **HERE)
    started = second_processes_started(monkeypatch)
    with pytest.raises(ImportRejected) as beside:
        run(store, path, **THERE)
    assert len(started) == 1
    assert str(beside.value) == str(alone.value)
    assert beside.value.bad == alone.value.bad
    assert written(store) == written(here) == dict.fromkeys(written(store), [])


@pytest.mark.parametrize(
    "reader, error",
    [(chunks_then_error, "the disk went away"), (chunks_then_death, "stopped before it finished")],
    ids=["raises", "dies"],
)
def test_a_second_process_that_fails_leaves_nothing_written(
    store: Store, write: Any, monkeypatch: pytest.MonkeyPatch, reader: Any, error: str
) -> None:
    # Its first chunk is written before it fails: the transaction rolls back whole.
    monkeypatch.setattr(files, "read_chunks", reader)
    ingest, ingested = files.ingest_rows, []

    def ingesting(*args: Any) -> Any:
        ingested.append(ingest(*args))
        return ingested[-1]

    monkeypatch.setattr(files, "ingest_rows", ingesting)
    with pytest.raises((RuntimeError, ChildProcessError), match=error):
        run(store, write("t.csv", MIXED_CSV), partial=True, **THERE)
    assert ingested[0][0].new > 0
    assert written(store) == dict.fromkeys(written(store), [])
    assert second_processes() == []


def test_an_interrupted_import_ends_its_second_process(
    store: Store, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        running.extend(second_processes())
        raise KeyboardInterrupt  # Ctrl-C while a chunk is written

    monkeypatch.setattr(files, "ingest_rows", interrupted)
    # More than the first chunk: the second waits in a full pipe, the process with it.
    lines = "".join(
        f"A-{n},kha,P-1001,survey,2026-03-02,1,Europe/Oslo,approved,1\n"
        for n in range(file_chunks.FIRST_CHUNK + 1_000)
    )
    with pytest.raises(KeyboardInterrupt):
        run(store, write("t.csv", MIXED_CSV + lines), partial=True, **THERE)
    assert len(running) == 1 and second_processes() == []
    assert written(store) == dict.fromkeys(written(store), [])


def _ids_in_order(store: Store) -> list[tuple[str, str]]:
    """(person, external id) of every entry, in the order of their ids."""
    with store.reading() as tx:
        return [(e.person, e.external_id) for e in load_entries(tx)]


def test_a_large_chunk_is_numbered_person_by_person_and_a_small_one_line_by_line(
    store: Store, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(store, "firm.yaml", load(FIRM), "tester")
    lines = [
        f"A-{n},{person},P-1001,survey,2026-03-{n:02},1,Europe/Oslo,approved,1\n"
        for n, person in enumerate(["jdo", "kha", "jdo", "kha"], start=1)
    ]
    run(store, write("small.csv", HEADER + "".join(lines)))
    assert [x for _, x in _ids_in_order(store)] == ["A-1", "A-2", "A-3", "A-4"]
    monkeypatch.setattr(entries_store, "GROUPED_FROM", 4)
    run(store, write("large.csv", HEADER + "".join(lines).replace("A-", "B-")))
    grouped = [x for x in _ids_in_order(store) if x[1].startswith("B-")]
    assert grouped == [("jdo", "B-1"), ("jdo", "B-3"), ("kha", "B-2"), ("kha", "B-4")]


def test_the_first_chunk_is_small_and_the_rest_full(
    write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer waits for the first chunk alone: it comes after FIRST_CHUNK lines."""
    lines = "".join(
        f"A-{n},kha,P-1001,survey,2026-03-02,1,Europe/Oslo,approved,1\n" for n in range(25)
    )
    path = write("t.csv", HEADER + lines)
    no_mapping = Mapper(lambda source, ref, day: UNMAPPED, "")
    sizes = [
        chunk.lines
        for chunk in file_chunks.read_chunks(path, DEFAULTS, "a:stamp", "csv", no_mapping, 10)
    ]
    assert sizes == [10, 10, 5]
    monkeypatch.setattr(file_chunks, "FIRST_CHUNK", 4)
    sizes = [
        chunk.lines
        for chunk in file_chunks.read_chunks(path, DEFAULTS, "a:stamp", "csv", no_mapping, 10)
    ]
    assert sizes == [4, 10, 10, 1]


@pytest.mark.parametrize("where", [HERE, THERE], ids=["here", "second process"])
def test_the_batch_and_its_event_hold_the_file_s_sha256(
    store: Store, write: Any, where: dict[str, int]
) -> None:
    path = write("t.csv", MIXED_CSV)
    result = run(store, path, partial=True, **where)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with store.reading() as tx:
        stored = tx.conn.execute(
            select(import_batches.c.sha256).where(import_batches.c.id == result.batch_id)
        ).scalar_one()
        (event,) = [e for e in audit.events(tx) if e["action"] == "import.batch"]
    assert stored == event["after"]["sha256"] == digest
