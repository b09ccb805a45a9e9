"""A generator run in a second process, so that its work and this process's use of what
it yields share the machine's cores: an import file parsed while the chunk before it is
written (`second_process`), or a share of a run's batches rated while this process
rates others, each batch given to whichever process is free (`sharing_with_second_process`).

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
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from multiprocessing.connection import Connection
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")

_END = object()  # the second process made its last item


@contextmanager
def second_process() -> Iterator[Starting]:
    """A second process, started now: its interpreter starts (about a third of a
    second) while this one works out what to tell it to produce (`Starting.run`)."""
    with _started() as (child, receiver):
        yield Starting(child, receiver)


class Starting:
    """This process's side of `second_process`."""

    def __init__(self, child: subprocess.Popen[bytes], receiver: Connection) -> None:
        self._child, self._receiver = child, receiver

    def run(self, produce: Callable[..., Iterable[T]], *args: Any) -> Iterator[T]:
        """What `produce(*args)` yields (once only), produced in the second process
        while this one uses the item before. An item waits in the pipe until it is
        taken, so at most one is made ahead and memory stays flat.

        An error in `produce` is raised here, where its next item would have come, with
        the second process's traceback as a note; the process dying is an error here
        too. Leaving `second_process` early (an error here, Ctrl-C) ends the process:
        none is left behind."""
        stdin = self._child.stdin
        assert stdin is not None  # stdin=PIPE
        with suppress(BrokenPipeError), stdin:  # it died early: reading says so
            stdin.write(pickle.dumps((produce, args, False), pickle.HIGHEST_PROTOCOL))
        del args  # sent: its memory is the second process's now
        return _received(self._receiver, self._child)


@contextmanager
def sharing_with_second_process(
    produce: Callable[..., Iterable[T]], *args: Any
) -> Iterator[Shared[T]]:
    """A second process that yields what `produce(*args, given)` makes of the items
    this one gives it (`given` iterates over them as they come, and ends when this one
    gives no more). Giving never waits, nor does the second process for this one to
    take what it made: each side works on while the other is busy. Errors, its death
    and leaving early are as with `second_process`."""
    with _started() as (child, receiver):
        assert child.stdin is not None  # stdin=PIPE
        giver = _InOrder(partial(_dump, child.stdin), "second process input")
        try:
            giver.put((produce, args, True))
            del args
            yield Shared(receiver, child, giver)
        finally:
            if child.poll() is None:
                child.terminate()  # left early: a write it waits on fails now
            giver.close()
            with suppress(BrokenPipeError):
                child.stdin.close()


class Shared(Generic[T]):
    """This process's side of `sharing_with_second_process`."""

    def __init__(self, receiver: Connection, child: subprocess.Popen[bytes], giver: _InOrder):
        self._receiver, self._child, self._giver = receiver, child, giver

    def give(self, item: Any) -> None:
        """One more item for it to work on, after those given before."""
        self._giver.put(item)

    def made(self) -> Iterator[T]:
        """What it has made so far, without waiting for more."""
        while self._receiver.poll():
            item = _next(self._receiver, self._child)
            if item is _END:
                return
            yield item

    def rest(self) -> Iterator[T]:
        """Everything it has still to make: it is given nothing more."""
        self._giver.close()
        assert self._child.stdin is not None  # stdin=PIPE
        with suppress(BrokenPipeError):
            self._child.stdin.close()  # the end of what it is given
        yield from _received(self._receiver, self._child)


class _InOrder:
    """`send` called with each item put, in order, in a thread of its own: the one
    putting them goes on while `send` waits on a pipe the other process is too busy to
    empty. It stops when the other process is gone (BrokenPipeError)."""

    def __init__(self, send: Callable[[Any], None], name: str) -> None:
        self._send = send
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def _run(self) -> None:
        with suppress(BrokenPipeError):
            while (item := self._queue.get()) is not _END:
                self._send(item)

    def close(self) -> None:
        """After what was put is sent (or cannot be)."""
        self._queue.put(_END)
        self._thread.join()


def _dump(pipe: IO[bytes], item: Any) -> None:
    pickle.dump(item, pipe, pickle.HIGHEST_PROTOCOL)
    pipe.flush()


@contextmanager
def _started() -> Iterator[tuple[subprocess.Popen[bytes], Connection]]:
    """A second process, which reads what to run from its input, and the end of the
    pipe it answers on."""
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
        yield child, receiver
    finally:
        if child.poll() is None:  # left early
            child.terminate()
        child.wait()
        receiver.close()


def _received(receiver: Connection, child: subprocess.Popen[bytes]) -> Iterator[Any]:
    while (item := _next(receiver, child)) is not _END:
        yield item


def _next(receiver: Connection, child: subprocess.Popen[bytes]) -> Any:
    """Its next item, waiting for it, or _END."""
    try:
        kind, value = receiver.recv()
    except EOFError:
        raise ChildProcessError(
            f"the second process stopped before it finished (exit status {child.wait()})"
        ) from None
    if kind == "item":
        return value
    if kind == "end":
        child.wait()
        return _END
    error, trace = value
    error.add_note(f"(raised in the second process)\n{trace}")
    raise error


def _produce(sending: int) -> None:
    sender = Connection(sending, readable=False)
    send: Callable[[tuple[str, Any]], None] = partial(_send_or_say_why, sender)
    behind: _InOrder | None = None
    try:
        produce, args, shared = pickle.load(sys.stdin.buffer)
        if shared:
            # Sent from a thread: making the next item never waits for the first
            # process to take the one before (it takes them between its own).
            behind = _InOrder(send, "second process output")
            send = behind.put
        for item in produce(*args, _given(sys.stdin.buffer)) if shared else produce(*args):
            send(("item", item))
    except BrokenPipeError:
        return  # the parent is gone: there is no one to tell
    except Exception as exc:
        send(("error", (_picklable(exc), traceback.format_exc())))
    else:
        send(("end", None))
    finally:
        if behind is not None:
            behind.close()


def _send_or_say_why(connection: Connection, message: tuple[str, Any]) -> None:
    try:
        connection.send(message)
    except BrokenPipeError:
        raise
    except Exception as exc:  # an item that does not pickle: the first process raises why
        connection.send(("error", (_picklable(exc), traceback.format_exc())))


def _given(pipe: IO[bytes]) -> Iterator[Any]:
    """The items the first process gives, until it closes the pipe: no more."""
    while True:
        try:
            yield pickle.load(pipe)
        except EOFError:
            return


def _picklable(error: Exception) -> Exception:
    """The error itself, or one that says what it was where it does not pickle."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    _produce(int(sys.argv[1]))
    # Everything is sent: end now, without freeing the heap object by object (a parser's
    # or a rater's: half a second the first process would wait for).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
