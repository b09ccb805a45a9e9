"""A run checks and rates its entries in batches of whole people, to bound its memory:
what it finds and drafts does not depend on how big those batches are."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest

from billsync.demo.timegen import SOURCES, generate_count, workspace_for_rows, write_by_source
from billsync.domain.canonical import Defaults
from billsync.pipeline import run as pipeline
from billsync.pipeline.files import import_file
from billsync.pipeline.workspace import apply
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.db import Store

_names = itertools.count(1)


def _outcome(store: Store, tmp: Path) -> tuple[Any, ...]:
    records = workspace_for_rows(3000)
    paths = {source: tmp / f"{source}.csv" for source in SOURCES}
    write_by_source(generate_count(3000, 5, records=records), paths)
    apply(store, "firm.yaml", records, "finance")
    for source, path in paths.items():
        import_file(store, path, source=source, actor="importer", defaults=Defaults(), partial=True)
    report = pipeline.run(store, today=dt.date(2026, 11, 25), actor="finance")
    with store.reading() as tx:
        invoices = [
            (i["contract"], i["kind"], i["total"], i["amount_due"])
            for i in invoice_store.listing(tx)
        ]
        # Messages name entries by source and external id (their database ids
        # differ between the two workspaces).
        exceptions = sorted((e["code"], e["message"]) for e in exception_store.listing(tx))
    return report.entries, sorted(invoices), exceptions


def test_the_outcome_does_not_depend_on_the_batch_size(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _outcome(store, tmp_path)
    monkeypatch.setattr(pipeline, "BATCH", 7)  # many batches, each person still whole
    other = Store(store.engine, f"{store.workspace}-batched-{next(_names)}")
    batched = _outcome(other, tmp_path)
    assert whole == batched
    assert whole[1] and whole[2]  # it drafted invoices and found exceptions to compare
