"""Who may do what in a workspace.

    members:
      - {user: ragnhild@firm.example, roles: [admin, finance, approver]}
      - {user: ops@firm.example, roles: [finance]}
      - {user: scheduler, roles: [operator]}

A workspace without members is a single-user workspace: everyone may do everything
(the embedded default, and how the demo runs). Once members are listed, every change
checks the acting user's roles, and the refusal says which role is needed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from pydantic import Field

from .model import Record


class Role(enum.StrEnum):
    ADMIN = "admin"  # the workspace file, period locks
    FINANCE = "finance"  # exceptions, entry actions, manual invoices, voids, credits
    APPROVER = "approver"  # approving invoices
    OPERATOR = "operator"  # imports and scheduled runs


class Member(Record):
    user: str = Field(min_length=1, max_length=200)  # as BILLSYNC_ACTOR names them
    name: str = ""
    roles: tuple[Role, ...] = Field(min_length=1)  # a member with no role may do nothing


# Each action and the roles that may take it.
ACTIONS: dict[str, frozenset[Role]] = {
    "apply": frozenset({Role.ADMIN}),
    "lock_period": frozenset({Role.ADMIN}),
    "import": frozenset({Role.OPERATOR, Role.FINANCE}),
    "run": frozenset({Role.OPERATOR, Role.FINANCE}),
    "manual_invoice": frozenset({Role.FINANCE}),
    "project_status": frozenset({Role.FINANCE, Role.ADMIN}),
    "exceptions": frozenset({Role.FINANCE}),
    "entries": frozenset({Role.FINANCE}),
    "void": frozenset({Role.FINANCE}),
    "credit": frozenset({Role.FINANCE}),
    "approve": frozenset({Role.APPROVER}),
    "connections": frozenset({Role.ADMIN}),  # secrets, OAuth2 consent
    "sync": frozenset({Role.OPERATOR, Role.FINANCE}),
    "push": frozenset({Role.OPERATOR, Role.FINANCE}),
}


def refusal(members: Iterable[Member], actor: str, action: str) -> str | None:
    """Why `actor` may not take `action`, or None when allowed."""
    listed = {m.user: m for m in members}
    if not listed:
        return None
    allowed = ACTIONS[action]
    member = listed.get(actor)
    if member is None:
        return f"{actor!r} is not a member of this workspace"
    if allowed & set(member.roles):
        return None
    needed = " or ".join(sorted(r.value for r in allowed))
    return f"{actor!r} may not {action.replace('_', ' ')}: it needs the {needed} role"
