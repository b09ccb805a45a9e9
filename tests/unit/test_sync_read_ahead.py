"""Pages are read ahead in a thread, yet arrive in order, errors where they happened."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from billsync.connectors.base import Page, VendorRecord
from billsync.pipeline.sync import read_ahead


def page(n: int) -> Page:
    return Page([VendorRecord(str(n), {"n": n}, None)])


def numbers(pages: Iterator[Page]) -> list[int]:
    return [int(p.records[0].external_id) for p in pages]


def test_pages_come_in_order_and_all_of_them() -> None:
    with read_ahead(iter([page(n) for n in range(50)])) as pages:
        assert numbers(pages) == list(range(50))


def test_a_read_error_is_raised_after_the_pages_before_it() -> None:
    def failing() -> Iterator[Page]:
        yield page(1)
        yield page(2)
        raise ConnectionError("vendor down")

    seen: list[int] = []
    with pytest.raises(ConnectionError, match="vendor down"), read_ahead(failing()) as pages:
        for p in pages:
            seen.append(int(p.records[0].external_id))
    assert seen == [1, 2]


def test_leaving_early_stops_the_reader_after_the_page_it_is_on() -> None:
    read: list[int] = []

    def endless() -> Iterator[Page]:
        n = 0
        while True:
            read.append(n)
            yield page(n)
            n += 1

    before = threading.active_count()
    with pytest.raises(RuntimeError), read_ahead(endless(), depth=2) as pages:
        for p in pages:
            if p.records[0].external_id == "3":
                raise RuntimeError("the write failed")
    assert threading.active_count() == before  # the reader has finished
    assert len(read) <= 3 + 1 + 2 + 1  # read ahead by the depth, never on and on
