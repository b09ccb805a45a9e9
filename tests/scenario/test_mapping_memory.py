"""A run remembers under which mapping inputs it resolved each entry's codes, and maps
again exactly the entries those codes may be stale for."""

from __future__ import annotations

from sqlalchemy import select

from billsync.pipeline.workspace import load_workspace
from billsync.store import entries as entry_store
from billsync.store.tables import time_entries
from support.firm import BASE, CONTRACT, Firm, entry


def _stale(firm: Firm) -> list[int]:
    """Ids of the entries the next run would map again."""
    with firm.store.reading() as tx:
        ws = load_workspace(tx)
        context = ws.mapping()
        return [row[0] for row in entry_store.to_map(tx, context.fingerprint())]


def _codes(firm: Firm) -> dict[str, tuple[str, str, str]]:
    c = time_entries.c
    with firm.store.reading() as tx:
        rows = tx.conn.execute(
            select(c.external_id, c.project, c.task, c.cost_center).where(
                c.workspace_id == tx.workspace_id
            )
        )
        return {r.external_id: (r.project, r.task, r.cost_center) for r in rows}


def test_imported_entries_are_mapped_as_they_arrive(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    assert _codes(firm)["A-1"] == ("P-1", "survey", "") and _stale(firm) == []


def test_entries_stored_unmapped_are_mapped_by_the_run(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    with firm.store.transaction() as tx:  # as a webhook delivery stores them
        tx.conn.execute(
            time_entries.update()
            .where(time_entries.c.workspace_id == tx.workspace_id)
            .values(person="", project="", task="", mapped_with="")
        )
    assert len(_stale(firm)) == 2
    firm.run("2026-03-10")
    assert _codes(firm)["A-1"] == ("P-1", "survey", "") and _stale(firm) == []


def test_a_new_revision_is_mapped_as_it_arrives(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    firm.run("2026-03-10")
    firm.import_rows([entry("A-2", "2026-03-03", "2", task="admin")])
    assert _codes(firm)["A-2"][:2] == ("P-1", "admin") and _stale(firm) == []


def test_a_changed_mapping_input_maps_every_entry_again(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8"), entry("A-2", "2026-03-03", "2")])
    firm.run("2026-03-10")
    assert {codes[2] for codes in _codes(firm).values()} == {""}
    # Kari gets a cost center: every entry's codes may have changed.
    firm.apply(
        BASE.replace(
            "{code: kha, name: Kari Hansen, role: naval-architect, site: bergen}",
            "{code: kha, name: Kari Hansen, role: naval-architect, site: bergen, "
            "cost_center: 310-DESIGN}",
        )
        + CONTRACT
    )
    assert len(_stale(firm)) == 2
    firm.run("2026-03-10")
    assert {codes[2] for codes in _codes(firm).values()} == {"310-DESIGN"}
    assert _stale(firm) == []


def test_transferred_entries_are_always_mapped_from_their_transfer(firm: Firm) -> None:
    firm.setup().import_rows([entry("A-1", "2026-03-02", "8")])
    firm.run("2026-03-10")
    with firm.store.transaction() as tx:
        tx.conn.execute(
            time_entries.update()
            .where(time_entries.c.workspace_id == tx.workspace_id)
            .values(transfer_project="P-1", transfer_task="admin")
        )
    assert len(_stale(firm)) == 1
    firm.run("2026-03-10")
    assert _codes(firm)["A-1"][:2] == ("P-1", "admin")
    # A new revision of a moved entry is left for the run, which knows where it went.
    firm.import_rows([entry("A-1", "2026-03-02", "7")])
    assert _codes(firm)["A-1"][:2] == ("", "") and len(_stale(firm)) == 1
    firm.run("2026-03-10")
    assert _codes(firm)["A-1"][:2] == ("P-1", "admin")
