"""What connectors share in reading a vendor's record: its time stamps and numbers.

stamp("2026-10-05T07:52:10Z")  -> 2026-10-05 07:52:10+00:00
stamp("2026-10-05T09:52:10+02:00") keeps its offset; a stamp without one is UTC
stamp(None), stamp("")         -> None;  stamp("yesterday") raises ValueError
moment("yesterday")            -> None   (for vendors whose stamps are optional)
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any


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
