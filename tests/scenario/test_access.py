"""Once a workspace lists its members, every change checks the actor's role."""

from __future__ import annotations

import datetime as dt

import pytest

from billsync.config.loader import parse
from billsync.pipeline.actions import change_state
from billsync.pipeline.workspace import apply
from billsync.store import invoices as invoice_store
from billsync.store.access import AccessDenied
from billsync.store.audit import AuditLog
from billsync.triggers.manual import invoice_now
from support.firm import Firm, entry

MEMBERS = """
members:
  - {user: finance, roles: [admin, finance]}
  - {user: boss, roles: [approver]}
  - {user: importer, roles: [operator]}
  - {user: pipeline-test, roles: [operator]}
"""


def test_without_members_everyone_may_act(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    with firm.store.transaction() as tx:
        invoice_store.approve(tx, invoice["number"], "anyone", AuditLog(tx, "anyone"))


def test_each_change_needs_its_role(firm: Firm) -> None:
    firm.setup(extra=MEMBERS).import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    with (
        pytest.raises(AccessDenied, match="'finance' may not approve: it needs the approver"),
        firm.store.transaction() as tx,
    ):
        invoice_store.approve(tx, invoice["number"], "finance", AuditLog(tx, "finance"))
    with firm.store.transaction() as tx:
        invoice_store.approve(tx, invoice["number"], "boss", AuditLog(tx, "boss"))
    with pytest.raises(AccessDenied, match="'boss' may not manual invoice"):
        invoice_now(firm.store, contract="C-1", reason="x", actor="boss", today=dt.date(2026, 4, 2))
    with pytest.raises(AccessDenied, match="'intruder' is not a member"):
        change_state(firm.store, [1], "hold", reason="x", actor="intruder")
    with pytest.raises(AccessDenied, match="'boss' may not apply: it needs the admin role"):
        apply(firm.store, "f.yaml", parse("f.yaml", "clients: [{code: x, name: X}]"), "boss")
