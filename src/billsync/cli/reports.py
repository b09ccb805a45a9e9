"""`billsync reports ...`: work in progress, realization, utilization, leakage, caps.

Every report reads the store as the pipeline would see it on `--today` and changes
nothing. Amounts are exact decimals in their contract's currency: JSON and CSV carry
them as text ("1160.00"), and no row adds two currencies together.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer

from billsync.reports import caps as caps_report
from billsync.reports import leakage as leakage_report
from billsync.reports import realization as realization_report
from billsync.reports import utilization as utilization_report
from billsync.reports import wip as wip_report
from billsync.store.db import Tx

from .common import Format, FormatOption, TodayOption, emit, fail, open_default, today_of

app = typer.Typer(
    no_args_is_help=True, help="Reports: WIP, realization, utilization, leakage, caps."
)

T = TypeVar("T")


def _read(report: Callable[[Tx], T]) -> T:
    store, _ = open_default()
    with store.reading() as tx:
        return report(tx)


def _show(rows: Sequence[Any], row_type: type[Any], fmt: Format, title: str) -> None:
    columns = [f.name for f in dataclasses.fields(row_type)]
    emit([dataclasses.asdict(r) for r in rows], fmt, title=title, columns=columns)


@app.command()
def wip(fmt: FormatOption = Format.TABLE, today: TodayOption = None) -> None:
    """Unbilled work by client and project, aged 0-30, 31-60, 61-90, over 90 days."""
    day = today_of(today)
    rows = _read(lambda tx: wip_report.report(tx, day))
    if fmt is Format.TABLE:
        rows += wip_report.totals(rows)  # a sum of rows the data formats leave to the reader
    _show(rows, wip_report.WipRow, fmt, f"Work in progress on {day}")


@app.command()
def realization(fmt: FormatOption = Format.TABLE, today: TodayOption = None) -> None:
    """Billed against the rate-card value of the work, per contract and project."""
    day = today_of(today)
    _show(
        _read(lambda tx: realization_report.report(tx, day)),
        realization_report.RealizationRow,
        fmt,
        f"Realization on {day}",
    )


@app.command()
def utilization(
    from_: Annotated[
        dt.datetime | None,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day (default: last month)"),
    ] = None,
    to: Annotated[
        dt.datetime | None,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (default: last month)"),
    ] = None,
    fmt: FormatOption = Format.TABLE,
    today: TodayOption = None,
) -> None:
    """Billable share of worked hours per person and cost center."""
    day = today_of(today)
    first, last = utilization_report.default_period(day)
    start = from_.date() if from_ else first
    end = to.date() if to else last
    if end < start:
        if from_ and to:
            fail(f"--to {end} is before --from {start}")
        if from_:
            fail(f"--from {start} is after last month's end ({end}): give --to as well")
        fail(f"--to {end} is before last month's start ({start}): give --from as well")
    _show(
        _read(lambda tx: utilization_report.report(tx, day, start, end)),
        utilization_report.UtilizationRow,
        fmt,
        f"Utilization {start}..{end}",
    )


@app.command()
def leakage(fmt: FormatOption = Format.TABLE, today: TodayOption = None) -> None:
    """Open exceptions by code, and work written off, beyond caps or written down."""
    day = today_of(today)
    _show(
        _read(lambda tx: leakage_report.report(tx, day)),
        leakage_report.LeakageRow,
        fmt,
        f"Exceptions and leakage on {day}",
    )


@app.command()
def caps(fmt: FormatOption = Format.TABLE, today: TodayOption = None) -> None:
    """Limits, usage and burn of every contract cap."""
    day = today_of(today)
    _show(
        _read(lambda tx: caps_report.report(tx, day)),
        caps_report.CapRow,
        fmt,
        f"Cap burn on {day}",
    )
