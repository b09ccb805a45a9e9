"""The demo firm's vendors, emulated: Harvest (Bergen office), Clockify (Houston and
Singapore offices) and QuickBooks Online (the Houston entity's books, in USD).

Each sandbox runs in process on loopback (`sandbox.base.serve`) and is configured as
a connection exactly as a firm would: a `connections:` section applied with
`pipeline.workspace.apply`, the sandbox's credentials stored encrypted as `billsync
connections set-secret` stores them, and for OAuth2 (QuickBooks) the token the sandbox
granted, stored as `billsync connect` stores it.

    office rows of the time generator  ->  WorkItems  ->  Harvest / Clockify sandbox
    billsync sync (real HTTP)          ->  entries with source "harvest" / "clockify"
    billsync push (real HTTP)          ->  invoices in the QuickBooks sandbox

The generator's deliberately malformed export lines have no counterpart in a vendor's
API (Harvest and Clockify refuse an entry ending before it starts, or on 32 October),
so they are not put in the sandboxes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from billsync.config.loader import parse
from billsync.connectors.auth import stamped
from billsync.domain.entries import SourceRef
from billsync.domain.mapping import MappingContext, MappingRule
from billsync.domain.workspace import Client, Person, Project
from billsync.pipeline.workspace import apply
from billsync.sandbox.base import AccountingSandbox, Sandbox, Setup, TimeSandbox, serve
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import WorkItem
from billsync.store import secrets
from billsync.store.audit import AuditLog
from billsync.store.db import Store

from .timegen import HARVEST, is_malformed, records_of

__all__ = [
    "ACCOUNTING",
    "CONNECTIONS_FILE",
    "HOME_ZONE",
    "TIME_TOOLS",
    "Vendors",
    "connections_yaml",
    "split_office_time",
    "started",
]

CONNECTIONS_FILE = "connections.yaml"
HOME_ZONE = "Europe/Oslo"  # Bergen: the office that tracks its time in Harvest
TIME_TOOLS = ("harvest", "clockify")  # connection codes, also the entries' source
ACCOUNTING = "qbo"  # the QuickBooks Online connection
QBO_CURRENCY = "USD"  # the Houston entity's home currency (multicurrency off)


@dataclass
class Vendors:
    """The running sandboxes by connection code, their base URLs and what was seeded."""

    sandboxes: dict[str, Sandbox]
    urls: dict[str, str]
    seeded: dict[str, int] = field(default_factory=dict)  # entries put in each time tool
    skipped: int = 0  # malformed export lines: no vendor API would hold them

    def time(self, code: str) -> TimeSandbox:
        sandbox = self.sandboxes[code]
        assert isinstance(sandbox, TimeSandbox)
        return sandbox

    @property
    def books(self) -> AccountingSandbox:
        sandbox = self.sandboxes[ACCOUNTING]
        assert isinstance(sandbox, AccountingSandbox)
        return sandbox


def _people(records: Mapping[str, Sequence[BaseModel]]) -> dict[str, Person]:
    """Each person by every name a time tool may give them: code, name, e-mail."""
    found: dict[str, Person] = {}
    for p in records_of(records, "person", Person):
        for name in (p.code, p.name, p.email):
            if name:
                found[name] = p
    return found


def _clients(records: Mapping[str, Sequence[BaseModel]]) -> dict[str, str]:
    """Client names by project code."""
    clients = {c.code: c.name for c in records_of(records, "client", Client)}
    projects = records_of(records, "project", Project)
    return {p.code: clients.get(p.client, p.client) for p in projects}


def split_office_time(
    rows: Iterable[Mapping[str, str]],
    records: Mapping[str, Sequence[BaseModel]],
) -> tuple[dict[str, list[WorkItem]], int]:
    """The generator's office rows as WorkItems, by the tool each office uses: Bergen's
    in Harvest, Houston's and Singapore's in Clockify (by the row's zone, so a
    stranger's entry goes where it was typed). Entries typed as hours get a start
    after the person's previous entry that day (Clockify keeps a start for each).
    Returns the items and how many malformed lines were left out."""
    people = _people(records)
    client_of = _clients(records)
    context = MappingContext.of(
        records_of(records, "project", Project),
        records_of(records, "person", Person),
        records_of(records, "rule", MappingRule),
    )

    def client(project: str) -> str:
        """The client a project name is for, as the firm's rules read it."""
        code = context.resolve("*", SourceRef("", project)).project
        return client_of.get(code, "Skagerak Marine Engineering")

    out: dict[str, list[WorkItem]] = {code: [] for code in TIME_TOOLS}
    ends: dict[tuple[str, str], datetime] = {}
    skipped = 0
    for row in rows:
        if row["source"] != HARVEST:
            continue
        if is_malformed(row):
            skipped += 1
            continue
        zone = ZoneInfo(row["timezone"])
        person = people.get(row["person"])
        name = person.name if person else _name_of(row["person"])
        email = person.email if person and person.email else row["person"]
        key = (email, row["date"])
        if row["start"]:
            start = datetime.fromisoformat(row["start"]).replace(tzinfo=zone)
            end = datetime.fromisoformat(row["end"]).replace(tzinfo=zone)
            seconds = int((end - start).total_seconds())
        else:
            seconds = int(Decimal(row["hours"]) * 3600)
            day = date.fromisoformat(row["date"])
            start = ends.get(key) or datetime(day.year, day.month, day.day, 8, tzinfo=zone)
        ends[key] = max(ends.get(key, start), start + timedelta(seconds=seconds))
        tool = "harvest" if row["timezone"] == HOME_ZONE else "clockify"
        out[tool].append(
            WorkItem(
                person=name,
                email=email,
                client=client(row["project"]),
                project=row["project"],
                task=row["task"],
                start=start,
                seconds=seconds,
                notes=row["notes"],
                billable=row["billable"] != "false",
                approved=row["approval"] == "approved",
            )
        )
    return out, skipped


def _name_of(who: str) -> str:
    """A stranger's display name from their e-mail: "j.smith@x.com" -> "J Smith"."""
    local = who.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part)


