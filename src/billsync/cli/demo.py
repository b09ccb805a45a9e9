"""`billsync demo`: a realistic firm, three months of messy time, billed end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from billsync.demo.run import DemoError, run_demo

from .common import TodayOption, console, fail, today_of


def demo(
    path: Annotated[
        Path, typer.Option("--path", help="SQLite file to create (an earlier demo is replaced)")
    ] = Path("billsync-demo.db"),
    today: TodayOption = None,
) -> None:
    """Create a demo workspace: a marine engineering firm with five clients in five
    currencies, fifty people on three sites, three months of messy time; run the
    pipeline and show the invoices, exceptions and work in progress."""
    try:
        summary = run_demo(path, today=today_of(today), console=console)
    except DemoError as exc:
        fail(str(exc))
    console.print(f"\nThe demo database is [bold]{summary.path}[/bold]. Point billsync at it:")
    console.print(f"  export BILLSYNC_DATABASE_URL={summary.url}", highlight=False, markup=False)
