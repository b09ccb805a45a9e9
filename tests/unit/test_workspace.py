from __future__ import annotations

import pytest

from billsync.domain.workspace import imo_check_digit_ok


@pytest.mark.parametrize("imo", ["9074729", "IMO 9074729", "9176187"])
def test_valid_imo_numbers_pass_the_check_digit(imo: str) -> None:
    assert imo_check_digit_ok(imo)


@pytest.mark.parametrize("imo", ["9074728", "907472", "90747290", "abcdefg"])
def test_invalid_imo_numbers_fail(imo: str) -> None:
    assert not imo_check_digit_ok(imo)


def test_a_project_refuses_a_task_listed_twice() -> None:
    import pydantic

    from billsync.domain.workspace import Project

    with pytest.raises(pydantic.ValidationError, match="task survey is listed twice"):
        Project(code="P", name="x", client="c", tasks=[{"code": "survey"}, {"code": "survey"}])  # type: ignore[list-item]


def test_an_unknown_subdivision_is_named_as_such() -> None:
    import pydantic

    from billsync.domain.workspace import Site

    with pytest.raises(pydantic.ValidationError, match="subdivision 'XX' of US"):
        Site(code="s", timezone="UTC", country="US", subdivision="XX")
