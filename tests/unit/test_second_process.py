"""A generator run in a second process, alone or on what it is given: its items in
order, its errors and its death raised here, and no process left behind however the
caller leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from billsync.pipeline.second_process import second_process, sharing_with_second_process
from support.producers import (
    doubled,
    doubled_until_negative,
    doubled_until_zero,
    numbers,
    numbers_said_aloud,
    numbers_then_death,
    numbers_then_error,
    numbers_then_slow_exit,
    numbers_then_unpicklable,
    second_processes,
)


def test_every_item_comes_in_order() -> None:
    with second_process() as there:
        assert list(there.run(numbers, 5)) == [0, 1, 2, 3, 4]
    assert second_processes() == []


def test_it_ends_without_tearing_its_interpreter_down(tmp_path: Path) -> None:
    """Its heap (a parser's or a rater's) is not freed object by object at its end:
    this process waits for that end after the last item."""
    marker = tmp_path / "torn down"
    with second_process() as there:
        assert list(there.run(numbers_then_slow_exit, 2, str(marker))) == [0, 1]
    assert not marker.exists()
    assert second_processes() == []


def test_what_it_prints_is_not_lost_when_it_ends(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # what it prints waits in a buffer
    with second_process() as there:
        assert list(there.run(numbers_said_aloud, 3)) == [0, 1, 2]
    assert capfd.readouterr().out.splitlines() == ["made 0", "made 1", "made 2"]


def test_an_error_there_is_raised_here_after_the_items_before_it() -> None:
    got = []
    with (
        pytest.raises(LookupError, match="no such thing") as raised,
        second_process() as there,
    ):
        got.extend(there.run(numbers_then_error, 2, LookupError("no such thing")))
    assert got == [0, 1]
    assert "numbers_then_error" in raised.value.__notes__[0]  # its traceback
    assert second_processes() == []


def test_an_error_that_does_not_pickle_is_named() -> None:
    with (
        pytest.raises(RuntimeError, match="Unpicklable: made here"),
        second_process() as there,
    ):
        list(there.run(numbers_then_unpicklable, 1))


def test_its_death_is_an_error_here() -> None:
    got = []
    with (
        pytest.raises(ChildProcessError, match="stopped before it finished"),
        second_process() as there,
    ):
        got.extend(there.run(numbers_then_death, 2))
    assert got == [0, 1]
    assert second_processes() == []


def test_leaving_early_ends_it() -> None:
    with second_process() as there:
        assert next(there.run(numbers, 10**9)) == 0
        assert len(second_processes()) == 1
    assert second_processes() == []


def test_it_starts_before_it_is_told_what_to_produce() -> None:
    with second_process() as there:
        assert len(second_processes()) == 1  # started, waiting to be told
        assert list(there.run(numbers, 3)) == [0, 1, 2]
    assert second_processes() == []


def test_an_error_before_it_is_told_what_to_produce_ends_it() -> None:
    with pytest.raises(LookupError), second_process():
        assert len(second_processes()) == 1
        raise LookupError("the arguments could not be worked out")
    assert second_processes() == []


def test_a_module_in_the_working_directory_does_not_shadow_what_it_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "json.py").write_text("raise SystemExit('the json.py of the working directory')\n")
    monkeypatch.chdir(tmp_path)
    with second_process() as there:
        assert list(there.run(numbers, 2)) == [0, 1]


def test_what_it_is_given_comes_back_made_in_the_order_given() -> None:
    with sharing_with_second_process(doubled) as shared:
        for number in (3, 1, 2):
            shared.give(number)
        made = list(shared.made())  # what is ready: none, some or all of them
        made += shared.rest()
    assert made == [(3, 6), (1, 2), (2, 4)]
    assert second_processes() == []


def test_giving_while_taking_what_it_made() -> None:
    """The way a run shares batches: give, take what is ready, give more."""
    got: list[tuple[int, int]] = []
    with sharing_with_second_process(doubled) as shared:
        for number in range(50):
            shared.give(number)
            got += shared.made()
        got += shared.rest()
    assert got == [(n, 2 * n) for n in range(50)]


def test_given_nothing_it_makes_nothing() -> None:
    with sharing_with_second_process(doubled) as shared:
        assert list(shared.rest()) == []
    assert second_processes() == []


def test_an_error_there_comes_after_what_it_made_before() -> None:
    got: list[tuple[int, int]] = []
    with (
        pytest.raises(ValueError, match="-1 is negative") as raised,
        sharing_with_second_process(doubled_until_negative) as shared,
    ):
        for number in (1, 2, -1, 3):
            shared.give(number)
        got.extend(shared.rest())
    assert got == [(1, 2), (2, 4)]
    assert "doubled_until_negative" in raised.value.__notes__[0]
    assert second_processes() == []


def test_its_death_while_sharing_is_an_error_here() -> None:
    with (
        pytest.raises(ChildProcessError, match="stopped before it finished"),
        sharing_with_second_process(doubled_until_zero) as shared,
    ):
        shared.give(1)
        shared.give(0)
        list(shared.rest())
    assert second_processes() == []


def test_leaving_a_sharing_early_ends_it() -> None:
    with pytest.raises(KeyboardInterrupt), sharing_with_second_process(doubled) as shared:
        # More than its input pipe holds: the writing thread waits on it.
        for number in range(100_000):
            shared.give(number)
        assert len(second_processes()) == 1
        raise KeyboardInterrupt
    assert second_processes() == []
