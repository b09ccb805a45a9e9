"""Codes for entries as they arrive.

Ingest stores a new or changed entry with the codes the workspace's mapping gives it
and the fingerprint of the mapping inputs they come from, so the run, which maps again
only the entries whose codes were resolved under other inputs, has nothing to map after
a bulk import: a million entries it neither reads nor writes again.
"""

from __future__ import annotations

from functools import partial

from billsync.domain.mapping import mapped_codes
from billsync.store.db import Tx
from billsync.store.incoming import Mapper

from .workspace import load_workspace


def ingest_mapper(tx: Tx) -> Mapper:
    """A mapper for `ingest` from the workspace as it is now. The context remembers
    what each (source, reference) resolves to, and each project's phase by day."""
    ws = load_workspace(tx)
    context = ws.mapping()
    return Mapper(partial(mapped_codes, context), context.fingerprint())
