"""A generator run in a second process: its items in order, its errors and its death
raised here, and no process left behind however the caller leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from billsync.pipeline.second_process import in_second_process
from support.producers import (
    numbers,
    numbers_then_death,
    numbers_then_error,
    numbers_then_unpicklable,
    second_processes,
)


def test_every_item_comes_in_order() -> None:
    with in_second_process(numbers, 5) as items:
        assert list(items) == [0, 1, 2, 3, 4]
    assert second_processes() == []


def test_an_error_there_is_raised_here_after_the_items_before_it() -> None:
    got = []
    with (
        pytest.raises(LookupError, match="no such thing") as raised,
        in_second_process(numbers_then_error, 2, LookupError("no such thing")) as items,
    ):
        got.extend(items)
    assert got == [0, 1]
    assert "numbers_then_error" in raised.value.__notes__[0]  # its traceback
    assert second_processes() == []


def test_an_error_that_does_not_pickle_is_named() -> None:
    with (
        pytest.raises(RuntimeError, match="Unpicklable: made here"),
        in_second_process(numbers_then_unpicklable, 1) as items,
    ):
        list(items)


def test_its_death_is_an_error_here() -> None:
    got = []
    with (
        pytest.raises(ChildProcessError, match="stopped before it finished"),
        in_second_process(numbers_then_death, 2) as items,
    ):
        got.extend(items)
    assert got == [0, 1]
    assert second_processes() == []


def test_leaving_early_ends_it() -> None:
    with in_second_process(numbers, 10**9) as items:
        assert next(items) == 0
        assert len(second_processes()) == 1
    assert second_processes() == []


def test_a_module_in_the_working_directory_does_not_shadow_what_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "json.py").write_text("raise SystemExit('the json.py of the working directory')\n")
    monkeypatch.chdir(tmp_path)
    with in_second_process(numbers, 2) as items:
        assert list(items) == [0, 1]
