"""What every vendor sandbox shares: fault injection, rate limiting, webhook delivery,
and serving on loopback.

A platform module subclasses `Sandbox`, adds the vendor's routes to `self.app`, and
says how the vendor answers a throttled request (`throttled`) and how it signs a
webhook (in its own `deliver` calls). Tests and the demo drive a sandbox in process
(`serve(sandbox)` returns its base URL); `billsync sandbox serve` runs one alone.

    sandbox = HarvestSandbox(seed=7, size=500)
    with serve(sandbox) as url:          # http://127.0.0.1:PORT
        sandbox.faults.fail_next = 2     # the next two requests get a 503
        sandbox.faults.tamper = odd      # odd(request, body, headers) -> the body sent
        ...
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from .seed import WorkItem, generate

CONTROL = "/_sandbox"  # not a vendor path: the test and demo remote control


@dataclass
class Faults:
    """Faults to inject. Rates are fractions of requests or deliveries (0..1)."""

    error_rate: float = 0.0  # answered with a 5xx at random
    fail_next: int = 0  # the next N requests answered with a 503, then normal again
    # The next N requests answered 401 quoting the credential they carried, as a careless
    # gateway or proxy does: billsync must never print it.
    reject_next: int = 0
    # The next requests answered with these (status, body) instead, as a broken vendor
    # or proxy might: (200, "<html>...") or (200, '{"token_type": "bearer"}').
    odd_answers: list[tuple[int, str]] = field(default_factory=list)
    throttle_next: int = 0  # the next N requests answered as over the rate limit (429)
    throttle_seconds: float = 2.0  # the wait those 429s ask for
    slow_seconds: float = 0.0  # added to every response
    drop_webhooks: float = 0.0  # deliveries silently not sent
    duplicate_webhooks: float = 0.0  # deliveries sent twice
    # In process only (tests): a vendor sending odd data or broken paging. Called with
    # each JSON answer's request, decoded body and headers (change them in place);
    # returns the body to send instead.
    tamper: Callable[[Request, Any, MutableMapping[str, str]], Any] | None = None


@dataclass
class RateLimit:
    """`limit` requests per `window` seconds per credential, as the vendor documents."""

    limit: int
    window: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, key: str, now: float) -> float | None:
        """None when allowed, else the seconds until the next request is."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(hits[0] + self.window - now, 0.0)
            hits.append(now)
            return None


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery the sandbox made (or dropped), kept for tests to inspect."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    status: int | None  # None: dropped, or the receiver could not be reached


