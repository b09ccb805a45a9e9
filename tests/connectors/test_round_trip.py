"""QuickBooks Online both ways: its time in, the invoice out to it, that time marked
billed there, and the invoice's later status read back into billsync."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from billsync.pipeline.push import push, refresh
from billsync.pipeline.sync import sync
from billsync.sandbox.platforms.quickbooks import QuickBooksSandbox
from billsync.sandbox.seed import generate
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from billsync.store.audit import events as audit_events
from billsync.store.db import Store
from support.connections import ACTOR, wired
from support.firm import CONTRACT, Firm

RULES = """
mapping_rules:
  - {source: quickbooks, field: person, value: Kari Hansen, person: kha}
  - {source: quickbooks, field: project, match: glob, value: "*", project: P-1}
  - {source: quickbooks, field: task, match: glob, value: "*", task: survey}
"""


def test_time_from_quickbooks_is_invoiced_back_to_it_and_marked_billed(
    store: Store, tmp_path: Path
) -> None:
    firm = Firm(store, tmp_path)
    firm.setup(CONTRACT.replace("EUR", "USD").replace("tax_rate: 25", "tax_rate: 15"), RULES)
    karis = [
        item
        for item in generate(60, seed=4, start=dt.date(2026, 3, 2))
        if item.person == "Kari Hansen" and item.billable
    ]
    sandbox = QuickBooksSandbox(items=karis)
    with wired(store, "quickbooks", sandbox) as w:
        assert sync(store, "quickbooks", ACTOR, hooks=w.hooks).new == len(karis)
        firm.run("2026-06-01")
        (draft,) = firm.invoices()
        with store.transaction() as tx:
            invoice_store.approve(tx, draft["number"], "approver", AuditLog(tx, "approver"))
        pushed = push(store, "quickbooks", ACTOR, w.hooks)
        ((_, remote),) = pushed.sent
        billed = {r["Id"]: r["BillableStatus"] for r in sandbox.store["TimeActivity"].values()}
        assert refresh(store, "quickbooks", ACTOR, w.hooks).restatused == []
        # Finance voids it in QuickBooks: the next read-back says so.
        current = sandbox.store["Invoice"][remote.remote_id]
        token = (w.token() or {})["access_token"]
        voided = httpx.post(
            f"{w.url}/v3/company/{sandbox.realm_id}/invoice",
            params={"operation": "void", "minorversion": "75"},
            json={"Id": remote.remote_id, "SyncToken": current["SyncToken"]},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        assert voided.status_code == 200, voided.text
        later = refresh(store, "quickbooks", ACTOR, w.hooks)
    on_invoice = {e["external_id"] for e in w.entries().values()}
    assert pushed.marked == len(karis) and set(billed) == on_invoice
    assert set(billed.values()) == {"HasBeenBilled"}
    assert later.restatused == [(draft["number"], remote.status, "void")]
    with store.reading() as tx:
        actions = [e["action"] for e in audit_events(tx)]
    assert {"invoice.pushed", "invoice.time_marked_billed", "invoice.remote_status"} <= set(actions)
