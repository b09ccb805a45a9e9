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
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from billsync.settings import Settings
from billsync.store.db import Store, open_store

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


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


def today_of(value: dt.datetime | None) -> dt.date:
    return value.date() if value else dt.date.today()


def open_default() -> tuple[Store, Settings]:
    settings = Settings.read()
    return open_store(settings.database_url, settings.workspace), settings


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


def parse_ids(text: str) -> list[int]:
    """ "12,14-16" -> [12, 14, 15, 16]."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                ids.extend(range(low, high + 1))
            else:
                ids.append(int(part))
        except ValueError:
            fail(f"{part!r} is not an entry id or range (like 12,14-16)")
    if not ids:
        fail("no entry ids given")
    return ids


MAX_LINE = 999_999  # more than any invoice has; a range stays a short list


def parse_lines(text: str) -> list[int]:
    """--lines "2,4-6" -> [2, 4, 5, 6]. Strict: a part that is not an ASCII line
    number or a rising range of them stops the command, since dropping it would
    credit other lines than were meant."""
    lines: list[int] = []
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        first = _line_number(low.strip())
        last = _line_number(high.strip()) if dash else first
        if first is None or last is None:
            fail(f"--lines {text!r}: {part!r} is not a line number or range (like 2,4-6)")
        if last < first:
            fail(f"--lines {text!r}: the range {part!r} goes down")
        lines.extend(range(first, last + 1))
    return lines


def _line_number(text: str) -> int | None:
    """1 to MAX_LINE in ASCII digits (int() would also take '٣' or '1_000'), or None."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_LINE)):
        return None
    return int(text) or None
