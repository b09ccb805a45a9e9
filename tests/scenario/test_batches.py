"""A run checks and rates its entries in batches of whole people, to bound its memory,
and on a large workspace shares the batches with a second process: what it finds and
drafts depends on neither."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from tests.conftest import BACKENDS
from tests.support import producers

from billsync.demo.timegen import SOURCES, generate_count, workspace_for_rows, write_by_source
from billsync.domain.canonical import Defaults
from billsync.pipeline import run as pipeline
from billsync.pipeline.files import import_file
from billsync.pipeline.workspace import apply
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.db import Store, make_engine, open_store
from billsync.store.tables import time_entries

_names = itertools.count(1)
ONE_PROCESS = 10**9  # entries from which a second process would rate: never here


def _imported(store: Store, tmp: Path) -> None:
    records = workspace_for_rows(3000)
    paths = {source: tmp / f"{source}.csv" for source in SOURCES}
    write_by_source(generate_count(3000, 5, records=records), paths)
    apply(store, "firm.yaml", records, "finance")
    for source, path in paths.items():
        import_file(store, path, source=source, actor="importer", defaults=Defaults(), partial=True)


def _outcome(store: Store, **batching: int) -> tuple[Any, ...]:
    report = pipeline.run(store, today=dt.date(2026, 11, 25), actor="finance", **batching)
    with store.reading() as tx:
        invoices = [
            (i["contract"], i["kind"], i["total"], i["amount_due"])
            for i in invoice_store.listing(tx)
        ]
        # Messages name entries by source and external id (their database ids
        # differ between the two workspaces).
        exceptions = sorted((e["code"], e["message"]) for e in exception_store.listing(tx))
        lines = sorted(
            (str(r.quantity), str(r.unit_price), str(r.amount))
            for r in tx.conn.execute(
                invoice_store.line_entries.select()
                .join(time_entries, time_entries.c.id == invoice_store.line_entries.c.entry_id)
                .where(time_entries.c.workspace_id == tx.workspace_id)
            )
        )
    return report.entries, sorted(invoices), exceptions, lines


def _other(store: Store) -> Store:
    return Store(store.engine, f"{store.workspace}-other-{next(_names)}")


def test_the_outcome_does_not_depend_on_the_batch_size(store: Store, tmp_path: Path) -> None:
    _imported(store, tmp_path)
    whole = _outcome(store, second_process_from=ONE_PROCESS)
    other = _other(store)
    _imported(other, tmp_path)
    # Many batches, each person still whole.
    batched = _outcome(other, batch_size=7, second_process_from=ONE_PROCESS)
    assert whole == batched
    assert whole[1] and whole[2]  # it drafted invoices and found exceptions to compare


def _watched(monkeypatch: pytest.MonkeyPatch, before: Callable[[Any], None]) -> None:
    """`before(batch)` called with each batch the run gives a second process, first."""
    real = pipeline.sharing_with_second_process

    @contextmanager
    def watched(produce: Any, *args: Any) -> Iterator[Any]:
        with real(produce, *args) as shared:
            give = shared.give

            def watched_give(batch: Any) -> None:
                before(batch)
                give(batch)

            shared.give = watched_give  # type: ignore[method-assign]
            yield shared

    monkeypatch.setattr(pipeline, "sharing_with_second_process", watched)


def _spied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The places in the run of the batches given to second processes."""
    given: list[int] = []
    _watched(monkeypatch, lambda batch: given.append(batch[0]))
    return given


