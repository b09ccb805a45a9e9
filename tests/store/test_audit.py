"""The audit chain detects an edited, removed or reordered event."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete, update

from billsync.config.loader import load
from billsync.pipeline.workspace import apply
from billsync.store import audit
from billsync.store.db import Store
from billsync.store.tables import audit_events

FIRM = Path(__file__).parent.parent / "fixtures" / "firm.yaml"


def seeded(store: Store) -> list[dict[str, object]]:
    apply(store, "firm.yaml", load(FIRM), "finance")
    with store.reading() as tx:
        return audit.events(tx)


def check(store: Store) -> audit.Break | None:
    with store.reading() as tx:
        return audit.verify(tx)


def test_an_untouched_chain_verifies(store: Store) -> None:
    assert len(seeded(store)) == 11
    assert check(store) is None


def test_an_edited_event_is_named(store: Store) -> None:
    events = seeded(store)
    with store.engine.begin() as conn:
        conn.execute(
            update(audit_events)
            .where(audit_events.c.id == events[4]["id"])
            .values(actor="someone-else")
        )
    broken = check(store)
    assert broken is not None and broken.seq == 5 and "edited" in broken.problem


def test_a_removed_event_is_named(store: Store) -> None:
    events = seeded(store)
    with store.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == events[2]["id"]))
    broken = check(store)
    assert broken is not None and broken.seq == 3 and "missing" in broken.problem


def test_removing_the_newest_events_is_detected(store: Store) -> None:
    events = seeded(store)
    with store.engine.begin() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.id == events[-1]["id"]))
    broken = check(store)
    assert broken is not None and "removed" in broken.problem


def test_reordered_events_are_named(store: Store) -> None:
    events = seeded(store)
    a, b = events[5], events[6]
    with store.engine.begin() as conn:  # swap their sequence numbers
        conn.execute(update(audit_events).where(audit_events.c.id == a["id"]).values(seq=-1))
        conn.execute(update(audit_events).where(audit_events.c.id == b["id"]).values(seq=a["seq"]))
        conn.execute(update(audit_events).where(audit_events.c.id == a["id"]).values(seq=b["seq"]))
    broken = check(store)
    assert broken is not None and broken.seq == 6
