"""Commands that set the workspace up and feed it: apply, export, import, project
status, period locks."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from billsync.config.loader import dump, load
from billsync.domain.canonical import Defaults
from billsync.domain.entries import Approval
from billsync.domain.workspace import ProjectStatus
from billsync.pipeline.actions import lock_period
from billsync.pipeline.files import import_file
from billsync.pipeline.workspace import apply as apply_workspace
from billsync.pipeline.workspace import export as export_workspace
from billsync.triggers.project_status import set_status

from .common import TodayOption, console, fail, open_default, today_of, write_output
from .pipeline import print_run

project_app = typer.Typer(no_args_is_help=True, help="Projects: status changes.")
periods_app = typer.Typer(no_args_is_help=True, help="Locked periods.")


SIGNS = {"created": "+", "updated": "~", "removed": "-"}


def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="Workspace YAML")],
    prune: Annotated[
        bool, typer.Option(help="Remove mapping rules and members the file no longer lists")
    ] = False,
) -> None:
    """Create or update clients, sites, people, projects, contracts, mapping rules and
    members."""
    store, settings = open_default()
    result = apply_workspace(store, str(file), load(file), settings.who, prune=prune)
    for change in result.changes:
        sign = SIGNS[change.action]
        console.print(f"{sign} {change.kind} {change.code}", highlight=False, markup=False)
        for name, (before, after) in change.fields.items():
            console.print(f"    {name}: {before!r} -> {after!r}", highlight=False, markup=False)
    console.print(f"= {result.unchanged} unchanged")


def export(output: Annotated[Path | None, typer.Option("-o", "--output")] = None) -> None:
    """Write the workspace back out as YAML (what `apply` reads)."""
    store, _ = open_default()
    text = dump(export_workspace(store))
    if output:
        write_output(output, text)
    else:
        sys.stdout.write(text)


def import_(
    file: Path,
    source: Annotated[str, typer.Option(help="Source name entries are keyed by")] = "file",
    partial: Annotated[bool, typer.Option(help="Import good lines, quarantine bad")] = False,
    timezone: Annotated[str | None, typer.Option(help="Zone for rows without one")] = None,
    approval: Annotated[Approval, typer.Option(help="Approval for rows without one")] = (
        Approval.SUBMITTED
    ),
) -> None:
    """Import time entries from a CSV or JSON Lines file (see docs/import.md)."""
    store, settings = open_default()
    try:
        result = import_file(
            store,
            file,
            source=source,
            actor=settings.who,
            defaults=Defaults(timezone, approval),
            partial=partial,
        )
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
    c = result.counts
    console.print(
        f"{file.name}: {result.lines} lines; {c.new} new, {c.changed} changed, "
        f"{c.unchanged} unchanged, {c.stale} stale, {len(result.quarantined)} quarantined",
        highlight=False,
    )
    for bad in result.quarantined:
        console.print(f"  quarantined line {bad.line_no}: {bad.describe()}", markup=False)


@project_app.command("status")
def project_status(code: str, status: ProjectStatus, today: TodayOption = None) -> None:
    """Set a project's status; ready_for_billing drafts its completion invoice."""
    store, settings = open_default()
    report = set_status(store, code, status, actor=settings.who, today=today_of(today))
    console.print(f"project {code}: {status.value}")
    if report is not None:
        print_run(store, report)


@periods_app.command("lock")
def periods_lock(
    through: Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"], help="Last locked day")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail)")],
    today: TodayOption = None,
) -> None:
    """Lock every day up to and including THROUGH (today at the latest): late or
    changed entries there are flagged instead of billed. An earlier day unlocks the
    days after it."""
    store, settings = open_default()
    lock_period(
        store, through=through.date(), reason=reason, actor=settings.who, today=today_of(today)
    )
    console.print(f"locked through {through.date()}")
