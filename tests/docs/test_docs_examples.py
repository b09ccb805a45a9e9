"""The examples in docs/ run, and produce exactly what the pages say they produce.

The pages mark what is checked with an HTML comment before a table or a code block:

    <!-- check: file docs/examples/time.csv -->          the block is that file
    <!-- check: output import docs/... --partial -->      the block is what `billsync ...`
                                                           prints (after applying
                                                           docs/examples/workspace.yaml)
    <!-- check: workspace 1 lines INV-000001 -->          after step 1 of the scenario,
    <!-- check: contracts 4 totals [CONTRACT] -->         the invoice's lines, the
    <!-- check: workspace 1 export-json INV-000001 -->    invoices' totals, the exports
    <!-- check: workspace 1 export-csv INV-000001 -->

The scenarios below are the command sequences the pages walk through.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from billsync.cli import app

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
ACTOR = "finance@example.com"

# (command, text its output must contain)
Step = list[tuple[tuple[str, ...], str]]
SCENARIOS: dict[str, list[Step]] = {
    # docs/workspace.md, docs/export.md and the month-end session of docs/cli.md
    "workspace": [
        [
            (("apply", "-f", "docs/examples/workspace.yaml"), "= 0 unchanged"),
            (
                ("import", "docs/examples/time.csv", "--source", "harvest"),
                "time.csv: 8 lines; 8 new, 0 changed, 0 unchanged, 0 stale, 0 quarantined",
            ),
            (
                ("import", "docs/examples/time.jsonl", "--source", "payroll"),
                "time.jsonl: 5 lines; 4 new, 0 changed, 0 unchanged, 1 stale, 0 quarantined",
            ),
            (
                ("run", "--today", "2026-05-01"),
                "12 entries; exceptions: 2 opened, 0 reopened, 0 resolved; 1 invoice(s) drafted",
            ),
        ],
        [
            (
                ("entries", "write-off", "7", "--reason", "Internal administration"),
                "1 entries written off",
            ),
            (("exceptions", "waive", "2", "--reason", "Approved by phone"), "exception 2: waived"),
            (
                ("invoices", "void", "INV-000001", "--reason", "Redraft with H-1008"),
                "INV-000001: void; 10 entries freed",
            ),
            (
                ("run", "--today", "2026-05-02"),
                "12 entries; exceptions: 0 opened, 0 reopened, 1 resolved; 1 invoice(s) drafted",
            ),
            (("invoices", "approve", "INV-000002"), "INV-000002: approved"),
            (("audit", "verify"), "audit chain intact"),
        ],
    ],
    # docs/contracts.md, "The contract examples step by step"
    "contracts": [
        [
            (("apply", "-f", "docs/examples/contracts.yaml"), "= 0 unchanged"),
            (
                ("import", "docs/examples/contracts.csv", "--source", "timesheet"),
                "contracts.csv: 18 lines; 18 new, 0 changed, 0 unchanged, 0 stale",
            ),
            (
                ("run", "--today", "2026-04-01"),
                "18 entries; exceptions: 7 opened, 0 reopened, 0 resolved; 5 invoice(s) drafted",
            ),
        ],
        [
            (
                ("entries", "adjust", "17", "--minutes", "-45", "--note", "Rework"),
                "1 entries adjusted by -45 min (write_down)",
            ),
            (
                ("project", "status", "N-600", "ready_for_billing", "--today", "2026-04-01"),
                "1 invoice(s) drafted",
            ),
        ],
        [
            (("apply", "-f", "docs/examples/contracts-april.yaml"), "~ contract THAMES-CAPS"),
            (
                ("import", "docs/examples/contracts-april.csv", "--source", "timesheet"),
                "1 new",
            ),
            (
                ("run", "--today", "2026-05-01"),
                "19 entries; exceptions: 0 opened, 0 reopened, 1 resolved; 3 invoice(s) drafted",
            ),
        ],
        [
            (
                ("project", "status", "N-500", "completed", "--today", "2026-05-01"),
                "1 invoice(s) drafted",
            ),
        ],
    ],
}


# -- reading the pages -------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    page: str
    words: tuple[str, ...]  # what follows "check:"
    block: list[str]  # the table's or the code block's lines

    def __str__(self) -> str:
        return f"{self.page}: {' '.join(self.words)}"


MARKER = re.compile(r"^<!-- check: (.+) -->$")


def _block(lines: list[str], start: int) -> list[str]:
    """The fenced code block's content or the table starting at `start`."""
    if lines[start].startswith("```"):
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
        return lines[start + 1 : end]
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert table, f"no table or code block at line {start + 1}"
    return table


