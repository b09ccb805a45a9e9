"""The demo flow: a fresh SQLite workspace, three months of time that arrives the way a
firm's time arrives (two vendor APIs and a payroll export), one pipeline run, invoices
pushed to the accounting system, and the view a finance lead opens first.

    1. apply firm.yaml (dates moved to sit around `today`)
    2. generate time from the first day of the month three months back to yesterday:
       the office time goes into vendor sandboxes running on loopback (Bergen's in
       Harvest, Houston's and Singapore's in Clockify), the yard and offshore crews'
       into a payroll CSV (payroll has only an export)
    3. configure connections `harvest`, `clockify` and `qbo` (QuickBooks Online, the
       Houston entity's books in USD) on those sandboxes: a `connections:` section
       applied, secrets stored encrypted, the OAuth2 token QuickBooks granted stored
    4. sync both time tools over real HTTP; import the payroll file
    5. run the pipeline as of `today`, with a progress bar per stage
    6. approve the USD invoices (the ones the Houston books take), push them to
       QuickBooks through the outbox, verify the audit chain
    7. print invoices drafted and pushed (billsync's number beside QuickBooks'),
       exceptions by type, work in progress, where to look next

Everything goes through the same functions the commands use (`pipeline.workspace
.apply`, `store.secrets`, `pipeline.sync.sync`, `pipeline.files.import_file`,
`pipeline.run.run`, `pipeline.push.push`), so the demo shows what billsync does, not
a mock-up of it.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select

from billsync.config.loader import parse
from billsync.domain.canonical import Defaults
from billsync.domain.contracts import BillingMode, Contract
from billsync.domain.money import ZERO, quantize
from billsync.domain.workspace import Client
from billsync.errors import UserError
from billsync.pipeline.files import ImportResult, import_file
from billsync.pipeline.push import PushSummary, push
from billsync.pipeline.run import RunReport, run
from billsync.pipeline.sync import SyncSummary, sync
from billsync.pipeline.workspace import apply
from billsync.reports import leakage as leakage_report
from billsync.reports import wip as wip_report
from billsync.reports.book import Book
from billsync.reports.leakage import LeakageRow
from billsync.reports.wip import WipRow
from billsync.store import audit as audit_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx, open_store
from billsync.store.tables import line_entries

from . import FIRM_FILE, firm_text, vendors
from .timegen import PAYROLL, Row, generate, is_malformed, records_of, write_by_source
from .vendors import ACCOUNTING, QBO_CURRENCY, TIME_TOOLS, split_office_time

__all__ = ["DemoError", "DemoSummary", "demo_window", "run_demo"]

SEED = 20261125
ACTOR = "demo"
APPROVER = "ragnhild.solberg@skagerak-marine.com"
MARKER = "demo.created"  # the audit event that says a database is a demo's to replace
STAGES = ("load", "map", "validate", "rate", "cap", "draft")
PAYROLL_FILE = "payroll-hours.csv"
SQLITE_HEADER = b"SQLite format 3\x00"
LEGAL_FORM = re.compile(r"(\s+(AS|ASA|KK|LLC|Inc\.?|Ltd\.?|Pte|plc|GmbH|AB|BV))+$")


class DemoError(UserError):
    """The demo cannot run here (a file in the way that is not a demo database)."""


@dataclass
class DemoSummary:
    path: Path
    url: str
    today: date
    window: tuple[date, date]
    rows: dict[str, int]  # generated rows: "harvest"/"clockify" (in each sandbox), "payroll"
    imports: dict[str, ImportResult]  # the payroll file
    syncs: dict[str, SyncSummary]  # by connection code
    connections: str  # the `connections:` section applied
    report: RunReport
    invoices: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]  # code, severity, count, hours, amount
    wip: list[WipRow]  # billsync.reports.wip rows, per client and project
    leakage: list[LeakageRow]  # billsync.reports.leakage rows of the leakage section
    approved: list[str]  # invoice numbers, oldest first
    pushed: PushSummary
    at_vendor: list[dict[str, Any]]  # the QuickBooks sandbox's invoices after the push
    audit_events: int
    audit_intact: bool
    holiday_entry: int | None
    seconds: dict[str, float] = field(default_factory=dict)


def demo_window(today: date) -> tuple[date, int]:
    """From the first day of the month three months back, up to yesterday."""
    index = today.year * 12 + today.month - 1 - 3
    start = date(index // 12, index % 12 + 1, 1)
    return start, (today - start).days


def _is_demo_database(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            found = conn.execute(
                "SELECT 1 FROM audit_events WHERE action = ? LIMIT 1", (MARKER,)
            ).fetchone()
    except sqlite3.Error:
        return False
    return found is not None


def _fresh(path: Path) -> None:
    """Remove an earlier demo database; refuse to touch any other file."""
    if path.exists() and not (path.is_file() and _is_demo_database(path)):
        raise DemoError(
            f"{path} exists and is not a billsync demo database; "
            f"choose another path or remove it yourself"
        )
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def run_demo(
    path: Path,
    *,
    today: date,
    console: Console,
    days: int | None = None,
    seed: int = SEED,
) -> DemoSummary:
    """Build the demo workspace at `path` (replacing an earlier demo there) as of
    `today`, print what finance sees, and return it. `days` shortens the time."""
    if days is not None and days < 1:
        raise ValueError(f"days must be one or more, not {days}")
    path = path.resolve()
    _fresh(path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        return _build(store, path, url, today, console, days, seed)
    finally:
        store.close()


def _build(
    store: Store,
    path: Path,
    url: str,
    today: date,
    console: Console,
    days: int | None,
    seed: int,
) -> DemoSummary:
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    start, window_days = demo_window(today)
    if days is not None:
        window_days = min(days, window_days)
        start = today - timedelta(days=window_days)
    window = (start, start + timedelta(days=window_days - 1))

    console.rule("[bold]billsync demo: Skagerak Marine Engineering")
    records = parse(FIRM_FILE, firm_text(today))
    applied = apply(store, FIRM_FILE, records, ACTOR)
    with store.transaction() as tx:
        AuditLog(tx, ACTOR).record(
            MARKER, "workspace", None, {"today": today, "seed": seed, "window": list(window)}
        )
    console.print(_workspace_line(records, len(applied.changes)), highlight=False)
    lap("apply")

    with tempfile.TemporaryDirectory(prefix="billsync-demo-") as tmp:
        payroll_file = Path(tmp) / PAYROLL_FILE
        office, rows = _generate(payroll_file, records, start, window_days, seed, console, window)
        items, _ = split_office_time(office, records)
        rows.update({code: len(items[code]) for code in TIME_TOOLS})
        lap("generate")
        with vendors.started(items, seed) as running:
            connections = vendors.connect(store, running, ACTOR)
            _print_vendors(console, running, today, window)
            lap("connect")
            syncs = _sync(store, console)
            lap("sync")
            imports = {PAYROLL: _import(store, payroll_file, console)}
            lap("import")
            report = _run(store, today, console)
            lap("run")
            approved = _approve(store, report)
            lap("approve")
            pushed = push(store, ACCOUNTING, APPROVER)
            at_vendor = running.books.invoices()
            lap("push")

    names = {c.code: _short(c.name) for c in records_of(records, "client", Client)}
    with store.reading() as tx:  # reports run prepare(); reading() rolls back its writes
        invoices = invoice_store.listing(tx)
        exceptions = _exceptions_by_code(exception_store.listing(tx))
        book = Book.read(tx, today)
        wip = wip_report.rows(book)
        leakage = [r for r in leakage_report.rows(book) if r.section == "leakage"]
        holiday_entry = _holiday_entry(tx)
    with store.reading() as tx:
        broken = audit_store.verify(tx)
        events = len(audit_store.events(tx))
    lap("report")

    _print_invoices(console, invoices, names, report, approved)
    _print_pushed(console, pushed, at_vendor, invoices, names)
    _print_exceptions(console, exceptions)
    _print_wip(console, wip, leakage, names, records)
    if broken is None:
        console.print(f"\n[bold]Audit trail[/bold]: chain intact, {events} events verified")
    else:
        console.print(
            f"\n[bold red]Audit trail broken[/bold red] at event {broken.seq}: {broken.problem}"
        )
    total = sum(seconds.values())
    console.print(
        f"Built in {total:.1f} s (generate {seconds['generate']:.1f} s, sandboxes and "
        f"connections {seconds['connect']:.1f} s, sync over HTTP {seconds['sync']:.1f} s, "
        f"import {seconds['import']:.1f} s, pipeline {seconds['run']:.1f} s, push "
        f"{seconds['push']:.1f} s)",
        highlight=False,
    )
    summary = DemoSummary(
        path=path,
        url=url,
        today=today,
        window=window,
        rows=rows,
        imports=imports,
        syncs=syncs,
        connections=connections,
        report=report,
        invoices=invoices,
        exceptions=exceptions,
        wip=wip,
        leakage=leakage,
        approved=approved,
        pushed=pushed,
        at_vendor=at_vendor,
        audit_events=events,
        audit_intact=broken is None,
        holiday_entry=holiday_entry,
        seconds=seconds,
    )
    _print_hints(console, summary)
    return summary


# -- the steps ---------------------------------------------------------------------------


def _workspace_line(records: dict[str, list[BaseModel]], changes: int) -> str:
    counts = {kind: len(items) for kind, items in records.items()}
    contracts = records_of(records, "contract", Contract)
    currencies = sorted({c.currency for c in contracts})
    return (
        f"Workspace: {counts.get('client', 0)} clients, {counts.get('site', 0)} sites "
        f"(Bergen, Houston, Singapore), {counts.get('person', 0)} people, "
        f"{counts.get('project', 0)} projects, {len(contracts)} contracts in "
        f"{', '.join(currencies)}, {counts.get('rule', 0)} mapping rules ({changes} records "
        f"applied)"
    )


def _generate(
    payroll_file: Path,
    records: dict[str, list[BaseModel]],
    start: date,
    days: int,
    seed: int,
    console: Console,
    window: tuple[date, date],
) -> tuple[list[Row], dict[str, int]]:
    """Write the payroll rows to the payroll export; return the office rows (for the
    vendor sandboxes) and how many rows each file got."""
    office: list[Row] = []
    with _progress(console) as bar:
        task = bar.add_task("Generating time", total=days)

        def advancing(rows: Iterable[Row]) -> Iterator[Row]:
            last, end = "", window[1].isoformat()
            for row in rows:
                if row["date"] != last and not is_malformed(row) and row["date"] <= end:
                    last = row["date"]
                    bar.update(task, completed=(date.fromisoformat(last) - start).days + 1)
                if row["source"] == PAYROLL:
                    yield row
                else:
                    office.append(row)

        counts = write_by_source(
            advancing(generate(records, start=start, days=days, seed=seed)),
            {PAYROLL: payroll_file},
        )
        bar.update(task, completed=days)
    return office, counts


def _print_vendors(
    console: Console, running: vendors.Vendors, today: date, window: tuple[date, date]
) -> None:
    seeded = running.seeded
    console.print(
        f"Time: {window[0]} to {window[1]} (today is {today}), tracked where each office "
        f"tracks it; the vendors run as sandboxes on loopback:",
        highlight=False,
    )
    lines = [
        ("harvest", "Harvest", f"Bergen office, {seeded['harvest']:,} time entries"),
        ("clockify", "Clockify", f"Houston and Singapore offices, {seeded['clockify']:,} entries"),
        (ACCOUNTING, "QuickBooks Online", "the Houston entity's books (USD)"),
    ]
    for code, title, what in lines:
        console.print(f"  {title:<18} {running.urls[code]:<24} {what}", highlight=False)
    console.print(
        f"Connections applied ({vendors.CONNECTIONS_FILE}): harvest, clockify, qbo (push "
        "invoices); each sandbox's credentials stored encrypted, QuickBooks' OAuth2 token too",
        highlight=False,
    )


def _sync(store: Store, console: Console) -> dict[str, SyncSummary]:
    done: dict[str, SyncSummary] = {}
    with _progress(console) as bar:
        for code in TIME_TOOLS:
            task = bar.add_task(f"Syncing {code}", total=None)

            def show(s: SyncSummary, task: TaskID = task, code: str = code) -> None:
                bar.update(task, description=f"Syncing {code}: {s.fetched:,}")

            done[code] = sync(store, code, ACTOR, progress=show)
            bar.update(task, total=1, completed=1, description=f"Synced {code}")
    for code, s in done.items():
        console.print(
            f"  {code}: {'full read; ' if s.full else ''}fetched {s.fetched:,} over HTTP, "
            f"{s.new:,} new entries, {s.rejected:,} rejected",
            highlight=False,
        )
    return done


def _import(store: Store, path: Path, console: Console) -> ImportResult:
    with _progress(console) as bar:
        task = bar.add_task(f"Importing {path.name}", total=1)
        result = import_file(store, path, source=PAYROLL, actor=ACTOR, defaults=Defaults())
        bar.advance(task)
    c = result.counts
    console.print(
        f"  {path.name} (payroll has only an export): {result.lines:,} lines, "
        f"{c.new:,} new entries, {len(result.quarantined)} quarantined",
        highlight=False,
    )
    for bad in result.quarantined:
        console.print(
            f"    quarantined line {bad.line_no}: {bad.describe()}",
            markup=False,
            highlight=False,
        )
    return result


def _run(store: Store, today: date, console: Console) -> RunReport:
    with _progress(console) as bar:
        task = bar.add_task("Pipeline: load", total=len(STAGES))

        def progress(stage: str) -> None:
            following = STAGES.index(stage) + 1 if stage in STAGES else len(STAGES)
            label = STAGES[following] if following < len(STAGES) else "done"
            bar.update(task, advance=1, description=f"Pipeline: {label}")

        report = run(store, today=today, actor=ACTOR, progress=progress)
    e = report.exceptions
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in report.seconds.items())
    console.print(
        f"  {report.entries} entries; {e.opened} exceptions opened; "
        f"{len(report.drafted)} invoices drafted ({timing})",
        highlight=False,
    )
    return report


def _approve(store: Store, report: RunReport) -> list[str]:
    """Finance approves the drafts the Houston books take (USD), oldest first, as it
    would after review; the others wait."""
    with store.transaction() as tx:
        drafted = [invoice_store.get(tx, i) for i in report.drafted]
        chosen = sorted(
            (i for i in drafted if i["status"] == "draft" and i["currency"] == QBO_CURRENCY),
            key=lambda i: (i["kind"] != "period", i["period_start"] or date.max, i["id"]),
        )
        audit = AuditLog(tx, APPROVER)
        for inv in chosen:
            invoice_store.approve(tx, inv["number"], APPROVER, audit)
        return sorted(str(inv["number"]) for inv in chosen)


def _exceptions_by_code(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["code"], r["severity"]),
            {"code": r["code"], "severity": r["severity"], "count": 0, "hours": None,
             "example": r["message"]},
        )  # fmt: skip
        g["count"] += 1
        if r["entry_ids"] and r["hours"] is not None:  # a cap warning's hours are usage
            g["hours"] = (g["hours"] or ZERO) + r["hours"]
    order = {"blocking": 0, "warning": 1}
    return sorted(groups.values(), key=lambda g: (order.get(g["severity"], 2), g["code"]))


def _holiday_entry(tx: Tx) -> int | None:
    """An entry billed at a holiday premium: a good story for `audit show`."""
    found = tx.conn.execute(
        select(line_entries.c.entry_id)
        .where(line_entries.c.premium.like("%holiday%"))
        .order_by(line_entries.c.entry_id)
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


# -- what finance sees -------------------------------------------------------------------


def _short(name: str) -> str:
    """A client's name without its legal form: "Kobe Marine KK" -> "Kobe Marine"."""
    return LEGAL_FORM.sub("", name) or name


