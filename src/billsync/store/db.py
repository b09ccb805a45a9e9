"""Engine, migrations and the unit of work.

`open_store(url)` creates the engine and brings the schema to the newest Alembic
revision on first use, so a fresh machine needs no setup step. `Store.transaction()`
is the unit of work: one transaction in which a change and its audit events are
written together, serialised per workspace so the audit chain never forks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.pool import NullPool

from .tables import workspaces

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
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


@dataclass
class Store:
    engine: Engine
    workspace: str

    @contextmanager
    def transaction(self, *, lock: bool = True) -> Iterator[Tx]:
        """One write transaction. `lock=False` only for writes that append no audit
        event (a webhook delivery kept verbatim): they need not wait for the writers
        that do, which take the workspace row in turn."""
        with self.engine.begin() as conn:
            yield Tx(conn, self._workspace_id(conn, lock=lock))

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
