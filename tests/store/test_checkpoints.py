"""SQLite files (store/db.py): a new one's page size, and a large commit leaving the
copy of its write-ahead log into the database file to a thread (Checkpoints), where
every other commit copies as SQLite does."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from billsync.store.db import AUTOCHECKPOINT, Checkpoints, Store, make_engine, migrate

# Bytes: twice the log a commit leaves uncopied (its pages are 16 KB).
FILLER = 2 * AUTOCHECKPOINT * 16384


def _store(path: Path) -> Store:
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return Store(engine, "ws")


def _fill(store: Store, *, large: bool) -> None:
    with store.transaction(large=large) as tx:
        tx.conn.exec_driver_sql("CREATE TABLE filler (data BLOB)")
        tx.conn.exec_driver_sql(f"INSERT INTO filler VALUES (zeroblob({FILLER}))")


def _copies_asked_for(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each copy the store asks for, noted instead of made."""
    assert store.checkpoints is not None
    started: list[bool] = []
    monkeypatch.setattr(store.checkpoints, "start", lambda: started.append(True))
    return started


def test_an_ordinary_commit_copies_the_log_into_the_database_itself(tmp_path: Path) -> None:
    store = _store(tmp_path / "db.sqlite")
    _fill(store, large=False)
    assert (tmp_path / "db.sqlite").stat().st_size > FILLER
    store.close()


def test_a_large_commit_leaves_the_copy_to_a_thread_and_close_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "db.sqlite")
    assert store.checkpoints is not None
    real_start = store.checkpoints.start
    started = _copies_asked_for(store, monkeypatch)
    _fill(store, large=True)
    assert started == [True]
    # Committed, in the log only: the database file has not grown yet.
    assert (tmp_path / "db.sqlite").stat().st_size < FILLER
    with store.reading() as tx:
        assert tx.conn.exec_driver_sql("SELECT length(data) FROM filler").scalar() == FILLER
    real_start()
    store.close()
    assert (tmp_path / "db.sqlite").stat().st_size > FILLER


def test_the_pooled_connection_checkpoints_as_sqlite_does_again_after(tmp_path: Path) -> None:
    store = _store(tmp_path / "db.sqlite")
    _fill(store, large=True)
    with store.engine.connect() as conn:
        setting = conn.connection.driver_connection.execute("PRAGMA wal_autocheckpoint")
        assert setting.fetchone() == (AUTOCHECKPOINT,)
    store.close()


def test_a_large_transaction_that_fails_writes_nothing_and_starts_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path / "db.sqlite")
    started = _copies_asked_for(store, monkeypatch)
    with pytest.raises(RuntimeError, match="stop"), store.transaction(large=True) as tx:
        tx.conn.exec_driver_sql("CREATE TABLE filler (data BLOB)")
        raise RuntimeError("stop")
    assert started == []
    with store.reading() as tx:
        tables = tx.conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'filler'")
        assert tables.fetchall() == []
    store.close()


def test_a_copy_asked_for_while_one_runs_is_made_after_it(tmp_path: Path) -> None:
    store = _store(tmp_path / "db.sqlite")
    _fill(store, large=True)
    with store.transaction(large=True) as tx:  # the first copy may still run
        tx.conn.exec_driver_sql(f"INSERT INTO filler VALUES (zeroblob({FILLER}))")
    store.close()
    assert (tmp_path / "db.sqlite").stat().st_size > 2 * FILLER


def test_a_failed_copy_is_logged_and_creates_no_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone.sqlite"
    checkpoints = Checkpoints(str(missing))
    with caplog.at_level(logging.WARNING, logger="billsync.store.db"):
        checkpoints.start()
        checkpoints.wait()
    assert "checkpoint of the SQLite write-ahead log failed" in caplog.text
    assert not missing.exists()


def test_a_database_in_memory_has_no_copy_to_make() -> None:
    store = Store(make_engine("sqlite://"), "ws")
    assert store.checkpoints is None
    store.close()


def test_the_log_holds_what_the_copy_has_not_reached(tmp_path: Path) -> None:
    """A reader still on an older state keeps its pages: the copy leaves them, and the
    data stays whole either way."""
    store = _store(tmp_path / "db.sqlite")
    reader = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM workspaces").fetchone()  # holds this state
    _fill(store, large=True)
    store.close()
    assert reader.execute("SELECT name FROM sqlite_master WHERE name = 'filler'").fetchall() == []
    reader.execute("COMMIT")
    assert reader.execute("SELECT length(data) FROM filler").fetchone() == (FILLER,)
    reader.close()


def test_a_new_database_has_16_kb_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    older = tmp_path / "older.sqlite"
    with sqlite3.connect(older) as conn:
        conn.execute("CREATE TABLE kept (x)")
    conn.close()
    for path, size in ((tmp_path / "new.sqlite", 16384), (older, 4096)):
        store = _store(path)
        with store.reading() as tx:
            assert tx.conn.exec_driver_sql("PRAGMA page_size").scalar() == size
        store.close()
