"""Every sandbox by platform name (the same names as the connectors')."""

from __future__ import annotations

from .base import Sandbox

SANDBOXES: dict[str, type[Sandbox]] = {}


def register(cls: type[Sandbox]) -> type[Sandbox]:
    SANDBOXES[cls.platform] = cls
    return cls


def all_sandboxes() -> dict[str, type[Sandbox]]:
    from . import platforms  # noqa: F401  (each module registers itself)

    return dict(SANDBOXES)
