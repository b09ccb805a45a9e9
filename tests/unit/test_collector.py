"""The cyclic collector around bulk work: paused during it, working again after."""

from __future__ import annotations

import gc
import weakref

from billsync.pipeline.collector import WALKED, bulk_work


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_paused_during_bulk_work_and_enabled_after() -> None:
    assert gc.isenabled()
    with bulk_work():
        assert not gc.isenabled()
    assert gc.isenabled()


def _cycle() -> weakref.ref[_Node]:
    """A garbage cycle, and a way to see whether it is still there."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_a_cycle_made_during_bulk_work_is_freed_at_its_end() -> None:
    gc.collect()
    with bulk_work():
        gone = _cycle()
        assert gone() is not None  # no pass runs during the work
    assert gone() is None


def test_after_work_that_leaves_much_alive_its_cycles_wait_for_a_full_collection() -> None:
    gc.collect()
    with bulk_work():
        gone = _cycle()
        alive = [[] for _ in range(WALKED + 1)]  # a run's million entries, smaller
    assert gone() is not None  # what is alive was not walked
    del alive
    gc.collect()
    assert gone() is None


def test_garbage_from_before_is_left_to_the_collector_as_it_was() -> None:
    """Nothing walks the whole heap as bulk work starts (a test process's is large)."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect()  # alive: it joins the oldest generation
    del a, b  # garbage there, where a pass finds it only if it walks everything
    with bulk_work():
        assert gone() is not None
    assert gone() is not None
    gc.collect()
    assert gone() is None


def test_left_disabled_when_it_was_disabled_before() -> None:
    gc.disable()
    try:
        with bulk_work():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