def _money(value: Decimal, currency: str) -> str:
    return f"{quantize(value, currency):,}"


def _period(inv: dict[str, Any]) -> str:
    start, end = inv["period_start"], inv["period_end"]
    if start is None:
        return f"to {inv['issue_date']}"
    if start.day == 1 and (end + timedelta(days=1)).day == 1 and start.month == end.month:
        return f"{start:%Y-%m}"
    return f"{start}..{end}"


def _table(title: str, *columns: str, wrap: str = "client") -> Table:
    """Columns named with a leading ">" are numbers, right-aligned. On a narrow
    terminal only the `wrap` column wraps: numbers and codes stay whole."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name in columns:
        header = name.lstrip(">")
        table.add_column(
            header,
            justify="right" if name[0] == ">" else "left",
            no_wrap=header != wrap,
            min_width=len(header) if header != wrap else 10,
        )
    return table


def _print_invoices(
    console: Console,
    invoices: list[dict[str, Any]],
    names: dict[str, str],
    report: RunReport,
    approved: list[str],
) -> None:
    drafted = set(report.drafted)
    shown = [inv for inv in invoices if inv["id"] in drafted]
    table = _table(
        f"Invoices drafted ({len(shown)})",
        "number",
        "client",
        "contract",
        "kind",
        "period",
        "cur",
        ">subtotal",
        ">tax",
        ">total",
    )
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO])
    for inv in shown:
        cur = inv["currency"]
        mark = " [green]✓[/green]" if inv["status"] == "approved" else ""
        table.add_row(
            inv["number"] + mark,
            names.get(inv["client"], inv["client"]),
            inv["contract"],
            inv["kind"],
            _period(inv),
            cur,
            _money(inv["subtotal"], cur),
            _money(inv["tax"], cur),
            _money(inv["total"], cur),
        )
        for i, key in enumerate(("subtotal", "tax", "total", "retainage")):
            totals[cur][i] += inv[key]
    table.add_section()
    for cur in sorted(totals):
        subtotal, tax, total, _ = totals[cur]
        table.add_row(
            "Total",
            "",
            "",
            "",
            "",
            cur,
            _money(subtotal, cur),
            _money(tax, cur),
            _money(total, cur),
            style="bold",
        )
    console.print()
    console.print(table)
    withheld = [f"{_money(t[3], cur)} {cur}" for cur, t in sorted(totals.items()) if t[3]]
    if withheld:
        console.print(f"Retainage withheld from these totals: {', '.join(withheld)}.")
    if approved:
        console.print(
            f"✓ {_span(approved)} ({QBO_CURRENCY}) approved by {APPROVER}; the other "
            "drafts wait for review.",
            highlight=False,
        )


def _span(numbers: list[str]) -> str:
    return numbers[0] if len(numbers) == 1 else f"{len(numbers)} invoices, {', '.join(numbers)}"


def _print_pushed(
    console: Console,
    pushed: PushSummary,
    at_vendor: list[dict[str, Any]],
    invoices: list[dict[str, Any]],
    names: dict[str, str],
) -> None:
    """billsync's number beside the one QuickBooks gave, read back from the sandbox."""
    ours = {inv["number"]: inv for inv in invoices}
    theirs = {str(inv.get("Id")): inv for inv in at_vendor}
    table = _table(
        f"Pushed to QuickBooks Online, connection {pushed.connection} ({len(pushed.sent)})",
        "billsync",
        "client",
        "cur",
        ">amount due",
        "QuickBooks Id",
        "DocNumber",
        ">TotalAmt",
        ">Balance",
        "status",
    )
    for number, remote in pushed.sent:
        inv, qbo = ours[number], theirs.get(remote.remote_id, {})
        cur = inv["currency"]
        table.add_row(
            number,
            names.get(inv["client"], inv["client"]),
            cur,
            _money(inv["amount_due"], cur),
            remote.remote_id,
            str(qbo.get("DocNumber", "?")),
            _money(Decimal(str(qbo.get("TotalAmt", 0))), cur),
            _money(Decimal(str(qbo.get("Balance", 0))), cur),
            remote.status,
        )
    console.print()
    console.print(table)
    for number, error in pushed.failed:
        console.print(f"{number}: not pushed ({error}); left in the outbox", highlight=False)
    console.print(
        "Sent through the outbox: a retry finds the invoice by DocNumber or replays the same "
        "requestid, so none is created twice.",
        style="dim",
    )


