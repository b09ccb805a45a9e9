"""Every platform billsync can connect to, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billsync.errors import UserError

from .auth import OAuth2Endpoints
from .base import Context, Sink, Source
from .http import VendorClient


@dataclass(frozen=True)
class Platform:
    name: str  # as written in `platform:` of a connection
    title: str
    base_url: str  # the vendor's production API; a connection's base_url overrides it
    client: Callable[[Context], VendorClient]  # the HTTP core with this vendor's auth
    source: type[Source] | None = None
    sink: type[Sink] | None = None
    oauth: OAuth2Endpoints | None = None
    credentials: tuple[str, ...] = ()  # secret names a connection must provide
    settings: tuple[str, ...] = ()  # non-secret names it must provide
    options: tuple[str, ...] = ()  # non-secret names it reads when given
    webhooks: bool = False  # the platform pushes time changes


PLATFORMS: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    PLATFORMS[platform.name] = platform
    return platform


def platform(name: str) -> Platform:
    _load()
    found = PLATFORMS.get(name)
    if found is None:
        known = ", ".join(sorted(PLATFORMS)) or "none"
        raise UserError(f"unknown platform {name!r} (known: {known})")
    return found


def all_platforms() -> dict[str, Platform]:
    _load()
    return dict(PLATFORMS)


def _load() -> None:
    """Import every platform module once; each registers itself."""
    from . import platforms  # noqa: F401
