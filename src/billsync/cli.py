"""The `billsync` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from billsync.config.loader import ConfigError, dump, load
from billsync.domain.canonical import Defaults
from billsync.domain.entries import Approval
from billsync.pipeline.files import ImportRejected, import_file
from billsync.pipeline.workspace import apply as apply_workspace
from billsync.pipeline.workspace import export as export_workspace
from billsync.settings import Settings
from billsync.store import audit as audit_store
from billsync.store.db import Store, open_store

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Tracked work hours to accurate client invoices.",
)
audit_app = typer.Typer(
    no_args_is_help=True, pretty_exceptions_enable=False, help="The tamper-evident audit trail."
)
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)


def _store() -> tuple[Store, Settings]:
    settings = Settings()
    return open_store(settings.database_url, settings.workspace), settings


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(code)


@app.command()
def apply(file: Annotated[Path, typer.Option("-f", "--file", help="Workspace YAML")]) -> None:
    """Create or update clients, sites, people, projects, contracts and mapping rules."""
    store, settings = _store()
    try:
        result = apply_workspace(store, str(file), load(file), settings.who)
    except ConfigError as exc:
        _fail(str(exc))
        return
    for change in result.changes:
        sign = "+" if change.action == "created" else "~"
        console.print(f"[green]{sign}[/green] {change.kind} {change.code}", highlight=False)
        for name, (before, after) in change.fields.items():
            console.print(f"    {name}: {before!r} -> {after!r}", highlight=False, markup=False)
    console.print(f"= {result.unchanged} unchanged")


@app.command()
def export(
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Write the workspace back out as YAML (what `apply` reads)."""
    store, _ = _store()
    text = dump(export_workspace(store))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


@app.command("import")
def import_(
    file: Path,
    source: Annotated[str, typer.Option(help="Source name entries are keyed by")] = "file",
    partial: Annotated[bool, typer.Option(help="Import good lines, quarantine bad")] = False,
    timezone: Annotated[str | None, typer.Option(help="Zone for rows without one")] = None,
    approval: Annotated[Approval, typer.Option(help="Approval for rows without one")] = (
        Approval.SUBMITTED
    ),
) -> None:
    """Import time entries from a CSV or JSON Lines file."""
    store, settings = _store()
    try:
        result = import_file(
            store,
            file,
            source=source,
            actor=settings.who,
            defaults=Defaults(timezone, approval),
            partial=partial,
        )
    except ImportRejected as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _fail(f"{file}: {exc.strerror or exc}")
        return
    c = result.counts
    console.print(
        f"{file.name}: {result.lines} lines; {c.new} new, {c.changed} changed, "
        f"{c.unchanged} unchanged, {c.stale} stale, {len(result.quarantined)} quarantined",
        highlight=False,
    )
    for bad in result.quarantined:
        console.print(f"  quarantined line {bad.line_no}: {bad.describe()}", markup=False)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain; exits 1 naming the first edited, removed or reordered event."""
    store, _ = _store()
    with store.reading() as tx:
        broken = audit_store.verify(tx)
        count = len(audit_store.events(tx)) if broken is None else 0
    if broken:
        _fail(f"audit chain broken at event {broken.seq}: {broken.problem}")
    console.print(f"audit chain intact: {count} events")


@audit_app.command("export")
def audit_export(output: Annotated[Path | None, typer.Option("-o", "--output")] = None) -> None:
    """Write every event as JSON Lines."""
    store, _ = _store()
    with store.reading() as tx:
        lines = [json.dumps(_jsonable(e), sort_keys=True) for e in audit_store.events(tx)]
    text = "\n".join(lines) + ("\n" if lines else "")
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _jsonable(event: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if k == "at" else v) for k, v in event.items() if k != "workspace_id"}


def main() -> None:  # pragma: no cover - console entry
    app()
