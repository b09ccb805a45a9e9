"""`billsync demo`: a realistic firm, three months of messy time, billed end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from billsync.demo.run import run_demo

from .common import TodayOption, console, today_of


def demo(
    path: Annotated[
        Path, typer.Option("--path", help="SQLite file to create (an earlier demo is replaced)")
    ] = Path("billsync-demo.db"),
    today: TodayOption = None,
) -> None:
    """Build a demo firm with three months of messy time, and bill it.

    A marine engineering firm: five clients in five currencies (JPY among them), fifty
    people on three sites, six contracts. The pipeline runs over the time, and the
    invoices drafted, the exceptions and the work in progress are shown.
    """
    # Written to a file or a pipe, Rich would assume 80 columns; the tables want more.
    out = console if console.is_terminal else Console(width=max(console.width, 132))
    summary = run_demo(path, today=today_of(today), console=out)
    out.print(f"\nThe demo database is [bold]{summary.path}[/bold]. Point billsync at it:")
    out.print(f"  export BILLSYNC_DATABASE_URL={summary.url}", highlight=False, markup=False)
