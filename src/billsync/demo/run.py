"""The demo flow: a fresh SQLite workspace, three months of time, one pipeline run, and
the view a finance lead opens first.

    1. apply firm.yaml (dates moved to sit around `today`)
    2. generate time from the first day of the month three months back to yesterday,
       one CSV per source: harvest (office, messy, imported with --partial so the
       malformed lines are quarantined) and payroll (yard and offshore crew)
    3. run the pipeline as of `today`, with a progress bar per stage
    4. approve one invoice, verify the audit chain
    5. print invoices drafted, exceptions by type, work in progress, where to look next

Everything goes through the same functions the commands use (`pipeline.workspace
.apply`, `pipeline.files.import_file`, `pipeline.run.run`), so the demo shows what
billsync does, not a mock-up of it.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from billsync.config.loader import parse
from billsync.domain.canonical import Defaults
from billsync.domain.money import ZERO, hours, quantize
from billsync.pipeline.files import ImportResult, import_file
from billsync.pipeline.run import RunReport, contracts_by_project, prepare, run
from billsync.pipeline.workspace import apply
from billsync.store import audit as audit_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from billsync.store.db import Store, Tx, open_store
from billsync.store.tables import line_entries

from . import FIRM_FILE, firm_text
from .timegen import HARVEST, PAYROLL, generate, is_malformed, write_csv

__all__ = ["DemoError", "DemoSummary", "WipRow", "demo_window", "run_demo"]

SEED = 20261125
ACTOR = "demo"
APPROVER = "ragnhild.solberg@skagerak-marine.com"
MARKER = "demo.created"  # the audit event that says a database is a demo's to replace
STAGES = ("load", "map", "validate", "rate", "cap", "draft")
FILES = {HARVEST: "harvest-time-export.csv", PAYROLL: "payroll-hours.csv"}
SQLITE_HEADER = b"SQLite format 3\x00"


class DemoError(Exception):
    """The demo cannot run here (a file in the way that is not a demo database)."""


@dataclass(frozen=True)
class WipRow:
    """Unbilled work on one project: ready to bill, and waiting behind exceptions."""

    client: str
    project: str
    contract: str
    billing: str
    currency: str
    ready_hours: Decimal
    ready_amount: Decimal
    waiting_hours: Decimal
    waiting_amount: Decimal


@dataclass
class DemoSummary:
    path: Path
    url: str
    today: date
    window: tuple[date, date]
    rows: dict[str, int]
    imports: dict[str, ImportResult]
    report: RunReport
    invoices: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]  # code, severity, count, hours, amount
    wip: list[WipRow]
    approved: str
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
    clock = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = round(now - clock, 2)
        clock = now

    path = path.resolve()
    _fresh(path)
    url = f"sqlite:///{path}"
    store = open_store(url)
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
        rows, files = _write_sources(
            Path(tmp), records, start, window_days, seed, today, console, window
        )
        lap("generate")
        imports = _import(store, files, console)
        lap("import")
    report = _run(store, today, console)
    lap("run")
    approved = _approve_first(store, report)
    lap("approve")

    names = {c.code: c.name for c in records.get("client", [])}  # type: ignore[attr-defined]
    with store.reading() as tx:
        invoices = invoice_store.listing(tx)
        exceptions = _exceptions_by_code(exception_store.listing(tx))
        broken = audit_store.verify(tx)
        events = len(audit_store.events(tx))
        holiday_entry = _holiday_entry(tx)
    wip = work_in_progress(store, today, names)
    lap("report")

    _print_invoices(console, invoices, names, report, approved)
    _print_exceptions(console, exceptions)
    _print_wip(console, wip)
    if broken is None:
        console.print(f"\n[bold]Audit trail[/bold]: chain intact, {events} events verified")
    else:
        console.print(f"\n[bold red]Audit trail broken[/bold red] at event {broken.seq}: {broken}")
    total = sum(seconds.values())
    console.print(
        f"Built in {total:.1f} s (generate {seconds['generate']:.1f} s, import "
        f"{seconds['import']:.1f} s, pipeline {seconds['run']:.1f} s)",
        highlight=False,
    )
    summary = DemoSummary(
        path=path,
        url=url,
        today=today,
        window=window,
        rows=rows,
        imports=imports,
        report=report,
        invoices=invoices,
        exceptions=exceptions,
        wip=wip,
        approved=approved,
        audit_events=events,
        audit_intact=broken is None,
        holiday_entry=holiday_entry,
        seconds=seconds,
    )
    _print_hints(console, summary)
    store.engine.dispose()
    return summary


# -- the steps ---------------------------------------------------------------------------


def _workspace_line(records: dict[str, list[BaseModel]], changes: int) -> str:
    counts = {kind: len(items) for kind, items in records.items()}
    contracts = records.get("contract", [])
    currencies = sorted({c.currency for c in contracts})  # type: ignore[attr-defined]
    return (
        f"Workspace: {counts.get('client', 0)} clients, {counts.get('site', 0)} sites "
        f"(Bergen, Houston, Singapore), {counts.get('person', 0)} people, "
        f"{counts.get('project', 0)} projects, {len(contracts)} contracts in "
        f"{', '.join(currencies)}, {counts.get('rule', 0)} mapping rules ({changes} records "
        f"applied)"
    )


def _write_sources(
    folder: Path,
    records: dict[str, list[BaseModel]],
    start: date,
    days: int,
    seed: int,
    today: date,
    console: Console,
    window: tuple[date, date],
) -> tuple[dict[str, int], dict[str, Path]]:
    by_source: dict[str, list[dict[str, str]]] = {HARVEST: [], PAYROLL: []}
    with _progress(console) as bar:
        task = bar.add_task("Generating time", total=days)
        last, end = "", window[1].isoformat()
        for row in generate(records, start=start, days=days, seed=seed):
            by_source[row["source"]].append(row)
            if row["date"] != last and not is_malformed(row) and row["date"] <= end:
                last = row["date"]
                bar.update(task, completed=(date.fromisoformat(last) - start).days + 1)
        bar.update(task, completed=days)
    files = {source: folder / name for source, name in FILES.items()}
    counts = {source: write_csv(by_source[source], files[source]) for source in FILES}
    console.print(
        f"Time: {window[0]} to {window[1]} (today is {today}): "
        + ", ".join(f"{counts[s]} rows from {s} ({FILES[s]})" for s in FILES),
        highlight=False,
    )
    return counts, files


def _import(store: Store, files: dict[str, Path], console: Console) -> dict[str, ImportResult]:
    results: dict[str, ImportResult] = {}
    with _progress(console) as bar:
        task = bar.add_task("Importing", total=len(files))
        for source, path in files.items():
            bar.update(task, description=f"Importing {path.name}")
            # The office export is messy: import its good lines, quarantine the bad.
            results[source] = import_file(
                store,
                path,
                source=source,
                actor=ACTOR,
                defaults=Defaults(),
                partial=source == HARVEST,
            )
            bar.advance(task)
    for source, result in results.items():
        c = result.counts
        console.print(
            f"  {files[source].name}: {result.lines} lines, {c.new} new entries, "
            f"{len(result.quarantined)} quarantined",
            highlight=False,
        )
        for bad in result.quarantined:
            console.print(
                f"    quarantined line {bad.line_no}: {bad.describe()}",
                markup=False,
                highlight=False,
            )
    return results


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


def _approve_first(store: Store, report: RunReport) -> str:
    """Finance approves the oldest period invoice, as it would after review."""
    with store.transaction() as tx:
        drafted = [invoice_store.get(tx, i) for i in report.drafted]
        chosen = min(
            (i for i in drafted if i["status"] == "draft"),
            key=lambda i: (i["kind"] != "period", i["period_start"] or date.max, i["id"]),
            default=None,
        )
        if chosen is None:
            return ""
        invoice_store.approve(tx, chosen["number"], APPROVER, AuditLog(tx, APPROVER))
        return str(chosen["number"])


def _exceptions_by_code(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["code"], r["severity"]),
            {"code": r["code"], "severity": r["severity"], "count": 0, "hours": ZERO,
             "example": r["message"]},
        )  # fmt: skip
        g["count"] += 1
        g["hours"] += r["hours"] or ZERO
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


def work_in_progress(store: Store, today: date, client_names: dict[str, str]) -> list[WipRow]:
    """Unbilled billable work per client and project, as the pipeline sees it today:
    ready (would be billed when its period closes) and waiting (behind a blocking
    exception or a cap)."""
    with store.reading() as tx:  # prepare() maps; reading() rolls that back
        prep = prepare(tx, today)
        on_invoice = set(invoice_store.billed_revisions(tx))  # the growing drafts too
    by_project = contracts_by_project(prep.ws)
    ready: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    ready_ids: set[int] = set()
    for portions in prep.portions.values():
        for p in portions:
            if p.entry_id in on_invoice:
                continue
            ready_ids.add(p.entry_id)
            totals = ready[p.project]
            totals[0] += hours(p.seconds)
            totals[1] += p.amount
    waiting: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for entry_id, rated in prep.rated.items():
        if entry_id in on_invoice or entry_id in ready_ids or not rated.portions:
            continue
        totals = waiting[rated.entry.project]
        totals[0] += hours(rated.billable_seconds)
        totals[1] += rated.amount
    rows = []
    for code in sorted(set(ready) | set(waiting)):
        contract = by_project[code]
        r, w = ready[code], waiting[code]
        rows.append(
            WipRow(
                client=client_names.get(contract.client, contract.client),
                project=code,
                contract=contract.code,
                billing=str(contract.billing),
                currency=contract.currency,
                ready_hours=r[0],
                ready_amount=r[1],
                waiting_hours=w[0],
                waiting_amount=w[1],
            )
        )
    return rows


# -- what finance sees -------------------------------------------------------------------


def _money(value: Decimal, currency: str) -> str:
    return f"{quantize(value, currency):,}"


def _print_invoices(
    console: Console,
    invoices: list[dict[str, Any]],
    names: dict[str, str],
    report: RunReport,
    approved: str,
) -> None:
    drafted = set(report.drafted)
    table = Table(title=f"Invoices drafted by this run ({len(drafted)})", title_justify="left")
    for name, justify in (
        ("number", "left"),
        ("client", "left"),
        ("contract", "left"),
        ("kind", "left"),
        ("period", "left"),
        ("status", "left"),
        ("currency", "left"),
        ("subtotal", "right"),
        ("tax", "right"),
        ("total", "right"),
        ("amount due", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO])
    for inv in invoices:
        if inv["id"] not in drafted:
            continue
        cur = inv["currency"]
        period = (
            f"{inv['period_start']}..{inv['period_end']}"
            if inv["period_start"]
            else f"to {inv['issue_date']}"
        )
        table.add_row(
            inv["number"],
            names.get(inv["client"], inv["client"]),
            inv["contract"],
            inv["kind"],
            period,
            inv["status"],
            cur,
            _money(inv["subtotal"], cur),
            _money(inv["tax"], cur),
            _money(inv["total"], cur),
            _money(inv["amount_due"], cur),
        )
        t = totals[cur]
        for i, key in enumerate(("subtotal", "tax", "total", "amount_due")):
            t[i] += inv[key]
    table.add_section()
    for cur in sorted(totals):
        t = totals[cur]
        table.add_row("", "", "", "", "", "total", cur, *(_money(v, cur) for v in t), style="bold")
    console.print()
    console.print(table)
    if approved:
        console.print(f"Approved {approved} as {APPROVER}: the rest wait for review.")


def _print_exceptions(console: Console, groups: list[dict[str, Any]]) -> None:
    table = Table(title="Open exceptions by type", title_justify="left")
    table.add_column("code")
    table.add_column("severity")
    table.add_column("count", justify="right")
    table.add_column("hours", justify="right")
    table.add_column("for example", overflow="ellipsis", no_wrap=True, max_width=70)
    for g in groups:
        style = "red" if g["severity"] == "blocking" else "yellow"
        table.add_row(
            g["code"],
            f"[{style}]{g['severity']}[/{style}]",
            str(g["count"]),
            f"{g['hours']:,.2f}",
            g["example"],
        )
    console.print()
    console.print(table)


def _print_wip(console: Console, rows: list[WipRow]) -> None:
    table = Table(title="Work in progress: approved time not yet invoiced", title_justify="left")
    for name, justify in (
        ("client", "left"),
        ("project", "left"),
        ("contract", "left"),
        ("billing", "left"),
        ("ready h", "right"),
        ("ready amount", "right"),
        ("waiting h", "right"),
        ("waiting amount", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.client,
            r.project,
            r.contract,
            r.billing.replace("_", " "),
            f"{r.ready_hours:,.2f}",
            f"{_money(r.ready_amount, r.currency)} {r.currency}",
            f"{r.waiting_hours:,.2f}",
            f"{_money(r.waiting_amount, r.currency)} {r.currency}",
        )
    console.print()
    console.print(table)
    console.print(
        "ready: billed when its period closes (milestone contracts bill fees, not time); "
        "waiting: held by an open blocking exception or a cap",
        style="dim",
    )


def _print_hints(console: Console, s: DemoSummary) -> None:
    first = s.approved or (s.invoices[0]["number"] if s.invoices else "INV-000001")
    hints: list[tuple[str, str]] = [
        ("billsync invoices list", "every invoice with its totals"),
        (f"billsync invoices show {first}", "lines, quantities x prices, contract status"),
        ("billsync exceptions list --code 'entry.*'", "what finance must act on"),
        (f"billsync run --today {s.today}", "run again: nothing new is drafted"),
        ("billsync audit verify", "check the hash chain"),
    ]
    if s.holiday_entry is not None:
        hints.insert(
            3,
            (
                f"billsync audit show --entry {s.holiday_entry}",
                "one hour worked on a public holiday, from CSV line to invoice line",
            ),
        )
    console.print("\n[bold]Explore[/bold]")
    width = max(len(c) for c, _ in hints)
    for command, why in hints:
        console.print(f"  {command:<{width}}  [dim]# {why}[/dim]", highlight=False)
