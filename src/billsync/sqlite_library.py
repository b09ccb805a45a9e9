"""The SQLite library's process-wide settings, made before Python's driver loads it.

Python's `sqlite3` initialises the library when it is first imported, and after that
the library's settings are fixed for the life of the process. Two of its defaults make
every call of a bulk write or read take a mutex, which is about a sixth of the
instructions of an insert from Python (measured with callgrind on the import's rows):

- memory statistics, kept under a global mutex on every allocation: only
  `sqlite3_memory_used()` and heap limits read them, and billsync uses neither;
- serialized mode, a mutex around every call on a connection: billsync never uses one
  connection in two threads at once (SQLAlchemy's pool lends each to one thread at a
  time), which is what SQLite's multi-thread mode asks.

The package applies them when it is imported (billsync/__init__.py), before anything of
its own imports `sqlite3`. Where the driver is loaded already, or the library is not
reachable (a build that links SQLite in and hides its symbols), nothing changes: SQLite
stays as safe as it was, and only slower.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys

_SQLITE_OK = 0
_SETTINGS = {  # name -> the sqlite3_config() arguments that make it so
    "multi-thread": (2,),  # SQLITE_CONFIG_MULTITHREAD
    "no memory statistics": (9, 0),  # SQLITE_CONFIG_MEMSTATUS, off
}


def configure() -> tuple[str, ...]:
    """Apply the settings; the names of those that took effect."""
    if "_sqlite3" in sys.modules:
        return ()  # initialised already: the library would refuse (SQLITE_MISUSE)
    spec = importlib.util.find_spec("_sqlite3")
    if spec is None or not spec.origin:
        return ()
    try:
        # The driver's own file, so that the settings reach the very library it uses:
        # loading it runs none of its Python code, and importing it later reuses it.
        config = ctypes.CDLL(spec.origin).sqlite3_config
    except (OSError, AttributeError):
        return ()
    return tuple(name for name, args in _SETTINGS.items() if config(*args) == _SQLITE_OK)


APPLIED = configure()
