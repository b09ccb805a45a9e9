"""The one HTTP core every connector uses (httpx): retries with back-off on 5xx and
timeouts, waits that honour Retry-After and the vendor's rate-limit headers on 429,
and errors that say which platform, which call and what the vendor said, never a
secret (no query string, no headers, no body we sent).

    client = VendorClient("harvest", "https://api.harvestapp.com", headers={...})
    client.json("GET", "/v2/time_entries", params={"page": 1})
    # 429 Retry-After: 3 -> sleeps 3 s and asks again; 503 -> 0.5 s, 1 s, 2 s ... then
    # VendorError("harvest: GET /v2/time_entries: 503 Service Unavailable: ...")
    # 401 -> AuthFailed: a wrong or revoked credential is never an empty sync
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import random
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import certifi
import httpx

from billsync.errors import UserError

RETRYABLE = frozenset({500, 502, 503, 504})
DETAIL_LIMIT = 300
# Request headers that carry a credential: what a vendor or a proxy may quote back.
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key")
SHORTEST_SECRET = 8  # characters; a shorter "credential" (Basic's "x") is no secret
REDACTED = "[redacted]"


class VendorError(UserError):
    def __init__(self, platform: str, call: str, status: int | None, detail: str):
        self.platform, self.call, self.status, self.detail = platform, call, status, detail
        said = f"{status} " if status is not None else ""
        super().__init__(f"{platform}: {call}: {said}{detail}".rstrip(": "))


class AuthFailed(VendorError):
    """Wrong, expired or revoked credentials: the sync fails loudly."""


@cache
def tls() -> ssl.SSLContext:
    """One verifying TLS context for every client: building one (loading the CA bundle)
    costs more than a webhook's whole processing."""
    return ssl.create_default_context(cafile=certifi.where())


