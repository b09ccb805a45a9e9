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
from .http import AuthFailed, VendorClient, VendorError, redacted

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
    """POST to the token endpoint with the client's Basic credentials; the new token,
    checked before anyone saves it. A refused grant or client (400, 401, 403) means
    reconnecting; a 5xx, a timeout or a 429 is retried as every call is (an outage is
    no reason to reconnect), then a VendorError."""
    credentials = context.credentials
    url = httpx.URL(endpoints.token_url)
    call = f"POST {url.path}"
    http = VendorClient(
        platform,
        str(url.copy_with(path="/", query=None, fragment=None)),
        auth=httpx.BasicAuth(credentials["client_id"], credentials["client_secret"]),
        headers={"Accept": "application/json"},
        transport=context.transport,
        sleep=context.sleep,
    )
    try:
        response = http.request(
            "POST",
            url.raw_path.decode("ascii"),
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            ok=REFUSED,
        )
    finally:
        http.close()
    if response.status_code in REFUSED:
        sent = [form[k] for k in ("code", "refresh_token", "code_verifier") if k in form]
        said = redacted(_error_of(response), response.request, sent)
        raise AuthFailed(
            platform,
            call,
            response.status_code,
            f"{said}; reconnect with `billsync connect {context.connection.code}`",
        )
    return stamped(usable(platform, call, response), time.time())


REFUSED = frozenset({400, 401, 403})  # RFC 6749 5.2: invalid_grant, invalid_client ...


def _error_of(response: httpx.Response) -> str:
    """RFC 6749's `{"error": "invalid_grant", ...}`, else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error else response.reason_phrase


def usable(platform: str, call: str, response: httpx.Response) -> dict[str, Any]:
    """The token endpoint's answer, if it is a token billsync can use: a JSON object with
    an access token, and `expires_in` (when given) a number of seconds. Anything else
    (a proxy's HTML page, a half answer) is a VendorError, and nothing is saved: a
    token saved without its access token would break every call until it expired."""

    def refused(problem: str) -> VendorError:
        return VendorError(platform, call, response.status_code, f"not a usable token: {problem}")

    try:
        token = response.json()
    except ValueError:
        raise refused("not JSON") from None
    if not isinstance(token, dict):
        raise refused(f"a JSON {type(token).__name__}, not an object")
    if not isinstance(token.get("access_token"), str) or not token["access_token"].strip():
        raise refused("no access_token")
    if not isinstance(token.get("refresh_token", ""), str):
        raise refused("refresh_token is not text")
    expires_in = token.get("expires_in")
    if expires_in is not None and not _seconds(expires_in):
        raise refused(f"expires_in {str(expires_in)[:20]!r} is not a number of seconds")
    return token


def _seconds(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return False
    try:
        return 0 < float(value) < 10**9  # finite: not nan or inf
    except ValueError:
        return False


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
        expires_at = float(self.token.get("expires_at", 0))
        # Without an access token (one saved before answers were checked): refresh too.
        if expires_at - REFRESH_MARGIN <= time.time() or not self.token.get("access_token"):
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
