"""`billsync connect CODE`: the OAuth2 authorization-code flow with a local callback.

    $ billsync connect qbo
    Open this address, sign in and allow billsync:
      https://appcenter.intuit.com/connect/oauth2?client_id=...&state=...
    connected qbo (token saved, encrypted; refreshed before it expires)

A one-shot HTTP server on 127.0.0.1 receives the redirect; the `state` is checked
before the code is exchanged, and the token is stored encrypted.
"""

from __future__ import annotations

import secrets as random_tokens
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

from billsync.connectors.auth import token_request
from billsync.errors import UserError
from billsync.store import secrets
from billsync.store.access import authorize
from billsync.store.audit import AuditLog
from billsync.store.db import Store

from .connections import Hooks, context_for

TIMEOUT = 300  # seconds to wait for the browser


def _handler(received: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            query = parse_qs(urlsplit(self.path).query)
            received.update({k: v[0] for k, v in query.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"billsync: authorization received; you can close this window.")

        def log_message(self, format: str, *args: object) -> None:  # codes stay out of logs
            return

    return Callback


def connect(
    store: Store,
    code: str,
    actor: str,
    open_url: Callable[[str], object],
    port: int = 8765,
    hooks: Hooks | None = None,
) -> None:
    with store.transaction() as tx:
        authorize(tx, actor, "connections")
    chosen, context = context_for(store, code, hooks)
    if chosen.oauth is None:
        raise UserError(f"{chosen.title} does not use OAuth2; set its credentials instead")
    endpoints = chosen.oauth.at(context.connection.settings.get("auth_url"))
    got: dict[str, str] = {}
    server = HTTPServer(("127.0.0.1", port), _handler(got))
    redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
    state = random_tokens.token_urlsafe(16)
    waiter = threading.Thread(target=server.handle_request, daemon=True)
    server.timeout = TIMEOUT
    waiter.start()
    try:
        open_url(endpoints.authorization_url(context.credentials["client_id"], redirect_uri, state))
        waiter.join(TIMEOUT + 5)
    finally:
        server.server_close()
    if got.get("state") != state:
        raise UserError("the authorization answer did not come back with our state; try again")
    if "code" not in got:
        raise UserError(f"authorization refused: {got.get('error', 'no code returned')}")
    form = {"grant_type": "authorization_code", "code": got["code"], "redirect_uri": redirect_uri}
    token = token_request(chosen.name, context, endpoints, form)
    for name in ("realmId", "realm_id"):  # QuickBooks names the company in the redirect
        if name in got:
            token["realm_id"] = got[name]
    with store.transaction() as tx:
        secrets.put_token(tx, code, token)
        AuditLog(tx, actor).record("connection.connected", f"connection:{code}", None, {})
