"""Exact money and hours.

Every amount is a ``Decimal``; floats are refused at the door so that no binary
fraction ever reaches an invoice. Amounts are quantized to the currency's ISO 4217
minor unit (EUR 2, JPY 0, KWD 3) with half-up rounding, the rule finance expects.

    >>> quantize(D("10.005"), "EUR")
    Decimal('10.01')
    >>> quantize(D("1234.5"), "JPY")
    Decimal('1235')
    >>> hours(5400)
    Decimal('1.5')
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel import Locale
from babel.numbers import get_currency_precision, get_territory_currencies, list_currencies

ZERO = Decimal(0)
HOUR_SECONDS = 3600
# Hours print on invoices with two decimals: 6- and 15-minute increments stay exact.
QUANTITY_EXPONENT = Decimal("0.01")


def D(value: str | int | Decimal) -> Decimal:
    """Build a Decimal from text or an int; a float is a programming error."""
    if isinstance(value, float | bool):
        raise TypeError(f"refusing {type(value).__name__} {value!r}: money and hours are exact")
    return value if isinstance(value, Decimal) else Decimal(value)


@cache
def known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(code: str) -> str:
    if code not in known_currencies():
        raise ValueError(f"unknown ISO 4217 currency {code!r}")
    return code


@cache
def tender_on(day: dt.date) -> frozenset[str]:
    """The currencies some country took as legal tender on `day` (CLDR's data): not
    gold (XAU), a test code (XTS), "no currency" (XXX) or one withdrawn (DEM)."""
    regions = [code for code in Locale("en").territories if str(code).isalpha()]
    return frozenset(
        code for region in regions for code in get_territory_currencies(str(region), start_date=day)
    )


@cache
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency as an exponent: EUR -> 0.01, JPY -> 1."""
    return Decimal(1).scaleb(-get_currency_precision(check_currency(currency)))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def hours(seconds: int) -> Decimal:
    """Exact hours of a whole number of seconds (may have many decimals)."""
    return Decimal(seconds) / HOUR_SECONDS


def quantity(value: Decimal) -> Decimal:
    """A quantity as printed on an invoice line (two decimals, half up)."""
    return value.quantize(QUANTITY_EXPONENT, rounding=ROUND_HALF_UP)


def percent_of(amount: Decimal, percent: Decimal, currency: str) -> Decimal:
    return quantize(amount * percent / 100, currency)
