from __future__ import annotations

from billsync.domain.access import Member, Role, refusal


def test_a_workspace_without_members_refuses_nobody() -> None:
    assert refusal([], "anyone", "approve") is None


def test_roles_decide_and_the_refusal_names_the_role_needed() -> None:
    members = [Member(user="ann", roles=(Role.FINANCE,)), Member(user="bo", roles=(Role.APPROVER,))]
    assert refusal(members, "bo", "approve") is None
    assert refusal(members, "ann", "approve") == "'ann' may not approve: it needs the approver role"
    assert refusal(members, "ann", "void") is None
    assert refusal(members, "cy", "run") == "'cy' is not a member of this workspace"
    assert "finance or operator" in (refusal(members, "bo", "import") or "")