def seconds_of(value: str) -> float | None:
    """A wait a vendor's header gives in seconds; None when it is not a finite number
    (float() reads "nan" and "inf", and a NaN sleep raises)."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def retry_after_header(response: httpx.Response) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    seconds = seconds_of(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def window_wait(window: float) -> Callable[[httpx.Response], float | None]:
    """A `wait_of` for a vendor whose 429 may come without Retry-After: Retry-After
    when given, else on a 429 the vendor's rate-limit `window` (seconds), since a
    shorter back-off would be throttled again; else None (the core's back-off)."""

    def wait_of(response: httpx.Response) -> float | None:
        hinted = retry_after_header(response)
        if hinted is None and response.status_code == 429:
            return window
        return hinted

    return wait_of


def credentials_of(request: httpx.Request) -> list[str]:
    """Every credential value the request carried, longest first: each credential
    header's value, the token after its scheme (Bearer), and for Basic the base64, the
    `user:password` in it and each of the two."""
    found: list[str] = []
    for name in CREDENTIAL_HEADERS:
        value = request.headers.get(name, "").strip()
        scheme, _, token = value.partition(" ")
        found += [value, token.strip()]
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(token.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
            found += [pair, *pair.split(":", 1)]
    return sorted({c for c in found if len(c) >= SHORTEST_SECRET}, key=len, reverse=True)


def redacted(text: str, request: httpx.Request, also: Iterable[str] = ()) -> str:
    """`text` without the request's credentials (and the secrets `also` names, such as
    a refresh token sent in the body): each one whole, and any word that is a piece of
    one (a gateway's "Token expired: eyJhbGci..." quotes the first characters)."""
    return without(text, [*credentials_of(request), *also])


def without(text: str, secrets: Iterable[str]) -> str:
    """`text` with each of `secrets` (and any word that is a piece of one) redacted."""
    secrets = sorted({s for s in secrets if len(s) >= SHORTEST_SECRET}, key=len, reverse=True)
    if not secrets:
        return text
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    words = []
    for word in text.split(" "):
        bare = word.strip(".,;:()[]{}'\"")
        if len(bare) >= 6 and any(bare in secret for secret in secrets):
            word = word.replace(bare, REDACTED)
        words.append(word)
    return " ".join(words)


def default_detail(response: httpx.Response) -> str:
    return response.text


@dataclass
class Retry:
    attempts: int = 6  # tries in all, the first included
    base: float = 0.5  # first back-off after a 5xx or timeout, doubled each time
    cap: float = 30.0  # longest single wait
    budget: float = 300.0  # most seconds spent waiting on one call


class VendorClient:
    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retry: Retry | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wait_of: Callable[[httpx.Response], float | None] = retry_after_header,
        detail_of: Callable[[httpx.Response], str] = default_detail,
    ):
        self.platform = platform
        self.retry = retry or Retry()
        self.sleep = sleep
        self.wait_of = wait_of
        self.detail_of = detail_of
        self.client = client or httpx.Client(transport=transport, verify=tls())
        self.client.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.client.headers.update(headers or {})
        self.client.timeout = httpx.Timeout(timeout)
        if auth is not None:
            self.client.auth = auth
        self._random = random.Random()

    def close(self) -> None:
        self.client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        ok: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send with retries. A status in `ok` is returned to the caller as it is
        (e.g. 404 for "not found" lookups)."""
        call = f"{method} {path.split('?', 1)[0]}"
        waited = 0.0
        failure: tuple[int | None, str]
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self.client.request(
                    method,
                    path.lstrip("/"),
                    params=params,
                    json=json,
                    content=content,
                    headers=headers,
                )
            except httpx.DecodingError as exc:  # not retried: the same bytes come again
                raise VendorError(
                    self.platform, call, None, "the answer does not decode as its headers say"
                ) from exc
            except httpx.TimeoutException:
                wait, failure = self._backoff(attempt, None), (None, "timed out")
            except httpx.TransportError as exc:
                reason = f"unreachable ({type(exc).__name__})"
                wait, failure = self._backoff(attempt, None), (None, reason)
            else:
                status = response.status_code
                if status in ok and status >= 400 and _web_page(response):
                    # A proxy's or web server's own page: the platform never said "not
                    # there", and a caller taking it so would mark entries deleted.
                    raise VendorError(self.platform, call, status, _NOT_THE_API)
                if status < 400 or status in ok:
                    return response
                if status in (401, 403):
                    raise AuthFailed(self.platform, call, status, self.detail(response))
                if status == 429 or status in RETRYABLE:
                    wait = self._backoff(attempt, self.wait_of(response))
                else:
                    raise VendorError(self.platform, call, status, self.detail(response))
                failure = (status, self.detail(response))
            if attempt == self.retry.attempts or waited + wait > self.retry.budget:
                raise VendorError(
                    self.platform, call, failure[0], f"{failure[1]} (gave up after {attempt} tries)"
                )
            self.sleep(wait)
            waited += wait
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response body, every number with a fraction an exact Decimal."""
        response = self.request(method, path, **kwargs)
        return self.decode(response, f"{method} {path.split('?', 1)[0]}")

    def decode(self, response: httpx.Response, call: str | None = None) -> Any:
        """A response's body as `json` reads it (None when empty); `call` names it in
        the error (default: the request's method and path)."""
        if not response.content:
            return None
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            call = call or f"{response.request.method} {response.request.url.path}"
            raise VendorError(self.platform, call, response.status_code, "not JSON") from exc

    def _backoff(self, attempt: int, hinted: float | None) -> float:
        if hinted is not None and math.isfinite(hinted):  # a platform's wait_of may not check
            return max(hinted, 0.0)
        wait: float = min(self.retry.base * 2 ** (attempt - 1), self.retry.cap)
        return wait * (0.5 + self._random.random() / 2)  # jitter: retries don't march together

    def detail(self, response: httpx.Response) -> str:
        """What the vendor said, for an error: the platform's reading of its error body,
        without any credential the request carried (a vendor or proxy may quote it back),
        on one line and cut short."""
        try:
            text = self.detail_of(response)
        except Exception:  # the vendor's error body is not what it documents
            text = response.text
        text = " ".join(redacted(text, response.request).split())
        if not text:
            text = response.reason_phrase
        return text[:DETAIL_LIMIT]


_NOT_THE_API = (
    "answered with a web page, not the platform's API: a proxy or a wrong base URL? "
    "Nothing was taken from it"
)


def _web_page(response: httpx.Response) -> bool:
    """Whether an answer is an HTML page (no platform's API answers with one)."""
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml")