@contextmanager
def started(items: Mapping[str, Sequence[WorkItem]], seed: int) -> Iterator[Vendors]:
    """Harvest, Clockify and QuickBooks sandboxes on loopback, the office time in the
    first two; stopped on exit."""
    classes = all_sandboxes()
    sandboxes: dict[str, Sandbox] = {
        "harvest": classes["harvest"](seed=seed, items=items["harvest"]),  # type: ignore[call-arg]
        "clockify": classes["clockify"](seed=seed, items=items["clockify"]),  # type: ignore[call-arg]
        ACCOUNTING: classes["quickbooks"](seed=seed, home_currency=QBO_CURRENCY),  # type: ignore[call-arg]
    }
    with ExitStack() as stack:
        urls = {code: stack.enter_context(serve(s)) for code, s in sandboxes.items()}
        yield Vendors(sandboxes, urls, {code: len(items[code]) for code in TIME_TOOLS})


def _setup(sandbox: Sandbox, url: str) -> Setup:
    setup = getattr(sandbox, "setup", None)
    if setup is None:
        raise TypeError(f"the {sandbox.platform} sandbox has no setup()")
    found = setup(url)
    assert isinstance(found, Setup)
    return found


def connections_yaml(vendors: Vendors) -> tuple[str, dict[str, Setup]]:
    """The `connections:` section a firm would write for these accounts (secrets as
    `stored`, never in the file), and each sandbox's setup (its throwaway secrets)."""
    setups = {code: _setup(s, vendors.urls[code]) for code, s in vendors.sandboxes.items()}
    platforms = {"harvest": "harvest", "clockify": "clockify", ACCOUNTING: "quickbooks"}
    section = []
    for code, setup in setups.items():
        entry: dict[str, object] = {
            "code": code,
            "platform": platforms[code],
            "base_url": vendors.urls[code],
            "credentials": {name: "stored" for name in setup.credentials},
            "settings": dict(setup.settings),
        }
        if code == "harvest":
            entry["timezone"] = HOME_ZONE  # Harvest entries carry no zone
        if code == ACCOUNTING:
            entry["settings"] = {"auth_url": vendors.urls[code], **setup.settings}
            entry["pull_time"] = False
            entry["push_invoices"] = True
        section.append(entry)
    text = yaml.safe_dump({"connections": section}, sort_keys=False, width=100)
    return text, setups


def connect(store: Store, vendors: Vendors, actor: str) -> str:
    """Apply the connections and store their secrets (encrypted); the YAML applied."""
    text, setups = connections_yaml(vendors)
    apply(store, CONNECTIONS_FILE, parse(CONNECTIONS_FILE, text), actor)
    with store.transaction() as tx:
        audit = AuditLog(tx, actor)
        for code, setup in setups.items():
            for name, value in setup.credentials.items():
                secrets.put(tx, code, name, value)  # as `billsync connections set-secret`
                audit.record("connection.secret_set", f"connection:{code}", None, {"name": name})
            if setup.token is not None:  # as `billsync connect` keeps a granted token
                secrets.put_token(tx, code, stamped(dict(setup.token), time.time()))
    return text
