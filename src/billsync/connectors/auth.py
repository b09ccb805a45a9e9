"""OAuth2 (authorization code with refresh, RFC 6749) for the HTTP core, as an
`httpx.Auth` flow: the bearer token is refreshed before it expires and once more on a
401, and every new token is saved (encrypted, by the store) through the connection's
`TokenStore`. API keys and Basic auth need no more than httpx's headers and BasicAuth.

    endpoints = OAuth2Endpoints("https://appcenter.intuit.com/connect/oauth2",
                                "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
                                scopes=("com.intuit.quickbooks.accounting",))
    auth = OAuth2("quickbooks", context, endpoints)   # VendorClient(..., auth=auth)
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from .base import Context
from .http import AuthFailed, tls

REFRESH_MARGIN = 300  # seconds before expiry when a token is refreshed


@dataclass(frozen=True)
class OAuth2Endpoints:
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()

    def at(self, auth_base: str | None) -> OAuth2Endpoints:
        """The same paths on another host (a sandbox or a proxy): setting `auth_url`."""
        if not auth_base:
            return self
        base = auth_base.rstrip("/")
        return OAuth2Endpoints(
            base + urlsplit(self.authorize_url).path,
            base + urlsplit(self.token_url).path,
            self.scopes,
        )

    def authorization_url(self, client_id: str, redirect_uri: str, state: str) -> str:
        query = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        if self.scopes:
            query["scope"] = " ".join(self.scopes)
        return f"{self.authorize_url}?{urlencode(query)}"


def stamped(token: dict[str, Any], now: float) -> dict[str, Any]:
    """The token with an absolute `expires_at`, as it is stored."""
    if "expires_at" not in token and token.get("expires_in") is not None:
        return {**token, "expires_at": int(now + float(token["expires_in"]))}
    return dict(token)


def token_request(
    platform: str, context: Context, endpoints: OAuth2Endpoints, form: dict[str, str]
) -> dict[str, Any]:
    """POST to the token endpoint with the client's Basic credentials; the new token."""
    credentials = context.credentials
    with httpx.Client(transport=context.transport, timeout=30, verify=tls()) as client:
        response = client.post(
            endpoints.token_url,
            data=form,
            auth=(credentials["client_id"], credentials["client_secret"]),
            headers={"Accept": "application/json"},
        )
    if response.status_code != 200:
        try:
            said = response.json().get("error", response.reason_phrase)
        except ValueError:
            said = response.reason_phrase
        raise AuthFailed(
            platform,
            f"POST {httpx.URL(endpoints.token_url).path}",
            response.status_code,
            f"{said}; reconnect with `billsync connect {context.connection.code}`",
        )
    return stamped(response.json(), time.time())


class OAuth2(httpx.Auth):
    def __init__(self, platform: str, context: Context, endpoints: OAuth2Endpoints):
        self.platform, self.context = platform, context
        self.endpoints = endpoints.at(context.connection.settings.get("auth_url"))
        token = context.tokens.load() if context.tokens is not None else None
        if not token:
            raise AuthFailed(
                platform,
                "authorize",
                None,
                f"connection {context.connection.code!r} is not connected; run "
                f"`billsync connect {context.connection.code}`",
            )
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if float(self.token.get("expires_at", 0)) - REFRESH_MARGIN <= time.time():
            self.refresh()
        request.headers["Authorization"] = f"Bearer {self.token['access_token']}"
        response = yield request
        if response.status_code == 401 and self.token.get("refresh_token"):
            self.refresh()  # revoked access token or a clock apart: one fresh try
            request.headers["Authorization"] = f"Bearer {self.token['access_token']}"
            yield request

    def refresh(self) -> None:
        refresh_token = str(self.token.get("refresh_token", ""))
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        new = token_request(self.platform, self.context, self.endpoints, form)
        new.setdefault("refresh_token", self.token.get("refresh_token"))
        self.token = new
        if self.context.tokens is not None:
            self.context.tokens.save(new)
