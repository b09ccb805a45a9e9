"""`billsync run` and manual invoicing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from billsync.pipeline.run import RunReport, run
from billsync.store import invoices as invoice_store
from billsync.store.db import Store
from billsync.triggers.manual import invoice_now, release_retainage

from .common import Format, TodayOption, console, emit, fail, open_default, spinner, today_of
from .connections import push_all, sync_all

STAGES = ("load", "map", "validate", "rate", "cap", "draft")


def print_run(store: Store, report: RunReport) -> None:
    console.print(
        f"{report.entries} entries; exceptions: {report.exceptions.opened} opened, "
        f"{report.exceptions.reopened} reopened, {report.exceptions.resolved} resolved; "
        f"{len(report.drafted)} invoice(s) drafted",
        highlight=False,
    )
    if report.drafted:
        with store.reading() as tx:
            rows = [invoice_store.get(tx, i) for i in report.drafted]
        emit(
            [
                {
                    "number": r["number"],
                    "contract": r["contract"],
                    "kind": r["kind"],
                    "period": f"{r['period_start'] or ''}..{r['period_end'] or ''}",
                    "total": f"{r['total']} {r['currency']}",
                }
                for r in rows
            ],
            Format.TABLE,
            title="Drafted",
        )


def run_command(
    today: TodayOption = None,
    connections: Annotated[
        bool, typer.Option("--connections/--no-connections", help="Sync first, push after")
    ] = True,
) -> None:
    """Sync every connection, run the pipeline, draft what is due, push approved invoices.
    A connection that fails to sync is reported and the run goes on with what the
    others brought (month-end bills every source that answers); exit status 1 at the
    end if a sync or a push failed."""
    store, settings = open_default()
    failed: list[str] = []
    if connections:
        failed += sync_all(store, settings.who).failed
    with spinner() as bar:
        task = bar.add_task("load", total=len(STAGES))
        report = run(
            store,
            today=today_of(today),
            actor=settings.who,
            progress=lambda stage: bar.update(task, advance=1, description=stage),
        )
    print_run(store, report)
    if connections:
        pushes = push_all(store, settings.who)
        failed += [f"{p.connection} (push)" for p in pushes if p.failed]
    if failed:
        fail(f"finished, but these failed: {', '.join(failed)}")


def invoice(
    contract: Annotated[str, typer.Option(help="Contract code")],
    reason: Annotated[str, typer.Option(help="Why out of cycle (recorded)")],
    through: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Bill work up to this day")
    ] = None,
    release: Annotated[
        bool, typer.Option("--release-retainage", help="Release the retainage held instead")
    ] = False,
    today: TodayOption = None,
) -> None:
    """Draft an out-of-cycle invoice now (or release retainage)."""
    if release and through:
        fail("--through: a retainage release bills no work; leave --through out")
    store, settings = open_default()
    if release:
        report = release_retainage(
            store, contract=contract, reason=reason, actor=settings.who, today=today_of(today)
        )
    else:
        report = invoice_now(
            store,
            contract=contract,
            reason=reason,
            actor=settings.who,
            today=today_of(today),
            through=through.date() if through else None,
        )
    print_run(store, report)
