"""A configured connection, opened: its platform, resolved secrets, stored tokens.

    with opened(store, "harvest") as (platform, context):   # Context for the connector
        source = open_source(platform, context)

Credentials are resolved only here: `env:NAME` from the environment, `stored` from the
encrypted store. OAuth2 tokens are saved back, encrypted, each time one is refreshed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from billsync.connectors.base import Context, Credentials, Sink, Source
from billsync.connectors.registry import Platform, platform
from billsync.domain.connections import Connection
from billsync.domain.model import Code
from billsync.errors import UserError
from billsync.store import records, secrets
from billsync.store.db import Store, Tx


class UnknownConnection(UserError):
    pass


@dataclass
class StoredTokens:
    """An OAuth2 connection's tokens, encrypted in the store."""

    store: Store
    connection: str

    def load(self) -> dict[str, Any] | None:
        with self.store.reading() as tx:
            return secrets.get_token(tx, self.connection)

    def save(self, token: dict[str, Any]) -> None:
        with self.store.transaction() as tx:
            secrets.put_token(tx, self.connection, token)


@dataclass
class Hooks:
    """What tests and the demo may replace: the transport, the sleep between retries."""

    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] | None = None


_CODE: TypeAdapter[str] = TypeAdapter(Code)


def connection(tx: Tx, code: str) -> Connection:
    # A code no connection can have (a NUL from a URL's %00, 5,000 characters) is
    # unknown without a query: PostgreSQL refuses a NUL in text with an error.
    body = records.body_at_current(tx, "connection", code) if _is_code(code) else None
    if body is None:
        raise UnknownConnection(f"no connection {code!r} (add it under connections: and apply)")
    return Connection.model_validate(body)


def _is_code(code: str) -> bool:
    try:
        return _CODE.validate_python(code) == code
    except ValidationError:
        return False


def resolve(tx: Tx, found: Connection) -> Credentials:
    values: dict[str, str] = {}
    for name, ref in found.credentials.items():
        value = (
            secrets.get(tx, found.code, name)
            if ref == "stored"
            else os.environ.get(ref.removeprefix("env:"))
        )
        if value:
            values[name] = value
    return Credentials(found.code, values)


def context_for(store: Store, code: str, hooks: Hooks | None = None) -> tuple[Platform, Context]:
    with store.reading() as tx:
        found = connection(tx, code)
        credentials = resolve(tx, found)
    chosen = platform(found.platform)
    context = Context(found, credentials, StoredTokens(store, code) if chosen.oauth else None)
    if hooks is not None:
        context = replace(context, transport=hooks.transport)
        if hooks.sleep is not None:
            context = replace(context, sleep=hooks.sleep)
    return chosen, context


def open_source(chosen: Platform, context: Context) -> Source:
    if chosen.source is None or not context.connection.pull_time:
        raise UserError(f"connection {context.connection.code!r} pulls no time")
    return chosen.source(context, chosen.client(context))


def open_sink(chosen: Platform, context: Context) -> Sink:
    if chosen.sink is None or not context.connection.push_invoices:
        raise UserError(f"connection {context.connection.code!r} takes no invoices")
    return chosen.sink(context, chosen.client(context))
