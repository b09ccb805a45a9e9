"""The `billsync` command."""

from __future__ import annotations

import typer

from . import audit, demo, entries, exceptions, invoices, pipeline, reports, workspace

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Tracked work hours in, accurate client invoices out.",
)
app.command()(demo.demo)
app.command()(workspace.apply)
app.command()(workspace.export)
app.command("import")(workspace.import_)
app.command("run")(pipeline.run_command)
app.command()(pipeline.invoice)
app.add_typer(workspace.project_app, name="project")
app.add_typer(workspace.periods_app, name="periods")
app.add_typer(entries.app, name="entries")
app.add_typer(exceptions.app, name="exceptions")
app.add_typer(invoices.app, name="invoices")
app.add_typer(audit.app, name="audit")
app.add_typer(reports.app, name="reports")
