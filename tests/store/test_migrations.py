"""Migrations that change data, from the revision before to the head, on each backend."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from billsync.store.db import make_engine, migrate
from billsync.store.tables import webhook_events, workspaces
from conftest import BACKENDS, PG_ADMIN


@pytest.fixture(params=BACKENDS)
def fresh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An empty database of its own: the shared one is at the head already."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('mig') / 'm.db'}")
        yield engine
        engine.dispose()
        return
    name = f"billsync_migrations_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_clockify_token_kept_with_a_delivery_is_removed(fresh: Engine) -> None:
    migrate(fresh, "0005")
    kept = {"content-type": "application/json", "clockify-signature": "ck-token"}
    with fresh.begin() as conn:
        ws = conn.execute(
            insert(workspaces)
            .values(name="w", created_at=dt.datetime.now(dt.UTC))
            .returning(workspaces.c.id)
        ).scalar()
        for headers in (kept, {"x-toggl-signature": "sha256=ab"}):
            conn.execute(
                insert(webhook_events).values(
                    workspace_id=ws,
                    connection="c",
                    sha256="0" * 64,
                    headers=headers,
                    body="{}",
                    received_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
                    status="processed",
                )
            )
    migrate(fresh, "head")
    with fresh.connect() as conn:
        stored = conn.execute(select(webhook_events.c.headers).order_by(webhook_events.c.id))
        assert [row.headers for row in stored] == [
            {"content-type": "application/json"},
            {"x-toggl-signature": "sha256=ab"},
        ]
