"""Checking the acting user's role against the workspace's members (domain.access)."""

from __future__ import annotations

from billsync.domain.access import Member, refusal
from billsync.errors import UserError

from . import records
from .db import Tx


class AccessDenied(UserError):
    pass


def authorize(tx: Tx, actor: str, action: str) -> None:
    members = [Member.model_validate(r["body"]) for r in records.current(tx, "member")]
    why = refusal(members, actor, action)
    if why is not None:
        raise AccessDenied(f"{why}; nothing was changed")
