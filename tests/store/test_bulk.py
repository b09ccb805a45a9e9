"""Bulk writes store exactly what SQLAlchemy's own insert stores, value for value, the
values every row shares included (on SQLite they are written into the statement)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, type_coerce
from sqlalchemy.types import NullType

from billsync.store.bulk import insert_columns
from billsync.store.db import Store, Tx, open_store
from billsync.store.tables import time_entries

OSLO = dt.timezone(dt.timedelta(hours=1))

# Values the rows share, one of each kind a column holds (text that needs quoting, an
# instant not in UTC, a flag, a decimal's digits, a day, nothing).
SHARED = {
    "source": "it's a\nsource",
    "revision": 1,
    "source_revision": "2026-03-02T12:00:00",
    "raw_sha256": "0" * 64,
    "src_project": "P-1001",
    "src_task": "survey",
    "src_client": "",
    "work_date": dt.date(2026, 3, 2),
    "start_at": dt.datetime(2026, 3, 2, 8, 0, tzinfo=OSLO),
    "end_at": None,
    "duration_seconds": 3600,
    "timezone": "Europe/Oslo",
    "notes": "line\r\nbreak, 'quotes' and é",
    "approval": "approved",
    "billable": True,
    "category": "operating",
    "source_rate": Decimal("1.50"),
    "deleted": False,
    "updated_at": dt.datetime(2026, 3, 2, 12, 0, tzinfo=OSLO),
}


def _stored(tx: Tx, external_ids: list[str], *, raw: bool = False) -> list[tuple[Any, ...]]:
    """The rows read back; `raw`: as the database holds them (the driver's values)."""
    names = ["external_id", "src_person", *SHARED]
    columns = [time_entries.c[name] for name in names]
    rows = tx.conn.execute(
        select(*(type_coerce(c, NullType()) if raw else c for c in columns))
        .where(time_entries.c.workspace_id == tx.workspace_id)
        .where(time_entries.c.external_id.in_(external_ids))
        .order_by(time_entries.c.external_id)
    )
    return [tuple(row) for row in rows]


def test_shared_values_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    people = ["kha", "o'neil", "zed"]
    with store.transaction() as tx:
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": [f"B-{p}" for p in people], "src_person": people},
            same={"workspace_id": tx.workspace_id, **SHARED},
        )
        tx.conn.execute(
            insert(time_entries),
            [
                {"workspace_id": tx.workspace_id, "external_id": f"S-{p}", "src_person": p,
                 **SHARED}
                for p in people
            ],
        )  # fmt: skip
        bulk = _stored(tx, [f"B-{p}" for p in people])
        raw = _stored(tx, [f"B-{p}" for p in people], raw=True)
        own = _stored(tx, [f"S-{p}" for p in people], raw=True)
    assert [row[1:] for row in raw] == [row[1:] for row in own]
    assert [row[1] for row in bulk] == people
    assert bulk[0][2:] == tuple(SHARED.values())  # read back as given


def test_shared_text_a_statement_cannot_hold_is_bound_instead(tmp_path: Path) -> None:
    # SQLite stores a NUL character (PostgreSQL refuses one in any text).
    sqlite = open_store(f"sqlite:///{tmp_path / 'nul.db'}", "nul")
    shared = {**SHARED, "notes": "nul \x00 here"}
    with sqlite.transaction() as tx:
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": ["A", "B"], "src_person": ["kha", "zed"]},
            same={"workspace_id": tx.workspace_id, **shared},
        )
        stored = _stored(tx, ["A", "B"])
    sqlite.engine.dispose()
    assert [row[2:] for row in stored] == [tuple(shared.values())] * 2


def test_shared_values_with_existing_rows_left_out(store: Store) -> None:
    with store.transaction() as tx:
        shared = {"workspace_id": tx.workspace_id, **SHARED}
        insert_columns(tx.conn, time_entries, {"external_id": ["A"], "src_person": ["kha"]},
                       same=shared)  # fmt: skip
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": ["A", "B"], "src_person": ["other", "zed"]},
            same=shared,
            skip_existing=True,
        )
        stored = _stored(tx, ["A", "B"])
    assert [row[:2] for row in stored] == [("A", "kha"), ("B", "zed")]


def test_a_column_of_one_value_is_stored_as_given(store: Store) -> None:
    # Columns whose every row holds one object go into the statement like `same`;
    # equal values that are different objects (1.5, 1.50) stay bound, digits kept.
    people = ["kha", "o'neil", "zed"]
    one_each = {name: [value] * len(people) for name, value in SHARED.items()}
    rates = [Decimal("1.5"), Decimal("1.50"), Decimal("1.500")]
    with store.transaction() as tx:
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": [f"C-{p}" for p in people], "src_person": people, **one_each},
            same={"workspace_id": tx.workspace_id},
        )
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": [f"D-{p}" for p in people], "src_person": people,
             **one_each, "source_rate": rates},
            same={"workspace_id": tx.workspace_id},
        )  # fmt: skip
        constant = _stored(tx, [f"C-{p}" for p in people])
        mixed = _stored(tx, [f"D-{p}" for p in people])
    assert [row[:2] for row in constant] == [(f"C-{p}", p) for p in people]
    assert [row[2:] for row in constant] == [tuple(SHARED.values())] * 3
    assert [str(row[2 + list(SHARED).index("source_rate")]) for row in mixed] == [
        "1.5",
        "1.50",
        "1.500",
    ]


def test_rows_of_one_value_in_every_column_are_all_written(store: Store) -> None:
    with store.transaction() as tx:
        insert_columns(
            tx.conn,
            time_entries,
            {"external_id": ["E"], "src_person": ["kha"]},
            same={"workspace_id": tx.workspace_id, **SHARED},
        )
        stored = _stored(tx, ["E"])
    assert [row[:2] for row in stored] == [("E", "kha")]
