"""Column types that keep Decimal exact on every backend.

SQLite has no exact decimal type; SQLAlchemy's Numeric there round-trips through
float. These types store the decimal's text on SQLite and NUMERIC on PostgreSQL, and
always hand back Decimal with the scale it was given.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.sql.type_api import _BindProcessorType, _ResultProcessorType


class Exact(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        # Unconstrained NUMERIC keeps each value's own scale: 145.00 comes back as 145.00.
        return dialect.type_descriptor(Numeric())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"exact column given {type(value).__name__}, not Decimal")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: give its time zone")
    return value.astimezone(dt.UTC)


_SQLITE_DATETIME = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # as sqlite.DATETIME stores it


class UtcDateTime(TypeDecorator[dt.datetime]):
    """An instant: stored in UTC, handed back aware in UTC on every backend.

    SQLite keeps no offset, so an aware time would otherwise come back as its wall
    clock reading, silently shifted."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(DateTime(timezone=dialect.name != "sqlite"))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = _utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> _BindProcessorType[dt.datetime] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite DATETIME's own text, formatted from a tuple instead of a dict and with
        # no naive copy in between: a bulk import binds millions of these.
        def process(value: dt.datetime | None) -> str | None:
            if value is None:
                return None
            u = _utc(value)
            return _SQLITE_DATETIME % (
                u.year,
                u.month,
                u.day,
                u.hour,
                u.minute,
                u.second,
                u.microsecond,
            )

        return process

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> _ResultProcessorType[dt.datetime] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _from_sqlite

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@lru_cache(maxsize=4096)
def _from_sqlite(text: str | None) -> dt.datetime | None:
    """An instant from the text SQLite keeps (UTC, no offset). Loading reads millions of
    them and the same clock times recur: each is read once, and entries share it. (A
    few thousand: a run holds a batch's entries at a time, in two processes.)"""
    if text is None:
        return None
    # Read with its offset, not given one after: replace() costs twice the reading.
    return dt.datetime.fromisoformat(text + "+00:00")
