"""`billsync sync`, `push`, `connect`, `serve`, `connections ...` and `sandbox serve`."""

from __future__ import annotations

import datetime as dt
import webbrowser
from dataclasses import dataclass, field
from typing import Annotated

import typer
import uvicorn

from billsync.api.webhooks import create_app
from billsync.connectors.http import VendorError
from billsync.connectors.registry import all_platforms
from billsync.errors import UserError
from billsync.pipeline import webhooks
from billsync.pipeline.connections import connection as find_connection
from billsync.pipeline.connections import context_for, open_sink, open_source
from billsync.pipeline.oauth import connect as oauth_connect
from billsync.pipeline.push import PushSummary, push, refresh
from billsync.pipeline.sync import SyncSummary, sync
from billsync.pipeline.workspace import load_workspace
from billsync.sandbox.base import TimeSandbox
from billsync.sandbox.registry import all_sandboxes
from billsync.store import secrets, sync_state
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store

from .common import Format, FormatOption, console, emit, err, fail, open_default, spinner

app = typer.Typer(no_args_is_help=True, help="Connections to time and accounting platforms.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Local emulators of the vendor APIs.")

ConnectionOption = Annotated[
    str | None, typer.Option("--connection", "-c", help="One connection (default: all)")
]


def _codes(store: Store, only: str | None, *, pulls: bool) -> list[str]:
    with store.reading() as tx:
        connections = load_workspace(tx).connections
    if only is not None:
        if only not in connections:
            fail(f"no connection {only!r}")
        return [only]
    return sorted(
        code for code, c in connections.items() if (c.pull_time if pulls else c.push_invoices)
    )


def print_sync(summary: SyncSummary) -> None:
    console.print(
        f"{summary.connection}: {'full read; ' if summary.full else ''}"
        f"fetched {summary.fetched:,}  new {summary.new:,}  changed {summary.changed:,}  "
        f"unchanged {summary.unchanged:,}  deleted {summary.deleted:,}  "
        f"rejected {summary.rejected:,}",
        highlight=False,
    )


def print_push(summary: PushSummary) -> None:
    for number, remote in summary.sent:
        console.print(
            f"{number} -> {summary.connection} {remote.number} ({remote.status})", highlight=False
        )
    for number, was, now in summary.restatused:
        console.print(f"{number} at {summary.connection}: {was} -> {now}", highlight=False)
    for number, error in summary.failed:
        console.print(f"{number} -> {summary.connection} FAILED: {error}", highlight=False)


@dataclass
class SyncRun:
    """What `sync_all` did: each connection's summary, and each failure by its code."""

    done: list[SyncSummary] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def sync_all(
    store: Store,
    actor: str,
    only: str | None = None,
    *,
    full: bool = False,
    reconcile: bool | None = None,
) -> SyncRun:
    """Sync each connection in turn. One that fails (its vendor down, a credential
    refused) is reported under its code and the others still sync: one vendor's
    outage never keeps the other sources from being billed."""
    result = SyncRun()
    for code in _codes(store, only, pulls=True):
        try:
            summary = _sync_one(store, code, actor, full=full, reconcile=reconcile)
        except UserError as exc:
            result.failed[code] = _named(code, str(exc))
        except Exception as exc:  # a bug meeting one vendor's data: the others go on
            result.failed[code] = _named(code, f"unexpected {type(exc).__name__}: {exc}")
        else:
            print_sync(summary)
            result.done.append(summary)
            continue
        err.print(f"error: {result.failed[code]}", markup=False, highlight=False)
    return result


def _sync_one(
    store: Store, code: str, actor: str, *, full: bool, reconcile: bool | None
) -> SyncSummary:
    with spinner() as bar:
        task = bar.add_task(f"{code}: connecting")

        def show(s: SyncSummary) -> None:
            bar.update(task, description=f"{code}: {s.fetched:,} fetched, {s.new:,} new")

        summary = sync(store, code, actor, full=full, reconcile=reconcile, progress=show)
    if _has_webhooks(store, code):  # deliveries whose processing failed: retried
        summary.add_from(process(store, code))
    return summary


def _named(code: str, message: str) -> str:
    """The message under the connection's code (a vendor's error names only the
    platform, and two connections may share one)."""
    return message if message.startswith(f"{code}: ") else f"{code}: {message}"


def process(store: Store, code: str) -> SyncSummary:
    """The connection's pending webhook events processed (for `sync_all`); each one that
    failed, or was left pending for a retry, is printed with why."""
    done = webhooks.process(store, code)
    for event_id, error in done.failed:
        console.print(f"{code}: webhook event {event_id} FAILED: {error}", highlight=False)
    for event_id, error in done.retry:
        console.print(f"{code}: webhook event {event_id} left pending: {error}", highlight=False)
    return done


def _has_webhooks(store: Store, code: str) -> bool:
    chosen, _ = context_for(store, code)
    return chosen.webhooks


def push_all(store: Store, actor: str, only: str | None = None) -> list[PushSummary]:
    done = []
    for code in _codes(store, only, pulls=False):
        summary = push(store, code, actor)
        status = refresh(store, code, actor)
        summary.restatused, summary.failed = status.restatused, summary.failed + status.failed
        print_push(summary)
        done.append(summary)
    return done


