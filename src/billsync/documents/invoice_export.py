"""An invoice as the client receives it in data: header, lines, where the contract
stands, and the time-detail annex listing every entry behind every line.

JSON is one document (docs/export.md); CSV is two files' worth of rows: the lines,
then the annex (`kind` column tells them apart), so a spreadsheet can check each line's
quantity against the entries it bills.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from billsync.store import invoices as invoice_store
from billsync.store import records
from billsync.store.db import Tx
from billsync.store.tables import time_entries

HEADER = (
    "number",
    "kind",
    "status",
    "contract",
    "contract_version",
    "client",
    "currency",
    "period_start",
    "period_end",
    "issue_date",
    "due_date",
    "po_number",
    "subtotal",
    "tax_rate",
    "tax",
    "total",
    "retainage",
    "amount_due",
    "reason",
    "trigger",
    "created_by",
    "approved_by",
)


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _parties(tx: Tx, inv: dict[str, Any]) -> dict[str, Any]:
    """Who is billed (the client as recorded now), the tax's name in the contract
    version the invoice used, and what a credit note credits or why an invoice is void."""
    client = records.body_at_current(tx, "client", inv["client"]) or {}
    terms = records.body_at_version(tx, "contract", inv["contract"], inv["contract_version"])
    credited = invoice_store.get(tx, inv["credit_of"])["number"] if inv["credit_of"] else None
    return {
        "client_name": client.get("name", ""),
        "client_address": client.get("address", ""),
        "client_tax_id": client.get("tax_id", ""),
        "tax_name": (terms or {}).get("tax_name", "VAT"),
        "credit_of": credited,
        "void_reason": inv["void_reason"],
    }


def invoice_document(tx: Tx, ref: str) -> dict[str, Any]:
    inv = invoice_store.get(tx, ref)
    lines = invoice_store.lines_of(tx, inv["id"])
    portions = invoice_store.portions_of(tx, inv["id"])
    entry_ids = sorted({p["entry_id"] for p in portions})
    entries: dict[int, Any] = {}
    for i in range(0, len(entry_ids), 900):
        rows = tx.conn.execute(
            select(time_entries).where(time_entries.c.id.in_(entry_ids[i : i + 900]))
        )
        entries.update({r.id: r for r in rows})
    annex = [
        {
            "line": p["position"],
            "entry_id": p["entry_id"],
            "revision": p["revision"],
            "source": entries[p["entry_id"]].source,
            "external_id": entries[p["entry_id"]].external_id,
            "date": _text(p["work_date"]),
            "person": entries[p["entry_id"]].person,
            "task": p["task"],
            "phase": p["phase"],
            "premium": p["premium"],
            "hours": _text((Decimal(p["seconds"]) / 3600).quantize(Decimal("0.0001"))),
            "quantity": _text(p["quantity"]),
            "unit_price": _text(p["unit_price"]),
            "notes": entries[p["entry_id"]].notes,
        }
        for p in portions
    ]
    return {
        **{k: _text(inv[k]) for k in HEADER},
        **_parties(tx, inv),
        "contract_status": inv["contract_status"],
        "lines": [
            {
                "position": ln["position"],
                "kind": ln["kind"],
                "description": ln["description"],
                "quantity": _text(ln["quantity"]),
                "unit": ln["unit"],
                "unit_price": _text(ln["unit_price"]),
                "amount": _text(ln["amount"]),
                "credited": ln["credited_by"] is not None,
            }
            for ln in lines
        ],
        "time_detail": annex,
    }


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def as_csv(document: dict[str, Any]) -> str:
    out = io.StringIO()
    columns = [
        "kind",
        "line",
        "description",
        "quantity",
        "unit",
        "unit_price",
        "amount",
        "entry_id",
        "source",
        "external_id",
        "date",
        "person",
        "task",
        "phase",
        "premium",
        "hours",
        "notes",
    ]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for ln in document["lines"]:
        writer.writerow({**ln, "kind": f"line:{ln['kind']}", "line": ln["position"]})
    for row in document["time_detail"]:
        writer.writerow({**row, "kind": "entry"})
    return out.getvalue()
