"""What connectors share in reading a vendor's record: its time stamps and numbers.

stamp("2026-10-05T07:52:10Z")  -> 2026-10-05 07:52:10+00:00
stamp("2026-10-05T09:52:10+02:00") keeps its offset; a stamp without one is UTC
stamp(None), stamp("")         -> None;  stamp("yesterday") raises ValueError
moment("yesterday")            -> None   (for vendors whose stamps are optional)

A field of the wrong type is the record's fault, not the sync's: the readers below
raise BadField naming the vendor's field, and the pipeline quarantines that record.
    flag("false", "billable")    -> BadField: billable must be true or false, not text 'false'
    text(["Kari"], "user.name")  -> BadField: user.name must be text, not a list
    whole(1.5, "Hours")          -> BadField: Hours must be a whole number, not the number 1.5
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

WHOLE_DIGITS = 9  # a count of hours, minutes or seconds longer than this is not one


def stamp(value: object) -> dt.datetime | None:
    """An ISO 8601 time as the vendors write it (`Z`, an offset, or none: UTC), aware;
    None when there is none. A text that is not a time raises ValueError."""
    if not isinstance(value, str) or not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def moment(value: object) -> dt.datetime | None:
    """`stamp`, with None for a text that is not a time."""
    try:
        return stamp(value)
    except ValueError:
        return None


def decimal_of(value: Any) -> Decimal | None:
    """A vendor JSON number exactly as it was written (read back through its text);
    None for no number, a boolean, or one that is not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class BadField(ValueError):
    """A vendor record's field billsync cannot read as the vendor documents it: the
    record is quarantined with this reason, and the rest of the page goes on."""

    def __init__(self, field: str, reason: str):
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


def kind(value: object) -> str:
    """What a value is, for a reason: `text 'false'`, `a list`, `the number 1.5`."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"text {shown!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    return "null" if value is None else type(value).__name__


def text(value: object, field: str) -> str:
    """A text field: its text, "" for null; anything else is a BadField (never the
    Python repr of a list or object stored as a name)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise BadField(field, f"must be text, not {kind(value)}")


def flag(value: object, field: str) -> bool:
    """A JSON boolean; the text "false" is not one (it would be true by truthiness)."""
    if isinstance(value, bool):
        return value
    raise BadField(field, f"must be true or false, not {kind(value)}")


def obj(value: object, field: str) -> Mapping[str, Any]:
    """An object field: the object, {} for null; anything else is a BadField."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise BadField(field, f"must be an object, not {kind(value)}")


def number(value: object, field: str) -> str | None:
    """A number field as the text the canonical parser reads (a number given as text
    is left to the parser to judge); None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    raise BadField(field, f"must be a number, not {kind(value)}")


def whole(value: object, field: str) -> int:
    """A count the vendor documents as an integer (0 for null or ""): a fraction is
    refused, never truncated."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise BadField(field, f"must be a whole number, not {kind(value)}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadField(field, f"must be a whole number, not {kind(value)}") from None
    if not amount.is_finite() or amount != amount.to_integral_value():
        raise BadField(field, f"must be a whole number, not {kind(value)}")
    if amount.adjusted() >= WHOLE_DIGITS:
        raise BadField(field, f"is out of range: {kind(value)}")
    return int(amount)


def time_of(value: object, field: str) -> dt.datetime | None:
    """`stamp`, strictly: None for null or "", a BadField for anything not a time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadField(field, f"must be a time (ISO 8601), not {kind(value)}")
    try:
        return stamp(value)
    except ValueError:
        raise BadField(field, f"is not a time (ISO 8601): {kind(value)}") from None