def sync_command(
    connection: ConnectionOption = None,
    full: Annotated[bool, typer.Option("--full", help="Read everything, not only changes")] = False,
    reconcile: Annotated[
        bool | None,
        typer.Option("--reconcile/--no-reconcile", help="Sweep for deletions (default: daily)"),
    ] = None,
) -> None:
    """Pull time from every connection (or one): fetched, new, changed, deleted, rejected.
    A connection that fails is reported and the rest still sync; exit status 1 then."""
    store, settings = open_default()
    failed = sync_all(store, settings.who, connection, full=full, reconcile=reconcile).failed
    if failed:
        fail(f"{len(failed)} connection(s) failed to sync: {', '.join(failed)}")


def push_command(connection: ConnectionOption = None) -> None:
    """Send approved invoices to the accounting connections (through the outbox)."""
    store, settings = open_default()
    if any(summary.failed for summary in push_all(store, settings.who, connection)):
        raise typer.Exit(1)  # left in the outbox; the next push retries


def connect(
    connection: Annotated[str, typer.Argument(help="The connection's code")],
    port: Annotated[int, typer.Option(help="Local port for the OAuth2 callback")] = 8765,
) -> None:
    """Authorize billsync at the platform (OAuth2, with a local callback)."""
    store, settings = open_default()

    def show(url: str) -> None:
        console.print("Open this address, sign in and allow billsync:", highlight=False)
        console.print(f"  {url}", highlight=False, soft_wrap=True)
        webbrowser.open(url)

    oauth_connect(store, connection, settings.who, show, port)
    console.print(f"connected {connection} (token saved, encrypted)", highlight=False)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Serve the webhook receivers: POST /webhooks/{connection}."""
    store, _ = open_default()
    uvicorn.run(create_app(store), host=host, port=port)


@app.command("list")
def list_(format: FormatOption = Format.TABLE) -> None:
    """Every connection, its platform and where its sync stands."""
    store, _ = open_default()
    platforms = all_platforms()
    with store.reading() as tx:
        connections = load_workspace(tx).connections
        states = sync_state.all_states(tx)
        rows = []
        for code, c in sorted(connections.items()):
            state = states.get(code)
            last = state.last if state else {}
            rows.append(
                {
                    "connection": code,
                    "platform": platforms[c.platform].title if c.platform in platforms else "?",
                    "time": "in" if c.pull_time else "",
                    "invoices": "out" if c.push_invoices else "",
                    "base_url": c.base_url or "",
                    "secrets": ", ".join(secrets.names(tx, code)),
                    "last_sync": str(last.get("at", "never")),
                    "watermark": str(state.watermark) if state and state.watermark else "",
                }
            )
    emit(rows, format, title="Connections")


@app.command()
def test(connection: Annotated[str, typer.Argument(help="The connection's code")]) -> None:
    """Call the platform with the connection's credentials; fail loudly if refused."""
    store, _ = open_default()
    chosen, context = context_for(store, connection)
    try:
        if context.connection.pull_time and chosen.source is not None:
            today = dt.date.today()
            found = open_source(chosen, context).listed_ids(today, today)
            console.print(f"{connection}: time readable ({len(found)} entries today)")
        if context.connection.push_invoices and chosen.sink is not None:
            open_sink(chosen, context).find_invoice("billsync-connection-test")
            console.print(f"{connection}: invoices reachable")
    except VendorError as exc:
        fail(str(exc))


@app.command("set-secret")
def set_secret(
    connection: Annotated[str, typer.Argument(help="The connection's code")],
    name: Annotated[str, typer.Argument(help="The credential's name, e.g. token")],
    value: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Read from a prompt")],
) -> None:
    """Store a credential encrypted (for credentials given as `stored`)."""
    if not value.strip():
        fail(f"{connection}: {name}: the value is empty; nothing was stored")
    store, settings = open_default()
    with store.transaction() as tx:
        authorize(tx, settings.who, "connections")
        known = sorted(find_connection(tx, connection).credentials)
        if name not in known:
            # Stored under another name, it would never be read.
            fail(
                f"{connection}: has no credential {name!r} "
                f"(its credentials: {', '.join(known) or 'none'}); nothing was stored"
            )
        secrets.put(tx, connection, name, value)
        AuditLog(tx, settings.who).record(
            "connection.secret_set", f"connection:{connection}", None, {"name": name}
        )
    console.print(f"{connection}: {name} stored (encrypted)", highlight=False)


@sandbox_app.command("serve")
def sandbox_serve(
    platform: Annotated[str, typer.Argument(help="harvest, toggl, clockify, quickbooks, xero")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 8100,
    size: Annotated[int, typer.Option(help="Time entries to seed")] = 500,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Run one vendor sandbox alone; prints its base URL and the credentials to use."""
    sandboxes = all_sandboxes()
    if platform not in sandboxes:
        fail(f"no sandbox {platform!r} (known: {', '.join(sorted(sandboxes))})")
    cls = sandboxes[platform]
    sandbox = cls(seed=seed, size=size) if issubclass(cls, TimeSandbox) else cls(seed=seed)
    url = f"http://127.0.0.1:{port}"
    console.print(f"{platform} sandbox at {url}", highlight=False)
    if isinstance(sandbox, TimeSandbox):
        setup = sandbox.setup(url)
        emit(
            [{"kind": "setting", "name": k, "value": v} for k, v in setup.settings.items()]
            + [{"kind": "credential", "name": k, "value": v} for k, v in setup.credentials.items()],
            Format.TABLE,
            title="Use these",
        )
    uvicorn.run(sandbox.app, host="127.0.0.1", port=port, log_level="warning")
