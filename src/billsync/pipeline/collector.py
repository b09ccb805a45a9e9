"""Python's cyclic garbage collector, paused for bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_work() -> Iterator[None]:
    """The cyclic collector off while a stage builds millions of small acyclic objects:
    it would otherwise rescan them again and again (about a third of a run's time).
    Reference counting still frees everything; the collector runs again after."""
    was_enabled = gc.isenabled()
    if was_enabled:
        # Garbage cycles left from before (an import's statements and their parameters)
        # are freed now, or they would take memory through all of the work.
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # What the work leaves alive (a million entries until the caller lets go)
            # joins the oldest generation unexamined: enabled as it is, the collector's
            # next pass would walk all of it at once. Cycles among it are still found
            # by the next full collection.
            gc.freeze()
            gc.unfreeze()
            gc.enable()
