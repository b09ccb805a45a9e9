"""A connection wired to a running sandbox, as a workspace would configure it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from billsync.api.webhooks import create_app
from billsync.connectors.auth import stamped
from billsync.connectors.registry import Platform, all_platforms
from billsync.domain.connections import Connection
from billsync.pipeline.connections import Hooks
from billsync.pipeline.workspace import apply
from billsync.sandbox.base import Sandbox, TimeSandbox, serve, serve_app
from billsync.sandbox.registry import all_sandboxes
from billsync.store import secrets
from billsync.store.db import Store
from billsync.store.tables import time_entries, webhook_events

ACTOR = "connector-test"


def platforms_with_sandboxes() -> list[str]:
    sandboxes = all_sandboxes()
    return sorted(name for name in all_platforms() if name in sandboxes)


@dataclass
class Wired:
    store: Store
    code: str
    platform: Platform
    sandbox: Sandbox
    url: str
    waits: list[float] = field(default_factory=list)
    receiver: str | None = None  # billsync's webhook URL for this connection

    @property
    def hooks(self) -> Hooks:
        return Hooks(sleep=self.waits.append)

    @property
    def time(self) -> TimeSandbox:
        assert isinstance(self.sandbox, TimeSandbox)
        return self.sandbox

    def entries(self) -> dict[str, dict[str, Any]]:
        """The stored entries of this connection by external id."""
        with self.store.reading() as tx:
            rows = tx.conn.execute(
                select(time_entries).where(
                    time_entries.c.workspace_id == tx.workspace_id,
                    time_entries.c.source == self.code,
                )
            )
            return {r.external_id: dict(r._mapping) for r in rows}

    def events(self) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            rows = tx.conn.execute(
                select(webhook_events).where(webhook_events.c.workspace_id == tx.workspace_id)
            )
            return [dict(r._mapping) for r in rows]

    def put_secret(self, name: str, value: str) -> None:
        with self.store.transaction() as tx:
            secrets.put(tx, self.code, name, value)

    def token(self) -> dict[str, Any] | None:
        with self.store.reading() as tx:
            return secrets.get_token(tx, self.code)

    def wait_for(self, check: Any, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.02)


@contextmanager
def wired(
    store: Store, name: str, sandbox: Sandbox, *, webhooks: bool = False, **options: Any
) -> Iterator[Wired]:
    """Serve the sandbox, configure connection `name` on it (credentials stored,
    encrypted, as `billsync connections set-secret` would), and with `webhooks` also
    serve billsync's receiver and subscribe it at the sandbox."""
    platform = all_platforms()[name]
    with ExitStack() as stack:
        url = stack.enter_context(serve(sandbox))
        setup = sandbox.setup(url) if isinstance(sandbox, TimeSandbox) else _setup(sandbox, url)
        settings = dict(setup.settings)
        if platform.oauth is not None:
            settings.setdefault("auth_url", url)
        credentials = {k: "stored" for k in setup.credentials}
        if platform.webhooks:
            credentials["webhook_secret"] = "stored"
        connection = Connection(
            code=name,
            platform=name,
            base_url=url,
            credentials=credentials,
            settings=settings,
            timezone="Europe/Oslo",
            pull_time=platform.source is not None,
            push_invoices=platform.sink is not None,
            **options,
        )
        apply(store, "connections.yaml", {"connection": [connection]}, ACTOR)
        with store.transaction() as tx:
            for key, value in setup.credentials.items():
                secrets.put(tx, name, key, value)
            if setup.token is not None:
                secrets.put_token(tx, name, stamped(dict(setup.token), time.time()))
        result = Wired(store, name, platform, sandbox, url)
        if webhooks:
            app = create_app(store, result.hooks)
            base = stack.enter_context(serve_app(app, "billsync receiver"))
            result.receiver = f"{base}/webhooks/{name}"
            secret = (
                sandbox.subscribe(result.receiver) if isinstance(sandbox, TimeSandbox) else None
            )
            assert secret is not None, f"{name}: the sandbox takes no webhook subscription"
            result.put_secret("webhook_secret", secret)
        yield result


def _setup(sandbox: Sandbox, url: str) -> Any:
    setup = getattr(sandbox, "setup", None)
    assert setup is not None, f"{sandbox.platform}: the sandbox has no setup()"
    return setup(url)