def _print_exceptions(console: Console, groups: list[dict[str, Any]]) -> None:
    table = _table(
        "Open exceptions by type", "code", "severity", ">count", ">hours", "for example", wrap=""
    )
    example = table.columns[-1]
    example.overflow = "ellipsis"
    example.max_width = max(20, console.width - 62)
    for g in groups:
        style = "red" if g["severity"] == "blocking" else "yellow"
        table.add_row(
            g["code"],
            f"[{style}]{g['severity']}[/{style}]",
            str(g["count"]),
            "" if g["hours"] is None else f"{g['hours']:,.2f}",
            g["example"],
        )
    console.print()
    console.print(table)
    if any(g["code"] == "entry.rate_mismatch" for g in groups):
        console.print(
            "entry.rate_mismatch: Harvest and Clockify send their own billable rates (the "
            "sandboxes' defaults), not the contracts'; invoices use the contract rates.",
            style="dim",
        )


def _print_wip(
    console: Console,
    rows: list[WipRow],
    leakage: list[LeakageRow],
    names: dict[str, str],
    records: dict[str, list[BaseModel]],
) -> None:
    table = _table(
        "Work in progress: worked, not yet invoiced",
        "client",
        "project",
        "cur",
        ">hours",
        ">amount",
        ">0-30 days",
        ">31-60",
        ">over 60",
        ">blocked",
    )

    def cell(value: Decimal | None, cur: str) -> str:
        return "" if value is None else _money(value, cur)

    totals = [t for t in wip_report.totals(rows) if t.currency]  # unmapped work: no money
    for r in [*rows, *totals]:
        cur = r.currency
        older = None if r.age_61_90 is None else r.age_61_90 + (r.age_over_90 or ZERO)
        table.add_row(
            names.get(r.client, r.client),
            r.project,
            cur,
            f"{r.hours:,.2f}",
            cell(r.amount, cur),
            cell(r.age_0_30, cur),
            cell(r.age_31_60, cur),
            cell(older, cur),
            cell(r.blocked, cur),
            style="bold" if r.client == "Total" else None,
            end_section=r.client != "Total" and r is rows[-1],
        )
    console.print()
    console.print(table)
    fees = sorted(
        c.code
        for c in records_of(records, "contract", Contract)
        if c.billing is BillingMode.MILESTONE
    )
    notes = ["blocked: behind an open blocking exception"]
    if fees:
        notes.append(f"{', '.join(fees)} bills milestone fees, its time is shown at its rates")
    console.print("; ".join(notes) + ".", style="dim")
    lost = [
        f"{r.type.replace('_', ' ')} {r.hours or ZERO:,.2f} h"
        + (f" ({_money(r.amount, r.currency)} {r.currency})" if r.amount is not None else "")
        for r in leakage
    ]
    if lost:
        console.print(f"Leakage (never billed): {'; '.join(lost)}.", highlight=False)


