"""SQLite's process-wide settings (billsync/sqlite_library.py), each seen in a fresh
interpreter: they can only be made before Python's driver loads the library."""

from __future__ import annotations

import json
import subprocess
import sys

# Writes through the driver, then asks the library what memory it counts: with its
# statistics off it counts none.
_PROBE = """
import ctypes, importlib.util, json, sys
{first}
import sqlite3
import billsync.sqlite_library as settings
conn = sqlite3.connect(":memory:")
conn.execute("CREATE TABLE t (x TEXT)")
conn.executemany("INSERT INTO t VALUES (?)", [(str(i) * 20,) for i in range(1000)])
library = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
library.sqlite3_memory_used.restype = ctypes.c_int64
print(json.dumps({{"applied": settings.APPLIED, "counted": library.sqlite3_memory_used(),
                  "rows": conn.execute("SELECT count(*) FROM t").fetchone()[0]}}))
"""


def _probe(first: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(first=first)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_importing_billsync_first_turns_off_the_mutexes_nothing_needs() -> None:
    seen = _probe("import billsync")
    assert seen["applied"] == ["multi-thread", "no memory statistics"]
    assert seen["counted"] == 0  # no statistics kept
    assert seen["rows"] == 1000


def test_a_driver_loaded_before_billsync_is_left_as_it_was() -> None:
    seen = _probe("import sqlite3")
    assert seen["applied"] == []
    assert seen["counted"] > 0  # statistics on: the library's default
    assert seen["rows"] == 1000
