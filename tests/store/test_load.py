"""Loading entries: what load_entries builds is what SQLAlchemy's own row processing of
the same rows gives, value for value (a decimal's digits, an instant's zone, a flag's
type), on every backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from billsync.domain.entries import Approval, Category, EntryState, SourceRef, TimeEntry
from billsync.store import entries
from billsync.store.db import Store, Tx, open_store
from billsync.store.entries import adjustments_by_entry, load_entries, transfers
from billsync.store.tables import entry_adjustments, time_entries

OSLO = dt.timezone(dt.timedelta(hours=1))
STAMP = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
ODD = 'quote " back \\ tab \t line \n bell \x07 é 中 🚢'  # text JSON must escape or keep


def _row(n: int, **values: Any) -> dict[str, Any]:
    return {
        "source": "csv",
        "external_id": f"A-{n}",
        "revision": 1,
        "source_revision": "1",
        "raw_sha256": "0" * 64,
        "src_person": "kha",
        "src_project": "P-1001",
        "src_task": "survey",
        "src_client": "",
        "work_date": dt.date(2026, 3, 2),
        "start_at": None,
        "end_at": None,
        "duration_seconds": 3600,
        "timezone": "Europe/Oslo",
        "notes": "",
        "approval": "approved",
        "billable": True,
        "category": "operating",
        "source_rate": None,
        "deleted": False,
        "person": "kha",
        "project": "P-1001",
        "task": "survey",
        "updated_at": STAMP,
        **values,
    }


ROWS = [
    _row(1),
    _row(2, source_rate=Decimal("1.5")),
    _row(3, source_rate=Decimal("1.50")),  # the same shared values, other digits
    _row(4, source_rate=Decimal("145.00"), work_date=dt.date(2026, 3, 3)),
    _row(5, start_at=dt.datetime(2026, 3, 2, 8, tzinfo=OSLO), end_at=STAMP, notes=ODD),
    _row(6, start_at=STAMP, end_at=STAMP + dt.timedelta(microseconds=1), billable=False),
    _row(7, src_person=ODD, src_client="Ø", person="", project="", task="", deleted=True),
    _row(8, approval="rejected", category="standby", state="held", phase="F1"),
    _row(9, state="written_off", cost_center="CC-NA", source="payroll", timezone="UTC"),
    _row(10, revision=3, duration_seconds=0, notes="x" * 5000),
]


def _fill(tx: Tx) -> list[int]:
    ids = [
        tx.conn.execute(
            insert(time_entries).values(workspace_id=tx.workspace_id, **row)
        ).inserted_primary_key[0]
        for row in ROWS
    ]
    written = [(ids[1], -900, "rework"), (ids[1], 300, "travel"), (ids[6], -60, "goodwill")]
    for entry_id, seconds, reason in written:
        tx.conn.execute(
            insert(entry_adjustments).values(
                entry_id=entry_id, seconds=seconds, reason=reason, note="", actor="t",
                created_at=STAMP,
            )
        )  # fmt: skip
    return ids


def _processed_by_sqlalchemy(tx: Tx) -> dict[int, str]:
    """Each entry's repr, built from rows SQLAlchemy converted itself."""
    written = adjustments_by_entry(tx)
    rows = tx.conn.execute(
        select(time_entries).where(time_entries.c.workspace_id == tx.workspace_id)
    )
    return {
        r.id: repr(
            TimeEntry(
                r.id, r.revision, r.source, r.external_id,
                SourceRef(r.src_person, r.src_project, r.src_task, r.src_client), r.work_date,
                r.duration_seconds, r.timezone, r.start_at, r.end_at, r.notes,
                Approval(r.approval), r.billable, Category(r.category), r.source_rate,
                r.deleted, EntryState(r.state), r.person, r.project, r.task, r.phase,
                r.cost_center, written.get(r.id, ()),
            )
        )
        for r in rows
    }  # fmt: skip


@pytest.mark.parametrize("chunk", [entries.CHUNK, 3])
def test_loaded_entries_are_what_sqlalchemy_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(entries, "CHUNK", chunk)  # shared values met again in a later chunk
    with store.transaction() as tx:
        ids = _fill(tx)
        expected = _processed_by_sqlalchemy(tx)
        loaded = list(load_entries(tx))
        some = list(load_entries(tx, [ids[6], ids[1], ids[4]]))
    assert [repr(e) for e in loaded] == [expected[i] for i in sorted(ids)]
    assert [repr(e) for e in some] == [expected[i] for i in sorted([ids[1], ids[4], ids[6]])]
    assert loaded[1].adjustments and loaded[1].source_rate == Decimal("1.5")
    assert str(loaded[2].source_rate) == "1.50" and loaded[3].start is None
    assert loaded[0].ref is loaded[1].ref  # a repeated value is one object
    assert loaded[0].person is loaded[7].person  # also where other values differ


def test_people_of_entries_lists_every_id_by_person_and_counts_those_to_map(
    store: Store,
) -> None:
    with store.transaction() as tx:
        ids = _fill(tx)
        # One person's entries stored out of id order (ids above any a sequence gives).
        zed = [10**9 - n for n in range(11, 15)]
        for n, entry_id in enumerate(zed, start=11):
            tx.conn.execute(
                insert(time_entries).values(
                    workspace_id=tx.workspace_id, id=entry_id, **_row(n, person="zed")
                )
            )
        tx.conn.execute(
            time_entries.update()
            .where(time_entries.c.id.in_(ids[:3]))
            .values(mapped_with="fp", transfer_project="")
        )
        tx.conn.execute(
            time_entries.update().where(time_entries.c.id == ids[0]).values(transfer_project="P-2")
        )
        people, to_map = entries.people_of_entries(tx, "fp")
        listed = {person: list(found) for person, found in people.items()}
        changed_inputs = entries.people_of_entries(tx, "other")[1]
        mapped = [entry_id for entry_id, *_ in entries.to_map(tx, "fp")]
    assert listed == {"kha": sorted(set(ids) - {ids[6]}), "": [ids[6]], "zed": sorted(zed)}
    # All but the two mapped under "fp" and not moved; the moved one maps again.
    assert to_map == len(mapped) == len(ids) + 4 - 2
    assert changed_inputs == len(ids) + 4


def test_has_entries_counts_the_workspace_s_own_up_to_the_number_asked(store: Store) -> None:
    other = Store(store.engine, "other")
    with other.transaction() as tx:
        _fill(tx)  # another workspace's entries are not this one's
    with store.transaction() as tx:
        count = len(_fill(tx))
        answers = {n: entries.has_entries(tx, at_least=n) for n in (0, 1, count, count + 1)}
    assert answers == {0: True, 1: True, count: True, count + 1: False}


def test_moved_entries_are_read_by_their_index_not_by_a_scan(tmp_path: Path) -> None:
    """On SQLite the statement `transfers` runs is planned on ix_time_entries_moved."""
    store = open_store(f"sqlite:///{tmp_path / 'plan.db'}", "plan")
    statements: list[tuple[str, Any]] = []
    event.listen(store.engine, "before_cursor_execute", _noted(statements))
    with store.reading() as tx:
        assert transfers(tx) == {}
        ((statement, parameters),) = [s for s in statements if "transfer_task" in s[0]]
        plan = tx.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    store.close()
    assert "USING INDEX ix_time_entries_moved" in " ".join(str(row[-1]) for row in plan)


def _noted(statements: list[tuple[str, Any]]) -> Any:
    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        statements.append((statement, parameters))

    return note
