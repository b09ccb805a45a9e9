"""`billsync exceptions ...`: the queue finance works through."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from billsync.store import exceptions as exception_store
from billsync.store.audit import AuditLog

from .common import MAX_ID, Format, FormatOption, console, emit, fail, open_default

app = typer.Typer(no_args_is_help=True, help="Exceptions: list, show, resolve, waive.")
ExceptionId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="The exception's id")]


class Status(StrEnum):
    OPEN = exception_store.OPEN
    RESOLVED = exception_store.RESOLVED
    WAIVED = exception_store.WAIVED
    ALL = "all"


@app.command("list")
def list_(
    status: Annotated[Status, typer.Option(help="open, resolved, waived or all")] = Status.OPEN,
    code: Annotated[str | None, typer.Option(help="e.g. entry.* or cap.exceeded")] = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Exceptions, newest last."""
    store, _ = open_default()
    with store.reading() as tx:
        rows = exception_store.listing(
            tx, status=None if status is Status.ALL else status.value, code=code
        )
    emit(
        [
            {
                "id": r["id"],
                "code": r["code"],
                "severity": r["severity"],
                "status": r["status"],
                "subject": r["subject"],
                "message": r["message"],
            }
            for r in rows
        ],
        fmt,
        title="Exceptions",
    )


@app.command()
def show(exception_id: ExceptionId) -> None:
    """One exception in full."""
    store, _ = open_default()
    with store.reading() as tx:
        row = exception_store.get(tx, exception_id)
    if row is None:
        fail(f"exception {exception_id}: no such exception")
    for key in (
        "id",
        "code",
        "severity",
        "status",
        "subject",
        "contract",
        "message",
        "entry_ids",
        "hours",
        "amount",
        "created_at",
        "closed_by",
        "closed_reason",
        "closed_at",
    ):
        if row[key] not in (None, "", []):
            console.print(f"{key:>14}: {row[key]}", markup=False, highlight=False)


def _close(exception_id: int, status: str, reason: str) -> None:
    store, settings = open_default()
    with store.transaction() as tx:
        exception_store.close(
            tx,
            exception_id,
            status=status,
            actor=settings.who,
            reason=reason,
            audit=AuditLog(tx, settings.who),
        )
    console.print(f"exception {exception_id}: {status}")


@app.command()
def resolve(exception_id: ExceptionId, reason: Annotated[str, typer.Option()]) -> None:
    """Mark fixed; if the next run still finds it, it opens again."""
    _close(exception_id, exception_store.RESOLVED, reason)


@app.command()
def waive(exception_id: ExceptionId, reason: Annotated[str, typer.Option()]) -> None:
    """Accept it as it is: its entries may be billed."""
    _close(exception_id, exception_store.WAIVED, reason)
