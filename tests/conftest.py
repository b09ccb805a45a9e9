"""Shared fixtures. Store tests run on every backend named in BILLSYNC_TEST_BACKENDS
(default: sqlite and postgresql; PostgreSQL must be reachable, it is never skipped)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from billsync.store.db import Store, make_engine, migrate

BACKENDS = os.environ.get("BILLSYNC_TEST_BACKENDS", "sqlite,postgresql").split(",")
PG_ADMIN = os.environ.get(
    "BILLSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_DB = f"billsync_test_{os.getpid()}"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    if "sqlite" in BACKENDS:
        urls["sqlite"] = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    admin = None
    if "postgresql" in BACKENDS:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}"'))
            conn.execute(text(f'CREATE DATABASE "{PG_DB}"'))
        urls["postgresql"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
    for url in urls.values():
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
    yield urls
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> Iterator[Store]:
    """A fresh workspace on one backend: tests never see each other's data."""
    engine = make_engine(database_urls[request.param])
    yield Store(engine, f"ws{next(_names)}-{request.node.name[:40]}")
    engine.dispose()


@pytest.fixture
def db_url(store: Store, database_urls: dict[str, str]) -> str:
    return str(store.engine.url.render_as_string(hide_password=False))


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    def _write(name: str, content: str) -> Path:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        return path

    return _write
