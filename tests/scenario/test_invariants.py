"""The invariants, checked against the real store: an hour is billed at most once
(also when runs race), totals are the sums of their lines, the result does not depend
on the order entries arrive in, and running again changes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from billsync.domain.money import quantize
from billsync.errors import UserError
from billsync.store import invoices as invoice_store
from billsync.store.audit import AuditLog
from billsync.store.db import Store
from billsync.store.tables import billed_entries, invoice_lines, invoices, line_entries
from support.firm import Firm, entry

_ws = itertools.count(1)
CONTRACT = """
contracts:
  - code: C-1
    client: nordic
    currency: EUR
    start: 2026-01-01
    rates: [{role: naval-architect, rate: 133.33}, {role: welder, rate: 95.50}]
    rounding: {increment_minutes: 15, mode: up}
    overtime: {daily_after_hours: 8, weekly_after_hours: 40, weekend_multiplier: 1.5,
               holiday_multiplier: 2}
    tax_rate: 25
"""


def fresh(store: Store, tmp: Path) -> Firm:
    return Firm(Store(store.engine, f"{store.workspace[:20]}-{next(_ws)}"), tmp).setup(CONTRACT)


def invoice_facts(firm: Firm) -> list[tuple[Any, ...]]:
    with firm.store.reading() as tx:
        out = []
        for inv in invoice_store.listing(tx):
            lines = invoice_store.lines_of(tx, inv["id"])
            out.append(
                (
                    inv["kind"],
                    inv["period_start"],
                    inv["subtotal"],
                    inv["tax"],
                    inv["total"],
                    sorted(
                        (ln["description"], ln["quantity"], ln["unit_price"], ln["amount"])
                        for ln in lines
                    ),
                )
            )
        return sorted(out, key=repr)


def check_totals(firm: Firm) -> None:
    with firm.store.reading() as tx:
        for inv in invoice_store.listing(tx):
            lines = invoice_store.lines_of(tx, inv["id"])
            assert inv["subtotal"] == sum((ln["amount"] for ln in lines), Decimal(0))
            assert inv["total"] == inv["subtotal"] + inv["tax"]
            for ln in lines:
                assert ln["amount"] == quantize(ln["quantity"] * ln["unit_price"], inv["currency"])


work = st.lists(
    st.tuples(
        st.sampled_from(["kha", "ola", "jdo"]),
        st.integers(1, 31),
        st.integers(1, 48),
        st.sampled_from(["approved", "approved", "submitted"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=work, order=st.randoms(use_true_random=False), batches=st.integers(1, 4))
def test_the_invoices_do_not_depend_on_the_order_entries_arrive_in(
    store: Store,
    tmp_path: Path,
    rows: list[tuple[str, int, int, str]],
    order: Any,
    batches: int,
) -> None:
    data = [
        entry(f"E-{i}", f"2026-03-{day:02d}", str(Decimal(q) / 4), person=who, approval=approval)
        for i, (who, day, q, approval) in enumerate(rows)
    ]
    sorted_firm = fresh(store, tmp_path)
    sorted_firm.import_rows(data)
    sorted_firm.run("2026-04-01")
    shuffled = data[:]
    order.shuffle(shuffled)
    shuffled_firm = fresh(store, tmp_path)
    for i in range(batches):
        part = shuffled[i::batches]
        if part:
            shuffled_firm.import_rows(part)
    shuffled_firm.run("2026-04-01")
    assert invoice_facts(shuffled_firm) == invoice_facts(sorted_firm)
    check_totals(shuffled_firm)
    before = invoice_facts(shuffled_firm)
    assert shuffled_firm.run("2026-04-01").drafted == []
    assert invoice_facts(shuffled_firm) == before


operations = st.lists(
    st.sampled_from(["revise", "run", "void", "credit", "late"]), min_size=3, max_size=10
)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=operations, pick=st.randoms(use_true_random=False))
def test_no_hour_is_ever_on_two_live_invoices(
    store: Store, tmp_path: Path, ops: list[str], pick: Any
) -> None:
    from billsync.pipeline.credits import credit

    firm = fresh(store, tmp_path)
    firm.import_rows([entry(f"E-{d}", f"2026-03-{d:02d}", "9", revision="1") for d in range(2, 7)])
    day = dt.date(2026, 4, 1)
    for n, op in enumerate(ops):
        voidable = [i for i in firm.invoices() if i["status"] != "void"]
        live = [i for i in voidable if i["kind"] != "credit"]
        if op == "revise":
            d = pick.randint(2, 6)
            firm.import_rows(
                [entry(f"E-{d}", f"2026-03-{d:02d}", str(pick.randint(1, 12)), revision=str(n + 2))]
            )
        elif op == "late":
            firm.import_rows([entry(f"L-{n}", "2026-03-20", "3")])
        elif op == "void" and voidable:
            # Credit notes too: voiding one bills its lines again, or is refused (as is
            # voiding an invoice under a live credit note).
            with contextlib.suppress(UserError), firm.store.transaction() as tx:
                invoice_store.void(
                    tx, pick.choice(voidable)["number"], "cfo", "test", AuditLog(tx, "cfo")
                )
        elif op == "credit" and live:
            chosen = pick.choice(live)
            if chosen["status"] == "draft":  # sent first: only an approved one is credited
                with firm.store.transaction() as tx:
                    invoice_store.approve(tx, chosen["number"], "cfo", AuditLog(tx, "cfo"))
            with contextlib.suppress(UserError):
                credit(
                    firm.store,
                    chosen["number"],
                    None,
                    reason="test",
                    actor="cfo",
                    today=day,
                )
        else:
            firm.run(day.isoformat())
        day += dt.timedelta(days=1)
    firm.run(day.isoformat())
    with firm.store.reading() as tx:
        mine = invoices.c.workspace_id == tx.workspace_id
        live_marks = Counter(
            r.entry_id
            for r in tx.conn.execute(
                select(billed_entries.c.entry_id)
                .join(invoices, invoices.c.id == billed_entries.c.invoice_id)
                .where(billed_entries.c.live, mine)
            )
        )
        portions = tx.conn.execute(
            select(line_entries.c.entry_id, line_entries.c.seconds)
            .join(invoice_lines, invoice_lines.c.id == line_entries.c.line_id)
            .join(invoices, invoices.c.id == invoice_lines.c.invoice_id)
            .where(mine, invoices.c.status != "void", invoice_lines.c.credited_by.is_(None))
        ).all()
    assert all(count == 1 for count in live_marks.values())
    # What live, uncredited lines bill of each entry never exceeds the entry itself.
    billed_seconds: Counter[int] = Counter()
    for p in portions:
        billed_seconds[p.entry_id] += p.seconds
    assert set(billed_seconds) == set(live_marks)
    assert all(seconds <= 12 * 3600 for seconds in billed_seconds.values())
    check_totals(firm)


def test_the_database_refuses_a_second_live_mark_on_one_entry(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-04-01")
    (invoice,) = firm.invoices()
    with firm.store.reading() as tx:
        mark = tx.conn.execute(select(billed_entries)).first()
    assert mark is not None
    with pytest.raises(IntegrityError), firm.store.transaction() as tx:
        tx.conn.execute(
            insert(billed_entries).values(
                entry_id=mark.entry_id, revision=mark.revision, invoice_id=invoice["id"], live=True
            )
        )


def test_two_runs_racing_draft_each_entry_once(firm: Firm) -> None:
    firm.setup().import_rows([entry(f"A-{d}", f"2026-03-{d:02d}", "8") for d in range(2, 20)])
    errors: list[BaseException] = []

    def go() -> None:
        try:
            firm.run("2026-04-01")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    (invoice,) = firm.invoices()
    assert invoice["subtotal"] == Decimal("20880.00")  # 18 x 8 h x 145.00
