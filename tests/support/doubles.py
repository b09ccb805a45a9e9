"""Stand-ins the connector tests give a Context: a token store in memory, a sleep that
records its waits, a transport that keeps every response, one that holds an answer back;
and the check that a record without a zone is reported."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from billsync.domain.canonical import Defaults, parse_record


class MemoryTokens:
    """A TokenStore in memory, keeping every token saved, in order."""

    def __init__(self, token: dict[str, Any] | None):
        self.token = dict(token) if token else None
        self.saved: list[dict[str, Any]] = []

    def load(self) -> dict[str, Any] | None:
        return self.token

    def save(self, token: dict[str, Any]) -> None:
        self.token = token
        self.saved.append(token)


class Waits(list[float]):
    """A sleep that records each wait (and, if asked, really waits)."""

    def __init__(self, real: bool = False):
        super().__init__()
        self.real = real

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if self.real:
            time.sleep(seconds)


class Recorder(httpx.HTTPTransport):
    """The real transport, keeping every response (body read, request attached)."""

    def __init__(self) -> None:
        super().__init__()
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        response.request = request
        self.responses.append(response)
        return response


class Paused(httpx.HTTPTransport):
    """The real transport, holding back the first answer to a path containing `part`
    until `go` is set: a caller that has read the vendor's state and not yet used it."""

    def __init__(self, part: str) -> None:
        super().__init__()
        self.part = part
        self.fetched = threading.Event()  # the held answer has been read from the vendor
        self.go = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.part in request.url.path and not self.fetched.is_set():
            response.read()
            self.fetched.set()
            assert self.go.wait(30), "the held answer was never let go"
        return response


def assert_zone_reported(fields: dict[str, str]) -> None:
    """Fields without a zone: the canonical parser reports the missing timezone."""
    assert "timezone" not in fields
    errors = parse_record(fields, Defaults())
    assert isinstance(errors, list)
    assert [e.field for e in errors] == ["timezone"]
