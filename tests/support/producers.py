"""Generators for tests to run in a second process (it imports them by name, so they
live in a module it can import) and a way to see the processes left behind."""

from __future__ import annotations

import atexit
import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from billsync.pipeline.batches import Batch, rated_elsewhere
from billsync.pipeline.file_chunks import Chunk, read_chunks


def numbers(count: int) -> Iterator[int]:
    yield from range(count)


def numbers_said_aloud(count: int) -> Iterator[int]:
    """Each number, printed too (to a pipe or a file Python buffers what it prints)."""
    for number in range(count):
        print(f"made {number}")
        yield number


def numbers_then_slow_exit(count: int, marker: str) -> Iterator[int]:
    """Numbers, and a handler that writes `marker` when the interpreter ends normally:
    what freeing a large heap at exit stands for."""
    atexit.register(Path(marker).write_text, "torn down")
    yield from range(count)


def numbers_then_error(count: int, error: Exception) -> Iterator[int]:
    yield from range(count)
    raise error


def numbers_then_unpicklable(count: int) -> Iterator[int]:
    yield from range(count)
    raise Unpicklable()


def numbers_then_death(count: int) -> Iterator[int]:
    yield from range(count)
    os.kill(os.getpid(), signal.SIGKILL)


def doubled(given: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Each number it is given, and twice it."""
    for number in given:
        yield number, 2 * number


def doubled_until_negative(given: Iterable[int]) -> Iterator[tuple[int, int]]:
    """As doubled, and a negative number is an error."""
    for number in given:
        if number < 0:
            raise ValueError(f"{number} is negative")
        yield number, 2 * number


def doubled_until_zero(given: Iterable[int]) -> Iterator[tuple[int, int]]:
    """As doubled, and zero kills the process."""
    for number in given:
        if number == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        yield number, 2 * number


def chunks_then_error(*args: Any) -> Iterator[Chunk]:
    """The file's first chunk, then a failure."""
    yield next(read_chunks(*args))
    raise RuntimeError("the disk went away")


def chunks_then_death(*args: Any) -> Iterator[Chunk]:
    """The file's first chunk, then the process is killed."""
    yield next(read_chunks(*args))
    os.kill(os.getpid(), signal.SIGKILL)


def batches_then_error(*args: Any) -> Iterator[Batch]:
    """A run's first batch rated, then a failure."""
    yield next(rated_elsewhere(*args))
    raise RuntimeError("the database went away")


def second_processes() -> list[int]:
    """The processes this one started as second processes that still exist."""
    mine = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # it ended while looked at
            continue
        if state[1] == mine and b"billsync.pipeline.second_process" in command:
            found.append(int(stat.parent.name))
    return found


class Unpicklable(Exception):
    """An error that cannot cross between processes as itself."""

    def __init__(self) -> None:
        super().__init__("made here")
        self.handle = lambda: None
