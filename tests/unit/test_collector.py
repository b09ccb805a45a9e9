"""The cyclic collector around bulk work: paused during it, working again after."""

from __future__ import annotations

import gc
import weakref

from billsync.pipeline.collector import bulk_work


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_paused_during_bulk_work_and_enabled_after() -> None:
    assert gc.isenabled()
    with bulk_work():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_cycle_made_during_bulk_work_is_collected_after() -> None:
    with bulk_work():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
    assert gone() is not None  # no pass ran during the work, and none at its end
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
