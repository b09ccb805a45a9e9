"""Codes for entries as they arrive.

Ingest stores a new or changed entry with the codes the workspace's mapping gives it,
so the run, which maps every entry again (it stays the source of truth), finds them
unchanged and writes nothing: a million updates fewer after a bulk import.
"""

from __future__ import annotations

from functools import partial

from billsync.domain.mapping import MappingContext, mapped_codes
from billsync.store.db import Tx
from billsync.store.entries import Mapper

from .workspace import load_workspace


def ingest_mapper(tx: Tx) -> Mapper:
    """A mapper for `ingest` from the workspace as it is now. The context remembers
    what each (source, reference) resolves to, and each project's phase by day."""
    ws = load_workspace(tx)
    context = MappingContext.of(ws.projects.values(), ws.people.values(), ws.rules)
    return partial(mapped_codes, context)
