"""The one guard every paginator keeps: a vendor whose paging never ends (a next link
to the page just read, a position it ignores, empty pages that still say more) stops
the read with a VendorError naming the platform and the call, never runs forever.

    guard = PageGuard("harvest", "GET /v2/time_entries", "links.next")
    while True:
        guard.at(cursor)                     # a cursor read before: stop
        items, more = ...                    # the request
        guard.read(items, more)              # the previous page again, or empty but more: stop
        if not more: break

A cursor is whatever says where the next page starts (a URL, a row number, a page
number with its window, a stamp and position); it is never printed (a link may
carry a query the vendor made).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from .http import VendorError


class PageGuard:
    def __init__(self, platform: str, call: str, cursor: str = "the next page"):
        self.platform, self.call, self.cursor = platform, call, cursor
        self.pages = 0  # pages read so far
        self._seen: set[Hashable] = set()
        self._previous: Sequence[Any] | None = None

    def at(self, cursor: Hashable) -> None:
        """Before reading the page at `cursor`: one already read means a loop."""
        if cursor in self._seen:
            raise self._stop(f"{self.cursor} repeats a page already read (after page {self.pages})")
        self._seen.add(cursor)

    def read(self, items: Sequence[Any], more: bool) -> None:
        """After reading a page: its items, and whether the vendor says more follow."""
        self.pages += 1
        if items and self._previous is not None and list(items) == list(self._previous):
            raise self._stop(f"page {self.pages} repeats the previous page's records")
        if not items and more:
            raise self._stop(f"page {self.pages} is empty but still says more follow")
        self._previous = items

    def _stop(self, why: str) -> VendorError:
        return VendorError(self.platform, self.call, 200, f"{why}; paging stopped")
