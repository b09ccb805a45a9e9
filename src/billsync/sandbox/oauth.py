"""The authorization server an accounting sandbox plays (OAuth2, RFC 6749: authorization
code with refresh tokens): what it has granted, and who calls its token endpoint.

    grants = Grants()
    access, refresh = grants.grant("eyJ", "RT1-", seconds=3600, refresh_note=expires)
    grants.expiry(access)       -> when the access token expires (epoch seconds), or None
    grants.expire(); grants.revoke()

Each sandbox answers in its vendor's own wire format and keeps its vendor's refresh
rule in `refresh_note` (Intuit: when the refresh token expires; Xero: when it was
first used, for its grace period).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request

from .base import token


@dataclass
class Grants:
    access: dict[str, float] = field(default_factory=dict)  # access token -> expires (epoch)
    refresh: dict[str, float | None] = field(default_factory=dict)  # token -> vendor's note
    codes: dict[str, str] = field(default_factory=dict)  # authorization code -> redirect_uri
    lock: threading.RLock = field(default_factory=threading.RLock)

    def grant(
        self, access_prefix: str, refresh_prefix: str, seconds: float, refresh_note: float | None
    ) -> tuple[str, str]:
        """A new access token living `seconds`, and a new refresh token."""
        access, refresh = token(access_prefix), token(refresh_prefix)
        with self.lock:
            self.access[access] = time.time() + seconds
            self.refresh[refresh] = refresh_note
        return access, refresh

    def expiry(self, access: str) -> float | None:
        with self.lock:
            return self.access.get(access)

    def code(self, prefix: str, redirect: str) -> str:
        """A new authorization code for the redirect URI it will be redeemed with."""
        code = token(prefix)
        with self.lock:
            self.codes[code] = redirect
        return code

    def redeem(self, code: str) -> str | None:
        """The code's redirect URI; None for a code never given or already used."""
        with self.lock:
            return self.codes.pop(code, None)

    def revoke(self) -> None:
        """Every token revoked (the user disconnected the app)."""
        with self.lock:
            self.access.clear()
            self.refresh.clear()

    def expire(self) -> None:
        """Every access token expired, so the next call needs a refresh."""
        with self.lock:
            past = time.time() - 1
            self.access = {access: past for access in self.access}


def client_credentials(request: Request, form: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The client id and secret a token request carries: HTTP Basic, else (where the
    vendor allows it, `form` given) the form's client_id and client_secret."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    if form is None:
        return "", ""
    return form.get("client_id", ""), form.get("client_secret", "")
