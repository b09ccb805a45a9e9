"""Time import: raw records kept, idempotent by (source, external id), revisions
ordered, bad files rejected whole or quarantined line by line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from billsync.domain import canonical
from billsync.domain.canonical import Defaults, parse_record
from billsync.pipeline.file_chunks import ImportRejected
from billsync.pipeline.files import import_file
from billsync.store import audit
from billsync.store.db import Store
from billsync.store.entries import load_entries
from billsync.store.tables import quarantine, raw_records, time_entries

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
