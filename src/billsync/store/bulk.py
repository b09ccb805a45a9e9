"""Bulk writes for the set-based pipeline stages.

SQLAlchemy's executemany builds a parameter dict per row, about 15 µs each; at a
million entries that alone is minutes. On SQLite the column types' own bind processors
are applied here once per value and the rows go to the driver's executemany as tuples,
so the values stored are exactly what SQLAlchemy would have stored. On PostgreSQL,
SQLAlchemy's insertmanyvalues already batches rows into few statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import TypeEngine

CHUNK = 5000


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_existing: bool = False,
) -> None:
    """Insert rows; with `skip_existing`, rows that collide with a unique key are left
    out instead of failing (the same raw record received twice)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        statement = pg_insert(table)
        if skip_existing:
            statement = statement.on_conflict_do_nothing()
        for i in range(0, len(rows), CHUNK):
            conn.execute(statement, list(rows[i : i + CHUNK]))
        return
    columns = list(rows[0])
    marks = ", ".join("?" * len(columns))
    verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
    sql = f"{verb} INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
    _execute_many(conn, table, sql, columns, rows)


def update_rows(
    conn: Connection, table: Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Set each row's other columns on the table row whose `key` column equals its own."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if conn.dialect.name != "sqlite":
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values({c: bindparam(c) for c in columns})
        )
        renamed = [{**{c: r[c] for c in columns}, f"b_{key}": r[key]} for r in rows]
        for i in range(0, len(renamed), CHUNK):
            conn.execute(statement, renamed[i : i + CHUNK])
        return
    sql = f"UPDATE {table.name} SET {', '.join(f'{c} = ?' for c in columns)} WHERE {key} = ?"
    _execute_many(conn, table, sql, [*columns, key], rows)


def _repeats(column_type: TypeEngine[Any]) -> bool:
    """Days and instants repeat across rows, and equal ones store the same text."""
    try:
        return issubclass(column_type.python_type, dt.date)  # dates and datetimes
    except NotImplementedError:
        return False


def _memoized(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process`, run once for each distinct value."""
    memo: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        done = memo.get(value)
        if done is None:
            done = memo[value] = process(value)
        return done

    return convert


def _execute_many(
    conn: Connection,
    table: Table,
    sql: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    dialect = conn.dialect
    processors = [
        (index, process, _repeats(table.c[name].type))
        for index, name in enumerate(columns)
        if (process := table.c[name].type._cached_bind_processor(dialect)) is not None
    ]
    pick = itemgetter(*columns)
    params = [list(pick(row)) for row in rows]
    for index, process, repeats in processors:  # column by column: one lookup per column
        convert = _memoized(process) if repeats else process
        for values in params:
            value = values[index]
            if value is not None:
                values[index] = convert(value)
    for i in range(0, len(params), CHUNK):
        conn.exec_driver_sql(sql, [tuple(values) for values in params[i : i + CHUNK]])