def test_batches_rated_in_a_second_process_give_the_same_outcome(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _imported(store, tmp_path)
    alone = _outcome(store, batch_size=500, second_process_from=ONE_PROCESS)
    other = _other(store)
    _imported(other, tmp_path)
    given = _spied(monkeypatch)
    together = _outcome(other, batch_size=500, second_process_from=0)
    assert len(given) >= 2  # the second process did rate batches
    assert 0 not in given  # and this one too: it takes the first
    assert together == alone


def test_codes_the_run_mapped_reach_the_second_process(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's mapping writes are not committed when the second process reads: the
    codes it stored must reach it with the batches, or those entries look unmapped."""

    def forget_mapping(where: Store) -> None:
        with where.transaction() as tx:
            tx.conn.execute(
                update(time_entries)
                .where(time_entries.c.workspace_id == tx.workspace_id, time_entries.c.id % 2 == 0)
                .values(project="", task="", mapped_with="")
            )

    _imported(store, tmp_path)
    forget_mapping(store)
    alone = _outcome(store, batch_size=500, second_process_from=ONE_PROCESS)
    other = _other(store)
    _imported(other, tmp_path)
    forget_mapping(other)
    given = _spied(monkeypatch)
    together = _outcome(other, batch_size=500, second_process_from=0)
    assert given
    assert together == alone
    assert not [e for e in alone[2] if e[0] == "entry.unmapped" and "P-" in e[1]]


def test_a_failure_in_the_second_process_leaves_nothing_written(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _imported(store, tmp_path)
    with store.reading() as tx:
        before = invoice_store.listing(tx), exception_store.listing(tx)
    monkeypatch.setattr(pipeline, "rated_elsewhere", producers.batches_then_error)
    with pytest.raises(RuntimeError, match="the database went away"):
        _outcome(store, batch_size=500, second_process_from=0)
    with store.reading() as tx:
        assert (invoice_store.listing(tx), exception_store.listing(tx)) == before
    assert not producers.second_processes()


def test_an_in_memory_database_is_rated_in_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No other process can open it."""
    store = open_store("sqlite://", "memory")
    _imported(store, tmp_path)
    given = _spied(monkeypatch)
    entries, invoices, _, _ = _outcome(store, batch_size=500, second_process_from=0)
    assert given == []
    assert entries > 1000 and invoices


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"])
def test_the_second_process_reads_what_the_run_started_from(
    backend: str, database_urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL another transaction may commit while the run goes on (on SQLite
    the run holds the write lock; writers that append audit events wait for the
    workspace's row): the second process reads what the run read when it began."""
    engine = make_engine(database_urls[backend])
    store = Store(engine, f"snapshot-{next(_names)}")
    _imported(store, tmp_path)
    alone = _outcome(store, batch_size=500, second_process_from=ONE_PROCESS)
    other = Store(engine, f"snapshot-{next(_names)}")
    _imported(other, tmp_path)

    def unmap_first(batch: Any) -> None:
        # The entries of a batch for the second process unmapped, committed after
        # the run's snapshot and before that process reads them.
        with other.transaction(lock=False) as tx:
            tx.conn.execute(
                update(time_entries).where(time_entries.c.id.in_(list(batch[1]))).values(project="")
            )

    _watched(monkeypatch, unmap_first)
    assert _outcome(other, batch_size=500, second_process_from=0) == alone
    engine.dispose()


def test_a_run_holds_one_contracts_portions_at_a_time(store: Store, tmp_path: Path) -> None:
    # A run caps, plans and drafts contract after contract, each contract's portions let
    # go before the next is capped: the planner sees only the contract it plans.
    _imported(store, tmp_path)
    seen: list[tuple[str, set[str]]] = []

    def planner(tx: Any, prep: pipeline.Prepared, contract: Any) -> list[pipeline.Planned]:
        seen.append((contract.code, set(prep.portions)))
        return pipeline.clock_plan(tx, prep, contract)

    with store.reading() as tx:
        eager = pipeline.prepare(tx, dt.date(2026, 11, 25), keep_entries=False)
    report = pipeline.run(store, today=dt.date(2026, 11, 25), actor="finance", planner=planner)
    assert report.drafted
    assert [code for code, _ in seen] == sorted(eager.ws.contracts)
    assert all(held <= {code} for code, held in seen)
    assert {code for code, held in seen if held} == {c for c, p in eager.portions.items() if p}


def test_a_contract_is_capped_once_and_not_after_it_is_let_go(store: Store, tmp_path: Path) -> None:
    _imported(store, tmp_path)
    today = dt.date(2026, 11, 25)
    with store.reading() as tx:
        eager = pipeline.prepare(tx, today, keep_entries=False)
        lazy = pipeline.prepare(tx, today, keep_entries=False, capped=False)
        assert lazy.portions == {} and len(lazy.findings) < len(eager.findings)
        for code in eager.portions:
            assert lazy.cap(tx, code) == eager.portions[code]
            assert lazy.cap(tx, code) is lazy.portions[code]  # capped once
        assert lazy.findings == eager.findings and lazy.held == eager.held
        code = next(iter(eager.portions))
        lazy.forget(code)
        assert code not in lazy.portions
        with pytest.raises(RuntimeError, match="let go"):
            lazy.cap(tx, code)
