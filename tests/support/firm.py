"""A small firm to tell billing stories with: apply a workspace, import rows, run."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from billsync.config.loader import parse
from billsync.domain.canonical import Defaults
from billsync.pipeline.files import ImportResult, import_file
from billsync.pipeline.run import RunReport, run
from billsync.pipeline.workspace import apply
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.db import Store

BASE = """
clients:
  - {code: nordic, name: Nordic Shipyards AS}
sites:
  - {code: bergen, timezone: Europe/Oslo, country: "NO"}
  - {code: houston, timezone: America/Chicago, country: US, subdivision: TX}
people:
  - {code: kha, name: Kari Hansen, role: naval-architect, site: bergen}
  - {code: ola, name: Ola Nordmann, role: naval-architect, site: bergen}
  - {code: jdo, name: John Doe, role: welder, site: houston}
projects:
  - code: P-1
    name: Hull survey MV Nordic Star
    client: nordic
    contract: C-1
    vessel: {name: Nordic Star, imo: "9074729"}
    phases:
      - {code: design, start: 2026-01-01, end: 2026-12-31}
    tasks:
      - {code: survey, phase: design}
      - {code: admin, phase: design, billable: false}
"""

CONTRACT = """
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    end: 2026-12-31
    rates:
      - {role: naval-architect, rate: 145.00}
      - {role: welder, rate: 95.50}
    tax_rate: 25
"""

_files = itertools.count(1)


def contract(extra: str, rates: str = "[{role: naval-architect, rate: 100}]") -> str:
    """Contract C-1 in EUR at 100.00/h, with `extra` terms (indented 4 spaces)."""
    return f"""
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    rates: {rates}
{extra}"""


OVERTIME = contract("    overtime: {daily_after_hours: 8, daily_multiplier: 1.5}")


class Firm:
    def __init__(self, store: Store, tmp: Path):
        self.store, self.tmp = store, tmp

    def apply(self, yaml_text: str) -> None:
        apply(self.store, "firm.yaml", parse("firm.yaml", yaml_text), "finance")

    def setup(self, contract: str = CONTRACT, extra: str = "") -> Firm:
        self.apply(BASE + contract + extra)
        return self

    def import_rows(
        self, rows: Iterable[Mapping[str, Any]], source: str = "csv", **kw: Any
    ) -> ImportResult:
        rows = list(rows)
        names = list(dict.fromkeys(k for r in rows for k in r))
        lines = [",".join(names)] + [",".join(str(r.get(n, "")) for n in names) for r in rows]
        path = self.tmp / f"import-{next(_files)}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return import_file(
            self.store,
            path,
            source=source,
            actor="importer",
            defaults=Defaults(timezone="Europe/Oslo"),
            **kw,
        )

    def run(self, today: str) -> RunReport:
        return run(self.store, today=dt.date.fromisoformat(today), actor="pipeline-test")

    def invoices(self, **kw: Any) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            return invoice_store.listing(tx, **kw)

    def lines(self, invoice_id: int) -> list[tuple[str, str, str, str]]:
        with self.store.reading() as tx:
            return [
                (ln["description"], str(ln["quantity"]), str(ln["unit_price"]), str(ln["amount"]))
                for ln in invoice_store.lines_of(tx, invoice_id)
            ]

    def open_exceptions(self) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            return exception_store.listing(tx)

    def codes(self) -> list[str]:
        return sorted(e["code"] for e in self.open_exceptions())


def entry(
    external_id: str,
    day: str,
    hours: str,
    person: str = "kha",
    task: str = "survey",
    approval: str = "approved",
    **kw: Any,
) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "person": person,
        "project": "P-1",
        "task": task,
        "date": day,
        "hours": hours,
        "approval": approval,
        **kw,
    }
