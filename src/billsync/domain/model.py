"""Base for the declarative workspace records: strict, frozen, unknown fields refused.

Config files, the database and the rules share these models, so a typo in a YAML key
is an error that names the field instead of a setting silently ignored.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # what _plain refuses
CODE_LENGTH = 64  # at most, characters: a code, a source's name


def _plain(code: str) -> str:
    """A code names a record and is stored as a key: printable text that every database
    keeps (PostgreSQL refuses a NUL). Pydantic refuses half a surrogate pair itself."""
    if _CONTROL.search(code):
        raise ValueError("a code holds no control characters (tab, line break, NUL)")
    return code


Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=CODE_LENGTH),
    AfterValidator(_plain),
]
# Money and hours in config are Decimal; floats from YAML are turned back into their
# shortest text first by the loader, so 0.1 stays 0.1. At most 14 digits before the
# point and 6 after: a price times hours then fits the 28 digits decimal arithmetic
# keeps (a 29-digit rate stopped every run), and more is a typo in any currency.
_EXACT = {"allow_inf_nan": False, "max_digits": 20, "decimal_places": 6}
# -0 is not below 0, but would print as -0.00 on an invoice and export as 0.
_UNSIGNED = AfterValidator(Decimal.copy_abs)
Amount = Annotated[Decimal, Field(ge=0, **_EXACT), _UNSIGNED]
Percent = Annotated[Decimal, Field(ge=0, le=100, **_EXACT), _UNSIGNED]
# A premium pays the plain rate at least (1: none); 0 or 0.5 is a typo for 1.5.
Multiplier = Annotated[Decimal, Field(ge=1, le=10, **_EXACT)]


def _no_flag(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read true as 1: a value given to the wrong key
        raise ValueError("a whole number, not true or false")
    return value


# A count (minutes, days, a priority): pydantic's int, with true/false refused.
Whole = Annotated[int, BeforeValidator(_no_flag)]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
