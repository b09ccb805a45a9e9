"""What every command shares: the store, the actor, dates, errors and output."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from billsync.errors import UserError
from billsync.settings import Settings
from billsync.store.db import Store, open_store

console = Console(soft_wrap=True, emoji=False)  # a code like "yard:up:1" stays as typed
err = Console(stderr=True, soft_wrap=True, emoji=False)


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


TodayOption = Annotated[
    dt.datetime | None,
    typer.Option("--today", formats=["%Y-%m-%d"], help="Run as of this day (default: today)"),
]
FormatOption = Annotated[Format, typer.Option("--format", help="table, csv or json")]


def spinner() -> Progress:
    """A transient progress line: what is being done, and for how long."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# The days a command may run as: periods, due dates and age buckets reach years
# either side, and Python's dates end at 0001 and 9999.
TODAY_RANGE = (dt.date(1900, 1, 1), dt.date(2999, 12, 31))


def today_of(value: dt.datetime | None) -> dt.date:
    day = value.date() if value else dt.date.today()
    if not TODAY_RANGE[0] <= day <= TODAY_RANGE[1]:
        fail(f"--today {day}: use a day from {TODAY_RANGE[0]} to {TODAY_RANGE[1]}")
    return day


def open_default() -> tuple[Store, Settings]:
    settings = Settings.read()
    try:
        return open_store(settings.database_url, settings.workspace), settings
    except (ArgumentError, NoSuchModuleError, DBAPIError) as exc:
        raise UserError(
            f"BILLSYNC_DATABASE_URL {_shown(settings.database_url)}: {_why(exc)}"
        ) from None


def _shown(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url) if ":" not in url else "(not a database URL)"


def _why(exc: Exception) -> str:
    """What went wrong, without the statement or parameters SQLAlchemy adds."""
    if isinstance(exc, DBAPIError):
        return str(exc.orig).strip().splitlines()[-1]
    return str(exc).splitlines()[0]


def write_output(path: Path, text: str) -> None:
    """`text` into the file at `path`, or a clear error where it cannot be written."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def plain(value: Any) -> Any:
    if isinstance(value, Decimal | dt.date | dt.datetime):
        return str(value)
    return value


def emit(
    rows: Sequence[dict[str, Any]],
    fmt: Format,
    title: str = "",
    columns: Sequence[str] | None = None,
) -> None:
    """Rows as a Rich table, CSV or JSON, with the same columns in each."""
    names = list(columns or (rows[0].keys() if rows else []))
    if fmt is Format.JSON:
        sys.stdout.write(
            json.dumps([{k: plain(r.get(k)) for k in names} for r in rows], indent=2) + "\n"
        )
        return
    if fmt is Format.CSV:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: plain(r.get(k)) for k in names} for r in rows)
        sys.stdout.write(out.getvalue())
        return
    table = Table(title=title or None)
    for name in names:
        numeric = any(isinstance(r.get(name), Decimal | int) for r in rows[:20])
        table.add_column(name, justify="right" if numeric else "left")
    for r in rows:
        table.add_row(*("" if r.get(k) is None else str(plain(r.get(k))) for k in names))
    console.print(table)


MAX_ID = 2**63 - 1  # the stores' ids are 64-bit
MAX_IDS = 1_000_000  # ids one command acts on
MAX_LINE = 999_999  # more than any invoice has


def parse_ids(text: str) -> list[int]:
    """ "12,14-16" -> [12, 14, 15, 16]."""
    return _numbers(text, "", "an entry id", "12,14-16", MAX_ID)


def parse_lines(text: str) -> list[int]:
    """--lines "2,4-6" -> [2, 4, 5, 6]."""
    return _numbers(text, f"--lines {text!r}: ", "a line number", "2,4-6", MAX_LINE)


def _numbers(text: str, option: str, what: str, example: str, most: int) -> list[int]:
    """The numbers a list like "2,4-6" names, each once, in the order given. Strict:
    a part that is not a number from 1 to `most` in ASCII digits (int() would also
    take '٣' or '1_000') or a rising range of them stops the command, since dropping
    it would act on other things than were meant."""
    found: dict[int, None] = {}
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        first = _number(low.strip(), most)
        last = _number(high.strip(), most) if dash else first
        if first is None or last is None:
            fail(f"{option}{part!r} is not {what} or range (like {example})")
        if last < first:
            fail(f"{option}the range {part!r} goes down")
        if last - first + len(found) >= MAX_IDS:
            fail(f"{option}{text!r} names more than {MAX_IDS:,} at once; split the list")
        found.update(dict.fromkeys(range(first, last + 1)))
    return list(found)


def _number(text: str, most: int) -> int | None:
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(most)):
        return None
    return int(text) if 0 < int(text) <= most else None
