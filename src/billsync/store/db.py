"""Engine, migrations and the unit of work.

`open_store(url)` creates the engine and brings the schema to the newest Alembic
revision on first use, so a fresh machine needs no setup step. `Store.transaction()`
is the unit of work: one transaction in which a change and its audit events are
written together, serialised per workspace so the audit chain never forks.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.pool import NullPool

from .tables import workspaces

MIGRATIONS = Path(__file__).parent / "migrations"
AUTOCHECKPOINT = 1000  # pages: SQLite's default, for every commit but a large one's

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    # A new database's pages: 16 KB, not 4. A bulk import writes a quarter of the pages
    # (each page costs SQLite and the kernel as much as its bytes do). An existing
    # database keeps its own.
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Let SQLAlchemy issue BEGIN itself, so BEGIN IMMEDIATE takes the write lock up front.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def export_snapshot(tx: Tx) -> str | None:
    """What another process needs to read what `tx` reads (its own writes aside): on
    PostgreSQL an exported snapshot; on SQLite nothing, since a write transaction holds
    the write lock and a reader sees the last commit, which is where it started."""
    if tx.conn.dialect.name != "postgresql":
        return None
    return str(tx.conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())


@contextmanager
def reading_snapshot(url: str, workspace_id: int, snapshot: str | None) -> Iterator[Tx]:
    """A read-only transaction, in another process, on what the transaction that gave
    `snapshot` (see export_snapshot) reads."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, poolclass=NullPool)
    if sqlite:
        # A deferred BEGIN: it takes no lock, and its first read fixes what it sees.
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    try:
        with engine.connect() as conn:
            if snapshot is not None:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield Tx(conn, workspace_id)
            conn.rollback()
    finally:
        engine.dispose()


def migrate(engine: Engine, revision: str = "head") -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


class Checkpoints:
    """Copies a SQLite database's write-ahead log into the database file, in a thread
    of its own, after a large commit. Done by the commit itself, as SQLite does, the
    copy of an import of a million entries (about 900 MB) holds the import up for
    seconds; done beside, it overlaps the work that comes next. It is PASSIVE: readers
    and the next writer go on meanwhile, and what it cannot copy yet (a reader still
    needs the older pages) a later checkpoint does."""

    def __init__(self, path: str) -> None:
        self._uri = f"{Path(path).resolve().as_uri()}?mode=rw"  # never creates a file
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = self._again = False  # set and read under the lock

    def start(self) -> None:
        with self._lock:
            if self._running:
                self._again = True  # it copies what was committed when it began
                return
            self._running = True
            # Not a daemon: the interpreter waits for it before it exits.
            self._thread = threading.Thread(target=self._run, name="sqlite checkpoint")
            self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                with closing(sqlite3.connect(self._uri, uri=True, timeout=30)) as conn:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # the log stays; the next checkpoint copies it
                log.warning("checkpoint of the SQLite write-ahead log failed: %s", exc)
            with self._lock:
                if not self._again:
                    self._running = False  # a copy asked for from now starts a thread
                    return
                self._again = False

    def wait(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()


@dataclass
class Store:
    engine: Engine
    workspace: str
    checkpoints: Checkpoints | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.checkpoints is None and (path := _sqlite_file(self.engine)) is not None:
            self.checkpoints = Checkpoints(path)

    @contextmanager
    def transaction(self, *, lock: bool = True, large: bool = False) -> Iterator[Tx]:
        """One write transaction. `lock=False` only for writes that append no audit
        event (a webhook delivery kept verbatim): they need not wait for the writers
        that do, which take the workspace row in turn. `large`: one that may write
        much (an import, a run), whose commit leaves the copy of the write-ahead log
        into the database to a thread (see Checkpoints)."""
        deferred = large and self.checkpoints is not None
        with self.engine.connect() as conn:
            if deferred:
                _autocheckpoint(conn, 0)
            try:
                with conn.begin():
                    yield Tx(conn, self._workspace_id(conn, lock=lock))
            finally:
                if deferred:
                    _autocheckpoint(conn, AUTOCHECKPOINT)
        if deferred:
            assert self.checkpoints is not None
            self.checkpoints.start()

    def close(self) -> None:
        """After the checkpoint under way, if any: the engine's connections closed."""
        if self.checkpoints is not None:
            self.checkpoints.wait()
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        with self.engine.connect() as conn:
            yield Tx(conn, self._workspace_id(conn, lock=False))
            conn.rollback()

    def _workspace_id(self, conn: Connection, *, lock: bool) -> int:
        query = select(workspaces.c.id).where(workspaces.c.name == self.workspace)
        if lock and conn.dialect.name == "postgresql":
            # Row lock: writers of one workspace take turns, so audit seq never collides.
            query = query.with_for_update()
        found = conn.execute(query).scalar()
        if found is not None:
            return int(found)
        return int(
            conn.execute(
                insert(workspaces)
                .values(name=self.workspace, created_at=utcnow())
                .returning(workspaces.c.id)
            ).scalar_one()
        )


def _sqlite_file(engine: Engine) -> str | None:
    """The file of a SQLite database given by its path (not in memory, not a URI)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else database


def _autocheckpoint(conn: Connection, pages: int) -> None:
    """Set straight on the driver's connection: through SQLAlchemy, a statement would
    begin the transaction before its BEGIN IMMEDIATE."""
    driver = conn.connection.driver_connection
    assert driver is not None  # checked out of the pool: open
    driver.execute(f"PRAGMA wal_autocheckpoint={pages}")


@dataclass
class Tx:
    """One open transaction scoped to a workspace."""

    conn: Connection
    workspace_id: int

    def next_invoice_number(self, prefix: str = "INV") -> str:
        seq = self.conn.execute(
            update(workspaces)
            .where(workspaces.c.id == self.workspace_id)
            .values(invoice_seq=workspaces.c.invoice_seq + 1)
            .returning(workspaces.c.invoice_seq)
        ).scalar_one()
        return f"{prefix}-{seq:06d}"


def open_store(url: str, workspace: str = "default") -> Store:
    engine = make_engine(url)
    migrate(engine)
    return Store(engine, workspace)