def all_checks() -> list[Check]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            marker = MARKER.match(line)
            if marker:
                found.append(Check(page.name, tuple(marker[1].split()), _block(lines, index + 1)))
    return found


CHECKS = all_checks()


def table_rows(block: list[str]) -> list[dict[str, str]]:
    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    header = cells(block[0])
    return [dict(zip(header, cells(line), strict=True)) for line in block[2:]]


# -- running billsync --------------------------------------------------------------------


class Billsync:
    """`billsync` on its own SQLite file, run from the repository root like the docs."""

    def __init__(self, database: Path) -> None:
        self.env = {
            "BILLSYNC_DATABASE_URL": f"sqlite:///{database}",
            "BILLSYNC_WORKSPACE": "default",
            "BILLSYNC_ACTOR": ACTOR,
        }
        self.runner = CliRunner()

    def __call__(self, *args: str, ok: bool = True) -> str:
        cwd = Path.cwd()
        os.chdir(REPO)
        try:
            result = self.runner.invoke(app, list(args), env=self.env)
        finally:
            os.chdir(cwd)
        if ok:
            assert result.exit_code == 0, f"billsync {' '.join(args)}:\n{result.output}"
        return str(result.output)

    def invoices(self) -> dict[str, dict[str, Any]]:
        listed = json.loads(self("invoices", "list", "--format", "json"))
        return {i["number"]: self.document(i["number"]) for i in listed}

    def document(self, number: str) -> dict[str, Any]:
        return dict(json.loads(self("invoices", "export", number)))


@dataclass
class Snapshot:
    invoices: dict[str, dict[str, Any]]
    csv: dict[str, str]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Snapshot]:
    """Every scenario run step by step, with every invoice after each step."""
    taken = {}
    for name, steps in SCENARIOS.items():
        billsync = Billsync(tmp_path_factory.mktemp(name) / "docs.db")
        for number, step in enumerate(steps, start=1):
            for command, expected in step:
                output = billsync(*command)
                assert expected in output, f"billsync {' '.join(command)}:\n{output}"
            invoices = billsync.invoices()
            csv = {n: billsync("invoices", "export", n, "--format", "csv") for n in invoices}
            taken[name, number] = Snapshot(invoices, csv)
    return taken


def _scenario_checks(kind: str) -> Iterator[Check]:
    return (c for c in CHECKS if len(c.words) >= 3 and c.words[2] == kind)


def _snapshot(snapshots: dict[tuple[str, int], Snapshot], check: Check) -> Snapshot:
    return snapshots[check.words[0], int(check.words[1])]


# -- the checks --------------------------------------------------------------------------


def test_the_pages_check_something() -> None:
    kinds = {c.words[0] if c.words[0] in ("file", "output") else c.words[2] for c in CHECKS}
    assert kinds == {"file", "output", "lines", "totals", "export-json", "export-csv"}
    scenarios = {c.words[0] for c in CHECKS if c.words[0] not in ("file", "output")}
    assert scenarios == set(SCENARIOS)


@pytest.mark.parametrize("check", [c for c in CHECKS if c.words[0] == "file"], ids=str)
def test_a_quoted_example_file_is_the_file(check: Check) -> None:
    text = (REPO / check.words[1]).read_text(encoding="utf-8")
    assert check.block == text.splitlines()


@pytest.mark.parametrize("check", [c for c in CHECKS if c.words[0] == "output"], ids=str)
def test_a_quoted_output_is_what_billsync_prints(check: Check, tmp_path: Path) -> None:
    billsync = Billsync(tmp_path / "docs.db")
    billsync("apply", "-f", "docs/examples/workspace.yaml")
    output = billsync(*check.words[1:], ok=False)
    assert [line.rstrip() for line in output.strip().splitlines()] == check.block