class Sandbox:
    """Base of a vendor emulator. Subclasses set `platform`, add routes to `self.app`,
    and implement `credential_key` (who is calling, for rate limits) and `throttled`."""

    platform = ""

    def __init__(self, *, seed: int = 7, rate_limit: RateLimit | None = None) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.faults = Faults()
        self.rate_limit = rate_limit
        self.requests = 0  # vendor requests served (control calls excluded)
        self.deliveries: list[Delivery] = []
        self.quoted: list[str] = []  # credentials an injected 401 quoted back
        self._webhook_client = httpx.Client(timeout=30)  # one for every delivery
        self.app = FastAPI(title=f"{self.platform} sandbox", openapi_url=None, docs_url=None)
        self.app.middleware("http")(self._faults_and_limits)
        self.app.post(f"{CONTROL}/faults")(self._set_faults)

    # -- for subclasses ------------------------------------------------------------

    def credential_key(self, request: Request) -> str:
        """Which client a request counts against for rate limiting."""
        return request.headers.get("authorization", "") or (
            request.client.host if request.client else ""
        )

    def throttled(self, retry_after: float) -> Response:
        """The vendor's answer to a request over its rate limit."""
        return JSONResponse(
            {"error": "rate limit exceeded"},
            status_code=429,
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )

    def unauthorized(self, request: Request) -> Response:
        """An injected 401 that quotes the request's credentials back (`quoted`)."""
        given = [request.headers.get(name, "") for name in ("authorization", "x-api-key")]
        self.quoted += [value for value in given if value]
        said = " and ".join(value for value in given if value) or "none"
        return JSONResponse({"error": f"credentials {said} are not valid"}, status_code=401)

    def server_error(self, status: int) -> Response:
        """The vendor's answer when it fails (injected 5xx)."""
        return JSONResponse({"error": "internal error"}, status_code=status)

    def credentials(self) -> dict[str, str]:
        """What a client needs to call this sandbox (printed by `billsync sandbox serve`)."""
        return {}

    # -- webhooks ------------------------------------------------------------------

    def deliver(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """POST one signed delivery, dropping or duplicating it as the faults say."""
        if self.random.random() < self.faults.drop_webhooks:
            self.deliveries.append(Delivery(url, body, dict(headers), None))
            return
        times = 2 if self.random.random() < self.faults.duplicate_webhooks else 1
        for _ in range(times):
            try:
                sent = self._webhook_client.post(url, content=body, headers=dict(headers))
                status: int | None = sent.status_code
            except httpx.HTTPError:
                status = None
            self.deliveries.append(Delivery(url, body, dict(headers), status))

    # -- the middleware ------------------------------------------------------------

    async def _faults_and_limits(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith(CONTROL):
            return await call_next(request)
        self.requests += 1
        if self.faults.slow_seconds:
            await asyncio.sleep(self.faults.slow_seconds)
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return self.server_error(503)
        if self.faults.odd_answers:
            status, body = self.faults.odd_answers.pop(0)
            kind = "text/html" if body.lstrip().startswith("<") else "application/json"
            return Response(body, status_code=status, media_type=kind)
        if self.faults.reject_next > 0:
            self.faults.reject_next -= 1
            return self.unauthorized(request)
        if self.faults.throttle_next > 0:
            self.faults.throttle_next -= 1
            return self.throttled(self.faults.throttle_seconds)
        if self.faults.error_rate and self.random.random() < self.faults.error_rate:
            return self.server_error(self.random.choice((500, 502, 503)))
        if self.rate_limit is not None:
            wait = self.rate_limit.check(self.credential_key(request), time.monotonic())
            if wait is not None:
                return self.throttled(wait)
        response = await call_next(request)
        if self.faults.tamper is not None and "json" in response.headers.get("content-type", ""):
            return await self._tampered(request, response, self.faults.tamper)
        return response

    @staticmethod
    async def _tampered(
        request: Request,
        response: Response,
        tamper: Callable[[Request, Any, MutableMapping[str, str]], Any],
    ) -> Response:
        chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
        raw = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)
        headers = {k: v for k, v in response.headers.items() if k != "content-length"}
        body = tamper(request, json.loads(raw) if raw else None, headers)
        return Response(json.dumps(body).encode(), response.status_code, headers)

    async def _set_faults(self, request: Request) -> dict[str, object]:
        changes = await request.json()
        for name, value in changes.items():
            if not isinstance(getattr(self.faults, name, None), int | float):  # tamper: in process
                return JSONResponse({"error": f"unknown fault {name!r}"}, status_code=400)  # type: ignore[return-value]
            setattr(self.faults, name, type(getattr(self.faults, name))(value))
        return vars(self.faults)


def token(prefix: str = "") -> str:
    """A fresh opaque credential."""
    return prefix + secrets.token_urlsafe(24)


@contextmanager
def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run the sandbox on loopback in a background thread; yields its base URL."""
    with serve_app(sandbox.app, f"the {sandbox.platform} sandbox", host, port) as url:
        yield url


@contextmanager
def serve_app(app: FastAPI, name: str, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Any ASGI app (a sandbox, billsync's webhook receiver) on loopback in a thread."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Setup:
    """What billsync needs to reach a sandbox: a connection's settings and secrets,
    and for OAuth2 platforms a token already granted (the consent flow is tested apart)."""

    settings: dict[str, str]
    credentials: dict[str, str]
    token: dict[str, object] | None = None


class TimeSandbox(Sandbox, ABC):
    """A sandbox that holds time entries. The methods below are the contract tests'
    remote control: they change data as a user in the vendor's app would, and fire
    the vendor's webhooks to subscribed receivers."""

    page_size = 100  # entries per page the connector asks for: the paging tests' boundary

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(seed=seed, rate_limit=rate_limit)
        for item in generate(size, seed) if items is None else items:
            self.add(item, notify=False)

    @abstractmethod
    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        """Create an entry (its change stamp `at`, default now); its id."""

    @abstractmethod
    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        """Change an entry's duration, as a user correcting a timesheet would."""

    @abstractmethod
    def remove(self, external_id: str, *, notify: bool = True) -> None:
        """Delete an entry."""

    @abstractmethod
    def ids(self) -> set[str]:
        """The ids of every entry the sandbox holds."""

    @abstractmethod
    def setup(self, base_url: str) -> Setup:
        """What a connection to this sandbox at `base_url` needs."""

    def subscribe(self, url: str) -> str | None:
        """Register a webhook receiver (with the vendor's handshake, where it has one);
        the secret billsync verifies deliveries with. None: the vendor has no webhooks."""
        return None


class AccountingSandbox(Sandbox, ABC):
    """A sandbox that receives invoices."""

    @abstractmethod
    def invoices(self) -> list[dict[str, object]]:
        """Every invoice the sandbox holds, as the vendor returns it."""

    @abstractmethod
    def revoke(self) -> None:
        """Revoke every token (the user disconnected the app)."""

    @abstractmethod
    def expire_tokens(self) -> None:
        """Make every access token expired, so the next call needs a refresh."""
