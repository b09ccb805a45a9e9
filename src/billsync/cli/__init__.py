"""The `billsync` command."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from billsync.errors import UserError

from . import audit, connections, demo, entries, exceptions, invoices, pipeline, reports, workspace
from .common import fail


class _Guarded(TyperGroup):
    """Every command's user errors print as one line and exit 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            fail(str(exc))


app = typer.Typer(
    cls=_Guarded,
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
app.command("sync")(connections.sync_command)
app.command("push")(connections.push_command)
app.command()(connections.connect)
app.command()(connections.serve)
app.add_typer(connections.app, name="connections")
app.add_typer(connections.sandbox_app, name="sandbox")
app.add_typer(workspace.project_app, name="project")
app.add_typer(workspace.periods_app, name="periods")
app.add_typer(entries.app, name="entries")
app.add_typer(exceptions.app, name="exceptions")
app.add_typer(invoices.app, name="invoices")
app.add_typer(audit.app, name="audit")
app.add_typer(reports.app, name="reports")
