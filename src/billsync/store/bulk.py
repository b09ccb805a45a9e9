"""Bulk writes for the set-based pipeline stages.

SQLAlchemy's executemany builds a parameter dict per row, about 15 µs each; at a
million entries that alone is minutes. Here the column types' own bind processors are
applied once per value and the rows go to the driver's executemany as tuples, so the
values stored are exactly what SQLAlchemy would have stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, insert

CHUNK = 5000


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    dialect = conn.dialect
    if dialect.name != "sqlite":
        # psycopg's path (insertmanyvalues) already batches rows into one statement.
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(table), list(rows[i : i + CHUNK]))
        return
    processors = [
        (index, process)
        for index, name in enumerate(columns)
        if (process := table.c[name].type._cached_bind_processor(dialect)) is not None
    ]
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    pick = itemgetter(*columns)
    params = [list(pick(row)) for row in rows]
    for index, process in processors:  # column by column: one lookup per column
        for values in params:
            value = values[index]
            if value is not None:
                values[index] = process(value)
    for i in range(0, len(params), CHUNK):
        conn.exec_driver_sql(sql, [tuple(values) for values in params[i : i + CHUNK]])
