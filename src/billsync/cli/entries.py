"""`billsync entries ...`: finance acts on entries, one or in bulk, with a reason."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from billsync.domain.entries import EntryState
from billsync.pipeline.actions import adjust, change_state, transfer
from billsync.store.tables import time_entries

from .common import MAX_IDS, Format, FormatOption, console, emit, open_default, parse_ids

app = typer.Typer(
    no_args_is_help=True, help="Entries: list, hold, release, write off, transfer, adjust."
)
Ids = Annotated[str, typer.Argument(help="Entry ids: 12,14-16")]
Reason = Annotated[str, typer.Option(help="Why (recorded in the audit trail)")]


@app.command("list")
def list_(
    project: Annotated[str | None, typer.Option()] = None,
    person: Annotated[str | None, typer.Option()] = None,
    state: Annotated[EntryState | None, typer.Option(help="active, held, written_off")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_IDS)] = 50,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Entries as mapped, newest revision."""
    store, _ = open_default()
    t = time_entries
    with store.reading() as tx:
        query = select(t).where(t.c.workspace_id == tx.workspace_id)
        for column, value in (
            (t.c.project, project),
            (t.c.person, person),
            (t.c.state, state and state.value),
        ):
            if value:
                query = query.where(column == value)
        rows = tx.conn.execute(query.order_by(t.c.work_date, t.c.id).limit(limit)).all()
    emit(
        [
            {
                "id": r.id,
                "source": r.source,
                "external_id": r.external_id,
                "rev": r.revision,
                "date": r.work_date,
                "person": r.person or f"?{r.src_person}",
                "project": r.project or f"?{r.src_project}",
                "task": r.task,
                "hours": f"{r.duration_seconds / 3600:.2f}",
                "approval": r.approval,
                "state": r.state,
            }
            for r in rows
        ],
        fmt,
        title="Entries",
    )


def _done(count: int, what: str) -> None:
    console.print(f"{count} entries {what}")


def _state(ids: str, action: str, reason: str) -> None:
    store, settings = open_default()
    count = change_state(store, parse_ids(ids), action, reason=reason, actor=settings.who)
    _done(count, {"hold": "held", "release": "released", "write-off": "written off"}[action])


@app.command()
def hold(ids: Ids, reason: Reason) -> None:
    """Keep entries off invoices until released."""
    _state(ids, "hold", reason)


@app.command()
def release(ids: Ids, reason: Reason) -> None:
    """Release held entries."""
    _state(ids, "release", reason)


@app.command("write-off")
def write_off(ids: Ids, reason: Reason) -> None:
    """Never bill these entries; they are reported as leakage."""
    _state(ids, "write-off", reason)


@app.command("transfer")
def transfer_(
    ids: Ids,
    project: Annotated[str, typer.Option()],
    reason: Reason,
    task: Annotated[str, typer.Option()] = "",
) -> None:
    """Move entries to another project (and task)."""
    store, settings = open_default()
    count = transfer(
        store, parse_ids(ids), project=project, task=task, reason=reason, actor=settings.who
    )
    _done(count, f"transferred to {project}{'/' + task if task else ''}")


@app.command("adjust")
def adjust_(
    ids: Ids,
    minutes: Annotated[int, typer.Option(help="+ writes up, - writes down")],
    note: Reason,
    code: Annotated[str, typer.Option("--code", help="write_up or write_down")] = "",
) -> None:
    """Write billable time up or down; the worked time stays as recorded."""
    store, settings = open_default()
    reason_code = code or ("write_up" if minutes > 0 else "write_down")
    count = adjust(
        store,
        parse_ids(ids),
        minutes=minutes,
        reason=reason_code,
        note=note,
        actor=settings.who,
    )
    _done(count, f"adjusted by {minutes:+d} min ({reason_code})")