def _print_hints(console: Console, s: DemoSummary) -> None:
    first = s.approved[0] if s.approved else (s.invoices[0]["number"] if s.invoices else "")
    asof = "" if s.today == date.today() else f" --today {s.today}"
    hints: list[tuple[str, str]] = [
        ("billsync invoices list", "every invoice with its totals"),
        ("billsync connections list", "the connections, their last sync and watermark"),
        (f"billsync invoices show {first}", "its lines: quantity x unit price = amount"),
        ("billsync exceptions list --code 'entry.*'", "the queue finance works through"),
        (f"billsync reports caps{asof}", "limits, usage and burn of every cap"),
        (f"billsync reports wip{asof}", "unbilled work, aged"),
        (
            f"billsync run --no-connections{asof}",
            "run again: nothing is billed twice (the sandboxes stopped with the demo)",
        ),
        ("billsync audit verify", "check the hash chain"),
    ]
    if s.holiday_entry is not None:
        hints.insert(
            3,
            (
                f"billsync audit show --entry {s.holiday_entry}",
                "an hour on a public holiday, from its raw record to invoice line",
            ),
        )
    console.print("\n[bold]Explore[/bold]")
    width = max(len(c) for c, _ in hints)
    for command, why in hints:
        console.print(f"  {command:<{width}}  [dim]# {why}[/dim]", highlight=False)
