"""Bulk writes for the set-based pipeline stages, and `among`, which picks rows by a
set of values bound as one.

SQLAlchemy's executemany builds a parameter dict per row, about 15 µs each; at a
million entries that alone is minutes. On SQLite the column types' own bind processors
are applied here once per value and the rows go to the driver's executemany as tuples,
so the values stored are exactly what SQLAlchemy would have stored. On PostgreSQL,
SQLAlchemy's insertmanyvalues already batches rows into few statements.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import is_
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from .db import Tx

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
        _insert_server(conn, table, rows, skip_existing)
        return
    by_column = {name: [row[name] for row in rows] for name in rows[0]}
    insert_columns(conn, table, by_column, skip_existing=skip_existing)


def insert_columns(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    same: Mapping[str, Any] | None = None,
    skip_existing: bool = False,
) -> None:
    """`insert_rows` for rows given column by column (sequences of one length), and
    `same`, the values every row shares: a bulk import builds no row of its own
    to take apart again."""
    same = same or {}
    lengths = set(map(len, columns.values()))
    if len(lengths) > 1:
        raise ValueError(f"columns of {table.name} of different lengths: {sorted(lengths)}")
    if not lengths or not lengths.pop():
        return
    if conn.dialect.name != "sqlite":
        # Not strict: the shared values repeat without end, the columns end together.
        shared = map(repeat, same.values())
        names = [*columns, *same]
        rows = [
            dict(zip(names, row, strict=True))
            for row in zip(*columns.values(), *shared, strict=False)
        ]
        _insert_server(conn, table, rows, skip_existing)
        return
    # The values every row shares are written into the statement, where SQLite reads
    # them once: bound, each costs the driver a conversion and a copy per row. So are
    # the columns that hold one object on every row (a chunk's one price, a file's
    # one stamp); the first stays bound, since rows are counted by what is bound.
    after_first = list(columns)[1:]
    constant = {name: columns[name][0] for name in after_first if _one_object(columns[name])}
    if constant:
        columns = {name: column for name, column in columns.items() if name not in constant}
        same = {**same, **constant}
    written = {name: _literal(conn, table.c[name].type, value) for name, value in same.items()}
    bound = {name: value for name, value in same.items() if written[name] is None}
    placed = dict.fromkeys([*columns, *bound], "?")  # column -> what the statement holds
    placed.update((name, text) for name, text in written.items() if text is not None)
    verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
    sql = f"{verb} INTO {table.name} ({', '.join(placed)}) VALUES ({', '.join(placed.values())})"
    _execute_columns(conn, table, sql, columns, bound)


def _one_object(column: Sequence[Any]) -> bool:
    """Whether every value is one object: by identity, which parsing and rating give
    equal values they share, and which never takes 1 and True, or 1.5 and 1.50, for one."""
    return all(map(is_, column, repeat(column[0])))


def _literal(conn: Connection, column_type: TypeEngine[Any], value: Any) -> str | None:
    """`value` as SQL text, stored as the column's type would bind it; None where a
    statement cannot hold it (text with a NUL character)."""
    process = column_type._cached_bind_processor(conn.dialect)
    stored = value if process is None or value is None else process(value)
    if stored is None:
        return "NULL"
    if isinstance(stored, str) and "\x00" in stored:
        return None
    return str(
        literal(stored).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    )


def _insert_server(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], skip_existing: bool
) -> None:
    statement = pg_insert(table)
    if skip_existing:
        statement = statement.on_conflict_do_nothing()
    for i in range(0, len(rows), CHUNK):
        conn.execute(statement, list(rows[i : i + CHUNK]))


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
    by_column = {name: [row[name] for row in rows] for name in [*columns, key]}
    _execute_columns(conn, table, sql, by_column, {})


def converted(
    column: Sequence[Any], process: Callable[[Any], Any], column_type: TypeEngine[Any]
) -> list[Any]:
    """A column's values through `process` (a bind or result processor), run once for
    each distinct value (None stays None). Days and instants repeat across rows, and
    equal ones are stored as the same text and read back equal: they are told apart by
    value. Other values are by object: rows share them (a price, a list of adjustments),
    while equal decimals may differ in their digits (1.5, 1.50), and lists cannot be
    keys. The per-value work runs in C (map, zip, dict)."""
    by_value = _python_type(column_type) in (dt.date, dt.datetime)
    # The column holds every value until the call ends, so an object's id is its own.
    keys = column if by_value else list(map(id, column))
    distinct = dict(zip(keys, column, strict=True))
    done = {key: None if value is None else process(value) for key, value in distinct.items()}
    return list(map(done.__getitem__, keys))


def _python_type(column_type: TypeEngine[Any]) -> type | None:
    try:
        return column_type.python_type
    except NotImplementedError:
        return None


def _execute_columns(
    conn: Connection,
    table: Table,
    sql: str,
    columns: Mapping[str, Sequence[Any]],
    same: Mapping[str, Any],
) -> None:
    """Execute `sql` once per row: its parameters are `columns`, then `same`, each
    through its column type's bind processor."""
    dialect = conn.dialect
    by_column: list[Iterable[Any]] = []
    for name, column in columns.items():
        column_type = table.c[name].type
        process = column_type._cached_bind_processor(dialect)
        by_column.append(column if process is None else converted(column, process, column_type))
    for name, value in same.items():
        process = table.c[name].type._cached_bind_processor(dialect)
        by_column.append(repeat(value if process is None or value is None else process(value)))
    rows = list(zip(*by_column, strict=False))  # as above: the shared values never end
    for i in range(0, len(rows), CHUNK):
        conn.exec_driver_sql(sql, rows[i : i + CHUNK])


def among(
    tx: Tx, column: ColumnElement[Any], values: Sequence[int] | Sequence[str]
) -> ColumnElement[bool]:
    """`column IN values`, the values bound as one: a plain IN binds a parameter per
    value, and SQLAlchemy's work on those costs more than the lookups themselves."""
    if tx.conn.dialect.name == "postgresql":
        kind = ARRAY(column.type)
        if column.type.python_type is int:
            # As the array's text, which PostgreSQL reads in C: psycopg would check each
            # element of a list in Python.
            text = "{" + ",".join(map(str, values)) + "}"
            return column == any_(cast(bindparam(f"{column.key}_list", text, type_=Text), kind))
        return column == any_(bindparam(f"{column.key}_list", list(values), type_=kind))
    listed = func.json_each(json.dumps(list(values))).table_valued("value")
    return column.in_(select(listed.c.value))