@pytest.mark.parametrize("check", list(_scenario_checks("lines")), ids=str)
def test_invoice_lines_are_as_documented(check: Check, snapshots: Any) -> None:
    document = _snapshot(snapshots, check).invoices[check.words[3]]
    actual = [
        {
            "#": str(line["position"]),
            "description": line["description"],
            "quantity": line["quantity"],
            "unit": line["unit"],
            "unit price": line["unit_price"],
            "amount": line["amount"],
        }
        for line in document["lines"]
    ]
    assert actual == table_rows(check.block)


@pytest.mark.parametrize("check", list(_scenario_checks("totals")), ids=str)
def test_invoice_totals_are_as_documented(check: Check, snapshots: Any) -> None:
    invoices = _snapshot(snapshots, check).invoices
    contract = check.words[3] if len(check.words) > 3 else None
    fields = {
        "invoice": "number",
        "contract": "contract",
        "kind": "kind",
        "subtotal": "subtotal",
        "tax": "tax",
        "total": "total",
        "retainage": "retainage",
        "amount due": "amount_due",
    }
    actual = [
        {column: str(document[field]) for column, field in fields.items()}
        for document in invoices.values()
        if contract is None or document["contract"] == contract
    ]
    assert actual == table_rows(check.block)


@pytest.mark.parametrize("check", list(_scenario_checks("export-json")), ids=str)
def test_the_json_export_is_as_documented(check: Check, snapshots: Any) -> None:
    document = _snapshot(snapshots, check).invoices[check.words[3]]
    assert document == json.loads("\n".join(check.block))


@pytest.mark.parametrize("check", list(_scenario_checks("export-csv")), ids=str)
def test_the_csv_export_is_as_documented(check: Check, snapshots: Any) -> None:
    text = _snapshot(snapshots, check).csv[check.words[3]]
    assert text.splitlines() == check.block


def test_money_is_exact_in_the_example_invoice(snapshots: Any) -> None:
    """The arithmetic workspace.md walks through, independently of its tables."""
    from decimal import ROUND_HALF_UP, Decimal

    document = snapshots["workspace", 1].invoices["INV-000001"]
    cent = Decimal("0.01")
    for line in document["lines"]:
        product = Decimal(line["quantity"]) * Decimal(line["unit_price"])
        assert Decimal(line["amount"]) == product.quantize(cent, rounding=ROUND_HALF_UP)
    subtotal = sum(Decimal(line["amount"]) for line in document["lines"])
    assert Decimal(document["subtotal"]) == subtotal == Decimal("8674.88")
    assert document["due_date"] == "2026-05-31"
    assert document["contract_status"] == {
        "value": "250000.00",
        "billed_before": "0.00",
        "this_invoice": "8674.88",
        "retainage_held": "433.74",
        "remaining": "241325.12",
    }


def test_an_export_applies_back_unchanged(tmp_path: Path) -> None:
    billsync = Billsync(tmp_path / "docs.db")
    billsync("apply", "-f", "docs/examples/workspace.yaml")
    exported = tmp_path / "exported.yaml"
    billsync("export", "-o", str(exported))
    assert "= 12 unchanged" in billsync("apply", "-f", str(exported))


# -- the audit trail, verified without billsync ------------------------------------------


def _verifier() -> ModuleType:
    path = DOCS / "examples" / "verify_audit.py"
    spec = importlib.util.spec_from_file_location("verify_audit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_audit_export_verifies_independently(tmp_path: Path) -> None:
    billsync = Billsync(tmp_path / "docs.db")
    for command, _ in SCENARIOS["workspace"][0]:
        billsync(*command)
    lines = billsync("audit", "export").splitlines()
    assert len(lines) == 18  # as docs/export.md shows
    verify = _verifier().verify
    assert verify(lines) is None

    edited = [json.loads(line) for line in lines]
    edited[4]["after"]["name"] = "Someone else"
    assert verify([json.dumps(e) for e in edited]) == "event 5 was edited after it was written"
    assert verify(lines[:3] + lines[4:]) == "event 4 is missing or out of order (found 5)"
    swapped = lines[:3] + [lines[4], lines[3]] + lines[5:]
    assert verify(swapped) == "event 4 is missing or out of order (found 5)"
