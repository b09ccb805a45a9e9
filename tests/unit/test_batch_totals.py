"""What a run holds of its batches until the caps: portions as columns. They give back
exactly what was put in, each with its entry's adjustments."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from billsync.domain.contracts import Unit
from billsync.domain.entries import Category
from billsync.domain.rated import Adjustment, Portion, Price, Worked
from billsync.pipeline.batches import Eligible, columns

WORKED = Worked("jdoe", "naval-architect", "P-1001", "design", "survey", Category.OPERATING)
PRICE = Price(Unit.HOUR, Decimal("145.00"), Decimal("1"), "", Decimal("145.00"))
OVERTIME = Price(Unit.HOUR, Decimal("145.00"), Decimal("1.5"), "daily", Decimal("217.50"))
ROUNDED = (Adjustment("rounding", 300),)


def _portion(
    entry_id: int, seconds: int, price: Price = PRICE, adjustments: tuple[Adjustment, ...] = ()
) -> Portion:
    quantity = Decimal(seconds) / 3600
    return Portion(
        entry_id,
        entry_id % 3 + 1,
        date(2026, 3, 2) + timedelta(days=entry_id % 5),
        seconds,
        quantity,
        quantity * price.unit_price,
        WORKED,
        price,
        adjustments,
    )


def test_portions_come_back_as_they_went_in_batch_after_batch() -> None:
    minimum = (Adjustment("minimum", 600), Adjustment("write_up", 60))
    first = [
        _portion(7, 28_800, PRICE, ROUNDED),
        _portion(7, 3_600, OVERTIME, ROUNDED),
        _portion(3, 1_800),
    ]
    second = [_portion(12, 900, PRICE, minimum), _portion(1, 28_800)]
    held = Eligible()
    for batch in (first, [], second):
        held.extend(columns(batch), {}, {})
    back = held.portions()
    assert back == first + second
    # What portions share stays shared; equal lengths are one object.
    assert {id(p.worked) for p in back} == {id(WORKED)}
    assert back[0].price is PRICE and back[1].price is OVERTIME
    assert back[0].seconds is back[4].seconds
    # Each portion keeps its entry's adjustments: an entry's billed mark records them.
    assert [p.adjustments for p in back] == [ROUNDED, ROUNDED, (), minimum, ()]
    assert back[1].adjustments is back[0].adjustments


def test_quantities_and_amounts_are_shared_by_their_exact_text_across_batches() -> None:
    # Each batch from the second process brings its own copies; 1.5 and 1.50 are equal
    # numbers but print differently, so they stay apart.
    one, also_one, printed_apart = Decimal("1.50"), Decimal("1.50"), Decimal("1.5")
    held, decimals = Eligible(), dict[str, Decimal]()
    held.extend(columns([replace(_portion(1, 5_400), quantity=one)]), decimals, {})
    held.extend(columns([replace(_portion(2, 5_400), quantity=also_one)]), decimals, {})
    held.extend(columns([replace(_portion(3, 5_400), quantity=printed_apart)]), decimals, {})
    back = held.portions()
    assert [str(p.quantity) for p in back] == ["1.50", "1.50", "1.5"]
    assert back[1].quantity is back[0].quantity is one
    assert back[2].quantity is printed_apart
    assert back[0].amount is back[1].amount is back[2].amount  # 217.500, made three times


def test_equal_adjustments_of_different_batches_become_one_object() -> None:
    # Rating makes each batch's own; a draft converts each distinct object once.
    rounded_again = (Adjustment("rounding", 300),)
    assert rounded_again == ROUNDED and rounded_again is not ROUNDED
    held, shared = Eligible(), dict[tuple[Adjustment, ...], tuple[Adjustment, ...]]()
    held.extend(columns([_portion(1, 5_400, PRICE, ROUNDED)]), {}, shared)
    held.extend(columns([_portion(2, 5_400, PRICE, rounded_again), _portion(3, 900)]), {}, shared)
    back = held.portions()
    assert [p.adjustments for p in back] == [ROUNDED, ROUNDED, ()]
    assert back[1].adjustments is back[0].adjustments is ROUNDED
