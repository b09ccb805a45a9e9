"""Python's cyclic garbage collector, paused for bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Objects made during the work and still alive, up to which its end walks them for the
# garbage cycles among them (an import leaves tens of thousands: about 10 ms a walk).
# A run leaves a million-odd, alive until its caller lets go: not walked.
WALKED = 200_000


@contextmanager
def bulk_work() -> Iterator[None]:
    """The cyclic collector off while a stage builds millions of small acyclic objects:
    it would otherwise rescan them again and again (about a third of a run's time).
    Reference counting still frees everything; the collector runs again after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # The work's own garbage cycles (an import's statements and their
            # parameters) are freed now, where the objects to walk are few, or they
            # would take memory through the work after it.
            if gc.get_count()[0] <= WALKED:
                gc.collect(0)
            # What the work leaves alive (a million entries until the caller lets go)
            # joins the oldest generation unexamined: enabled as it is, the collector's
            # next pass would walk all of it at once. Cycles among it are still found
            # by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()
