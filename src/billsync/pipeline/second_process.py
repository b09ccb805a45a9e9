"""A generator run in a second process, so that its work and this process's use of what
it yields share the machine's cores (an import file parsed while the chunk before it
is written).

The process is a fresh interpreter, never a fork: this one holds a database connection
and may run threads, whose locks a fork would copy. It is started as this module, not
through multiprocessing's spawn, which would first import the caller's main module (the
CLI or a script, everything billsync has: about a second) before any work.

What crosses is pickled: the generator function (by name, so one at a module's top
level), its arguments and every item. Items of plain values (tuples of str, int, dates)
cost little; objects cost several times more, on both sides.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def in_second_process(produce: Callable[..., Iterable[T]], *args: Any) -> Iterator[Iterator[T]]:
    """What `produce(*args)` yields, produced in a second process while this one uses
    the item before. An item waits in the pipe until it is taken, so at most one is made
    ahead and memory stays flat.

    An error in `produce` is raised here, where its next item would have come, with the
    second process's traceback as a note; the process dying is an error here too.
    Leaving early (an error here, Ctrl-C) ends the process: none is left behind."""
    receiving, sending = os.pipe()
    try:
        child = subprocess.Popen(
            # -P: not the working directory's modules first (a json.py where one imports)
            [sys.executable, "-P", "-m", __name__, str(sending)],
            stdin=subprocess.PIPE,
            pass_fds=(sending,),
            # What it imports is what this process can (a test's or a script's path too).
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            # Its own group: Ctrl-C at a terminal interrupts this process alone, which
            # then ends it.
            process_group=0,
        )
    except BaseException:
        os.close(receiving)
        raise
    finally:
        # The child holds the sending end now: once it ends, reading finds the end of
        # the pipe instead of waiting for ever.
        os.close(sending)
    receiver = Connection(receiving, writable=False)
    try:
        assert child.stdin is not None  # stdin=PIPE
        with suppress(BrokenPipeError), child.stdin:  # it died early: reading says so
            child.stdin.write(pickle.dumps((produce, args), pickle.HIGHEST_PROTOCOL))
        del args  # sent: its memory is the second process's now
        yield _received(receiver, child)
    finally:
        if child.poll() is None:  # left early
            child.terminate()
        child.wait()
        receiver.close()


def _received(receiver: Connection, child: subprocess.Popen[bytes]) -> Iterator[Any]:
    while True:
        try:
            kind, value = receiver.recv()
        except EOFError:
            raise ChildProcessError(
                f"the second process stopped before it finished (exit status {child.wait()})"
            ) from None
        if kind == "item":
            yield value
        elif kind == "end":
            child.wait()
            return
        else:
            error, trace = value
            error.add_note(f"(raised in the second process)\n{trace}")
            raise error


def _produce(sending: int) -> None:
    sender = Connection(sending, readable=False)
    try:
        produce, args = pickle.load(sys.stdin.buffer)
        for item in produce(*args):
            sender.send(("item", item))
    except BrokenPipeError:
        return  # the parent is gone: there is no one to tell
    except Exception as exc:
        sender.send(("error", (_picklable(exc), traceback.format_exc())))
    else:
        sender.send(("end", None))


def _picklable(error: Exception) -> Exception:
    """The error itself, or one that says what it was where it does not pickle."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    _produce(int(sys.argv[1]))
