"""Rating: contract rules turn worked seconds into priced portions.

Contract NSY-2026 in EUR, 15-minute rounding up, a 145.00/h rate for naval architects,
daily overtime after 8 h at 1.5x. Ana (naval-architect, Oslo) logs one entry:

    before  entry 412 "A-17": ana, survey, Tue 2026-03-03, 9 h 20 min (33600 s)

    after   RatedEntry(billable_seconds=34200,
                       adjustments=(Adjustment("rounding", 600),),
                       portions=(8.0 h x 145.00 = 1160.00   premium "",
                                 1.5 h x 217.50 =  326.25   premium "daily" (1.5x)))
                                                 1486.25

The steps, in order:

1. Billable seconds: worked seconds rounded to the contract increment (up, down, or
   nearest with halves up), raised to the minimum charge, then finance's write-ups and
   write-downs added. Every difference is an ``Adjustment`` with its reason code
   ("rounding", "minimum", the write's own code). A zero-length entry does not earn the
   minimum charge: nothing was worked. Write-downs stop at zero; the part that would go
   below is recorded as a "floor" adjustment, so worked + adjustments == billable always.
2. Rate card: the most specific matching row (see ``select_rate``). No row: a blocking
   ``rate.missing`` finding and no portions. A mapped person missing from ``people``
   gets a blocking ``rate.person_unknown``: without a role and holiday calendar rating
   would be a guess. An entry with no billable seconds left needs no rate.
3. Hourly rows: overtime, in each person's site-local day and ISO week (``work_date``
   is already that local day). A person's entries are walked in a fixed order (work
   date, start with unknown starts last, source, external id), so the result never
   depends on the order the entries arrive in.
   - daily: a day's seconds beyond ``daily_after_hours``;
   - weekly: a week's seconds beyond ``weekly_after_hours``, counting only seconds that
     are not already daily overtime (the US/FLSA convention: an hour is never counted
     towards both thresholds, so daily and weekly never apply to the same second);
   - weekend: every second on a day in ``weekend_days``;
   - holiday: every second on a public holiday of the person's country/subdivision.
   Several at once: ``stack`` multiplies them and joins their names with "+" in the
   order daily, weekly, weekend, holiday; otherwise the highest multiplier applies and
   names the premium (on a tie the earlier in that order). An entry splits into one
   portion per price it reaches: parts that land on the same premium stay one portion.
   Thresholds count the entries given, which are one contract's.
4. Day rows: a person's day-rated seconds of one local day are pooled. A pool of at
   least ``day_min_hours`` bills exactly one day, shared by seconds; a shorter pool
   bills hours at ``short_day_rate`` if the row has one, else the pro-rata fraction
   of a day. Shares that do not divide evenly leave the division remainder to the last
   entry in the fixed order, so a full day sums to exactly 1. Day rates carry no
   overtime premiums (a day rate already prices the whole day), and day-rated seconds
   do not count towards hourly overtime thresholds.

Unit prices are ``quantize(base_rate x multiplier)`` in the contract currency; amounts
are ``quantity x unit_price`` unquantized: invoice lines quantize their sums.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

import holidays

from .contracts import Contract, Overtime, Rate, Rounding, RoundingMode, Unit
from .entries import Category, EntryState, TimeEntry
from .findings import Finding, Severity
from .money import HOUR_SECONDS, hours, quantize
from .rated import Adjustment, Portion, Price, RatedEntry, Worked

__all__ = ["PersonInfo", "rate_entries", "round_seconds", "select_rate"]

ONE = Decimal(1)
NO_PREMIUM = (ONE, "")
# Unknown start times sort after every known one of the same day.
_LAST = datetime.max.replace(tzinfo=UTC)
# Enum members bound once: looking one up on its class costs more than a local name,
# and the hot loops below run a million times.
_HOUR, _DAY, _ACTIVE = Unit.HOUR, Unit.DAY, EntryState.ACTIVE


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """What rating needs to know about a person."""

    role: str
    timezone: str  # IANA zone of the person's home site
    country: str  # holiday calendar
    subdivision: str | None = None


# -- billable seconds ------------------------------------------------------------------


def round_seconds(seconds: int, rounding: Rounding) -> tuple[int, tuple[Adjustment, ...]]:
    """Round to the increment, then apply the minimum charge; report both differences.

    >>> round_seconds(600, Rounding(increment_minutes=15, minimum_minutes=30))
    (1800, (Adjustment(reason='rounding', seconds=300), Adjustment(reason='minimum', seconds=900)))
    """
    return _Rounder(rounding).round(seconds)


class _Rounder:
    """A contract's rounding terms as plain ints, read once instead of once per entry."""

    __slots__ = ("_increment", "_memo", "_minimum", "_mode")

    def __init__(self, rounding: Rounding) -> None:
        self._increment = rounding.increment_minutes * 60
        self._mode = rounding.mode
        self._minimum = rounding.minimum_minutes * 60
        # Results are immutable, so entries of the same length share one: a million-entry
        # run then leaves far fewer objects for the garbage collector to walk.
        self._memo: dict[int, tuple[int, tuple[Adjustment, ...]]] = {}

    def round(self, seconds: int) -> tuple[int, tuple[Adjustment, ...]]:
        rounded = self._memo.get(seconds)
        if rounded is None:
            rounded = self._memo[seconds] = self._round(seconds)
        return rounded

    def _round(self, seconds: int) -> tuple[int, tuple[Adjustment, ...]]:
        if seconds < 0:
            raise ValueError(f"cannot round a negative duration ({seconds} s)")
        rounded = _round_to_increment(seconds, self._increment, self._mode)
        adjustments: tuple[Adjustment, ...] = ()
        if rounded != seconds:
            adjustments = (Adjustment("rounding", rounded - seconds),)
        if seconds and rounded < self._minimum:
            adjustments += (Adjustment("minimum", self._minimum - rounded),)
            rounded = self._minimum
        return rounded, adjustments

    def billable(self, entry: TimeEntry) -> tuple[int, tuple[Adjustment, ...]]:
        """Rounded seconds plus finance's writes, never below zero."""
        # The memo read here, not through round(): one call per entry, not two.
        rounded = self._memo.get(entry.duration_seconds) or self.round(entry.duration_seconds)
        if not entry.adjustments:
            return rounded
        seconds, adjustments = rounded
        writes = tuple(
            Adjustment(w.reason or ("write_up" if w.seconds > 0 else "write_down"), w.seconds)
            for w in entry.adjustments
        )
        seconds += sum(w.seconds for w in writes)
        floor = (Adjustment("floor", -seconds),) if seconds < 0 else ()
        return max(seconds, 0), adjustments + writes + floor


def _round_to_increment(seconds: int, increment: int, mode: RoundingMode) -> int:
    if increment == 0:
        return seconds
    if mode is RoundingMode.UP:
        return -(-seconds // increment) * increment
    if mode is RoundingMode.DOWN:
        return seconds // increment * increment
    return (2 * seconds + increment) // (2 * increment) * increment  # nearest, halves up


# -- rate card ---------------------------------------------------------------------------

_WEIGHTS = (("person", 16), ("task", 8), ("phase", 4), ("role", 2), ("category", 1))
_RateKey = tuple[str, str, str, str, Category]  # person, role, task, phase, category


@dataclass(frozen=True, slots=True)
class _Row:
    """A rate row with what the hot path asks of it precomputed."""

    index: int  # position on the card: the last tie-break, and a cheap cache key
    rate: Rate
    start: date  # effective dates with open ends closed, so one comparison checks both
    end: date
    per_day: bool

    @classmethod
    def of(cls, index: int, rate: Rate) -> _Row:
        start, end = rate.effective_from or date.min, rate.effective_to or date.max
        return cls(index, rate, start, end, rate.unit is _DAY)

    def matches(self, key: _RateKey) -> bool:
        r = self.rate
        return all(
            wanted is None or wanted == have
            for wanted, have in zip(
                (r.person, r.role, r.task, r.phase, r.category), key, strict=True
            )
        )

    def rank(self) -> tuple[int, int, int]:
        """Sort key, best first: most specific, then latest start, then listed first."""
        specificity = sum(w for name, w in _WEIGHTS if getattr(self.rate, name) is not None)
        return (-specificity, -self.start.toordinal(), self.index)


class _RateCard:
    """A contract's rate rows, ranked once; the candidates for each shape of work are
    found the first time that shape is seen, so a million entries cost a dictionary
    lookup and a date check each."""

    def __init__(self, contract: Contract) -> None:
        rows = (_Row.of(i, rate) for i, rate in enumerate(contract.rates))
        self._rows = tuple(sorted(rows, key=_Row.rank))
        self._candidates: dict[_RateKey, tuple[_Row, ...]] = {}

    def select(self, key: _RateKey, on: date) -> _Row | None:
        return _effective(self.candidates(key), on)

    def candidates(self, key: _RateKey) -> tuple[_Row, ...]:
        """The rows matching this work, best first, whatever their dates."""
        candidates = self._candidates.get(key)
        if candidates is None:
            candidates = tuple(row for row in self._rows if row.matches(key))
            self._candidates[key] = candidates
        return candidates


def _effective(candidates: tuple[_Row, ...], on: date) -> _Row | None:
    for row in candidates:
        if row.start <= on <= row.end:
            return row
    return None


def select_rate(
    contract: Contract,
    *,
    person: str,
    role: str,
    task: str,
    phase: str,
    category: Category,
    on: date,
) -> Rate | None:
    """The contract's most specific rate row for this work, or None.

    A row matches when each dimension it sets (person, role, task, phase, category)
    equals the work's, and ``on`` lies in its effective dates (both ends included).
    Specificity sums the set dimensions: person 16, task 8, phase 4, role 2, category
    1; ties go to the later ``effective_from``, then to the row listed first.
    """
    row = _card_of(contract).select((person, role, task, phase, category), on)
    return row.rate if row else None


# Contracts are frozen, so each contract object's card is built once and kept while the
# contract lives: validation asks select_rate once per entry. Keyed by identity, because
# hashing a pydantic contract costs more than the lookup it would save.
_CARDS: dict[int, tuple[weakref.ref[Contract], _RateCard]] = {}


def _card_of(contract: Contract) -> _RateCard:
    key = id(contract)
    cached = _CARDS.get(key)
    if cached is not None and cached[0]() is contract:
        return cached[1]
    card = _RateCard(contract)
    _CARDS[key] = (weakref.ref(contract, lambda _: _CARDS.pop(key, None)), card)
    return card


# -- overtime ----------------------------------------------------------------------------

_KINDS = ("daily", "weekly", "weekend", "holiday")
_Premium = tuple[Decimal, str]  # multiplier, name
_Split = tuple[tuple[_Premium, int], ...]  # seconds at each premium


def _to_seconds(hours_: Decimal | None) -> int | None:
    if hours_ is None:
        return None
    return int((hours_ * HOUR_SECONDS).to_integral_value(rounding=ROUND_HALF_UP))


@cache
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # One calendar object per country, subdivision and year, not one per entry.
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


class _Premiums:
    """A contract's overtime rules, with every combination's premium worked out once."""

    def __init__(self, overtime: Overtime) -> None:
        self.daily_after = _to_seconds(overtime.daily_after_hours)
        self.weekly_after = _to_seconds(overtime.weekly_after_hours)
        self.weekend_days = frozenset(overtime.weekend_days)
        self.holidays_on = overtime.holiday_multiplier is not None
        multipliers = {
            "daily": overtime.daily_multiplier if self.daily_after is not None else None,
            "weekly": overtime.weekly_multiplier if self.weekly_after is not None else None,
            "weekend": overtime.weekend_multiplier,
            "holiday": overtime.holiday_multiplier,
        }
        self._table: dict[tuple[str, bool, bool], _Premium] = {}
        for threshold in ("", "daily", "weekly"):
            for weekend in (False, True):
                for holiday in (False, True):
                    kinds = {threshold, "weekend" if weekend else "", "holiday" if holiday else ""}
                    applicable = [(k, multipliers[k]) for k in _KINDS if k in kinds]
                    self._table[threshold, weekend, holiday] = _combine(applicable, overtime.stack)
        self._splits: dict[tuple[int, int, int, tuple[bool, bool]], _Split] = {}

    def day_flags(self, day: date, person: PersonInfo) -> tuple[bool, bool]:
        weekend = day.weekday() in self.weekend_days
        holiday = self.holidays_on and day in _public_holidays(
            person.country, person.subdivision, day.year
        )
        return weekend, holiday

    def premium(self, threshold: str, weekend: bool, holiday: bool) -> _Premium:
        return self._table[threshold, weekend, holiday]

    def split(self, straight: int, weekly: int, daily: int, flags: tuple[bool, bool]) -> _Split:
        """An entry's straight, weekly overtime and daily overtime seconds by premium.
        Parts that end up at the same premium (a holiday outranking daily overtime, say)
        are one: an entry has one portion per price, not one per rule crossed. Each
        split is worked out once: lengths and thresholds repeat."""
        key = (straight, weekly, daily, flags)
        split = self._splits.get(key)
        if split is None:
            merged: dict[_Premium, int] = {}
            for threshold, seconds in (("", straight), ("weekly", weekly), ("daily", daily)):
                if seconds:
                    premium = self.premium(threshold, *flags)
                    merged[premium] = merged.get(premium, 0) + seconds
            split = self._splits[key] = tuple(merged.items())
        return split


def _combine(applicable: Iterable[tuple[str, Decimal | None]], stack: bool) -> _Premium:
    on = [(kind, m) for kind, m in applicable if m is not None]  # None: that rule is off
    if not on:
        return NO_PREMIUM
    if stack:
        product = ONE
        for _, m in on:
            product *= m
        return product, "+".join(kind for kind, _ in on)
    kind, best = max(on, key=lambda km: km[1])  # max keeps the first of equals
    return best, kind


def _within_thresholds(
    seconds: int, day_done: int, week_done: int, rules: _Premiums
) -> tuple[int, int]:
    """How many of an entry's seconds fall within the day's threshold, and how many of
    those within the week's. The entry's seconds run straight time, then weekly
    overtime, then daily overtime; only the within-day ones count towards the week."""
    # Comparisons, not min() and max(): those parse keyword arguments on every call.
    within_day = straight = seconds
    daily, weekly = rules.daily_after, rules.weekly_after
    if daily is not None and day_done + seconds > daily:
        within_day = straight = daily - day_done if daily > day_done else 0
    if weekly is not None and week_done + within_day > weekly:
        straight = weekly - week_done if weekly > week_done else 0
    return within_day, straight


# -- the rating run ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    """What every entry of one person's work on one project, task, phase and category
    shares: the person, the rate rows that may price it, and who worked on what."""

    person: PersonInfo
    candidates: tuple[_Row, ...]  # matching rows, best first, whatever their dates
    worked: Worked


class _Shapes:
    """Entries' shapes, each worked out the first time it is seen. A million entries
    have a few thousand shapes, so each entry costs one dictionary lookup here instead
    of three (its person, its rate rows, who worked on what)."""

    def __init__(self, people: Mapping[str, PersonInfo], card: _RateCard) -> None:
        self._people = people
        self._card = card
        self._known: dict[tuple[str, str, str, str, Category], _Shape] = {}

    def of(self, entry: TimeEntry) -> _Shape | None:
        """None: the entry's person is not in `people` (a rare mistake, not cached)."""
        key = (entry.person, entry.project, entry.task, entry.phase, entry.category)
        shape = self._known.get(key)
        if shape is None:
            person = self._people.get(entry.person)
            if person is None:
                return None
            role = person.role
            rate_key = (entry.person, role, entry.task, entry.phase, entry.category)
            worked = Worked(
                entry.person, role, entry.project, entry.phase, entry.task, entry.category
            )
            shape = self._known[key] = _Shape(person, self._card.candidates(rate_key), worked)
        return shape


@dataclass(slots=True)
class _Work:
    """An entry that bills: its seconds, its shape and the rate row that prices it."""

    position: int  # in the caller's list
    entry: TimeEntry
    seconds: int
    adjustments: tuple[Adjustment, ...]  # how `seconds` differ from the worked time
    shape: _Shape
    row: _Row
    billed: bool = False  # already invoiced: it used up its day's threshold first

    def order(self) -> tuple[date, bool, bool, datetime, str, str, int, int]:
        e = self.entry
        start = _LAST if e.start is None else e.start
        if start.tzinfo is None:  # a naive time is read in the entry's own zone
            start = start.replace(tzinfo=ZoneInfo(e.timezone))
        return (
            e.work_date,
            not self.billed,
            e.start is None,
            start,
            e.source,
            e.external_id,
            e.id,
            e.revision,
        )


class _Pricer:
    """Builds portions. What portions have in common is one object each: a price per
    rate row and premium (quantized once), who worked on what (the work's shape), and
    the quantity and amount of equal hours at one price (a run keeps a million portions
    until they are capped and drafted)."""

    def __init__(self, currency: str) -> None:
        self._currency = currency
        # (row, premium name, short-day hours?) -> its price
        self._prices: dict[tuple[int, str, bool], Price] = {}
        # (row, premium name, seconds) -> (the same seconds, hours, amount, price): equal
        # seconds are one object too (an overtime split computes its own)
        self._hours: dict[tuple[int, str, int], tuple[int, Decimal, Decimal, Price]] = {}

    def hours(
        self, work: _Work, seconds: int, base_rate: Decimal, premium: _Premium = NO_PREMIUM
    ) -> Portion:
        """A portion of `seconds` in hours."""
        # Row and premium name fix the price: an hours portion of a day row is short-day
        # hours, and a premium's multiplier follows from its name on one contract.
        key = (work.row.index, premium[1], seconds)
        shared = self._hours.get(key)
        if shared is None:
            price = self._price(work, _HOUR, base_rate, premium)
            quantity = hours(seconds)
            shared = self._hours[key] = (seconds, quantity, quantity * price.unit_price, price)
        e = work.entry
        seconds, quantity, amount, price = shared
        return Portion(
            e.id,
            e.revision,
            e.work_date,
            seconds,
            quantity,
            amount,
            work.shape.worked,
            price,
            work.adjustments,
        )

    def days(self, work: _Work, days: Decimal, base_rate: Decimal) -> Portion:
        """A portion of the work's seconds as a share of days."""
        price = self._price(work, _DAY, base_rate, NO_PREMIUM)
        e = work.entry
        return Portion(
            e.id,
            e.revision,
            e.work_date,
            work.seconds,
            days,
            days * price.unit_price,
            work.shape.worked,
            price,
            work.adjustments,
        )

    def _price(self, work: _Work, unit: Unit, base_rate: Decimal, premium: _Premium) -> Price:
        multiplier, name = premium
        key = (work.row.index, name, work.row.per_day and unit is _HOUR)
        price = self._prices.get(key)
        if price is None:
            unit_price = quantize(base_rate * multiplier, self._currency)
            price = self._prices[key] = Price(unit, base_rate, multiplier, name, unit_price)
        return price


def _rates_entry(entry: TimeEntry) -> bool:
    """Entries the validator reports elsewhere are passed through unpriced and unflagged."""
    return not entry.deleted and entry.state is _ACTIVE and entry.billable and entry.mapped


def rate_entries(
    entries: Sequence[TimeEntry],
    contract: Contract,
    people: Mapping[str, PersonInfo],
    billed: Collection[int] = frozenset(),
) -> list[RatedEntry]:
    """Rate the given entries of one contract; the result is in the input's order.

    The caller chooses the entries (one contract's, up to a cut-off); overtime counts
    only these, so pass a person's whole week to get weekly overtime right. Entries
    whose id is in `billed` were invoiced already: they count towards each day's and
    week's thresholds before any other, so late time is what goes beyond them.
    """
    rounder, shapes = _Rounder(contract.rounding), _Shapes(people, _card_of(contract))
    billable: list[tuple[int, tuple[Adjustment, ...]]] = []
    findings: dict[int, tuple[Finding, ...]] = {}
    hourly: dict[str, list[_Work]] = defaultdict(list)  # by person
    daily: dict[tuple[str, date], list[_Work]] = defaultdict(list)  # by person and day
    for position, entry in enumerate(entries):
        if not _rates_entry(entry):
            billable.append((0, ()))
            continue
        rounded = rounder.billable(entry)
        billable.append(rounded)
        seconds, adjustments = rounded
        if not seconds:
            continue
        shape = shapes.of(entry)
        if shape is None:
            findings[position] = (_person_unknown(entry, contract, seconds),)
            continue
        row = _effective(shape.candidates, entry.work_date)
        if row is None:
            findings[position] = (_rate_missing(entry, shape.person, contract, seconds),)
        elif row.per_day:
            daily[entry.person, entry.work_date].append(
                _Work(position, entry, seconds, adjustments, shape, row, entry.id in billed)
            )
        else:
            hourly[entry.person].append(
                _Work(position, entry, seconds, adjustments, shape, row, entry.id in billed)
            )

    portions: list[tuple[Portion, ...]] = [()] * len(entries)
    pricer, premiums = _Pricer(contract.currency), _Premiums(contract.overtime)
    for works in hourly.values():
        _rate_hourly(works, premiums, pricer, portions)
    for works in daily.values():
        _rate_day(works, pricer, portions)
    rated = [
        RatedEntry(entry, seconds, adjustments, priced)
        for entry, (seconds, adjustments), priced in zip(entries, billable, portions, strict=True)
    ]
    for position, found in findings.items():  # few: most entries find a rate
        rated[position] = replace(rated[position], findings=found)
    return rated


def _rate_hourly(
    works: list[_Work], rules: _Premiums, pricer: _Pricer, out: list[tuple[Portion, ...]]
) -> None:
    """One person's hourly entries, walked in a fixed order through days and weeks."""
    day: date | None = None
    week: tuple[int, int] | None = None
    day_done = week_done = 0
    flags = (False, False)
    plain = NO_PREMIUM
    works.sort(key=_Work.order)
    for work in works:
        d = work.entry.work_date
        if d != day:
            day, day_done, flags = d, 0, rules.day_flags(d, work.shape.person)
            plain = rules.premium("", *flags)
            iso = d.isocalendar()
            if (iso.year, iso.week) != week:
                week, week_done = (iso.year, iso.week), 0
        seconds = work.seconds
        within_day, straight = _within_thresholds(seconds, day_done, week_done, rules)
        day_done += seconds
        week_done += within_day
        if straight == seconds:  # no threshold crossed: the common case, kept cheap
            out[work.position] = (pricer.hours(work, seconds, work.row.rate.rate, plain),)
        else:
            split = rules.split(straight, within_day - straight, seconds - within_day, flags)
            rate = work.row.rate.rate
            out[work.position] = tuple([pricer.hours(work, s, rate, p) for p, s in split])


def _rate_day(works: list[_Work], pricer: _Pricer, out: list[tuple[Portion, ...]]) -> None:
    """One person's day-rated entries of one local day."""
    works.sort(key=_Work.order)
    total = sum(w.seconds for w in works)
    # Entries sharing a denominator share out one exact total: the last takes what the
    # others leave, so three 3-hour entries of a full day bill 1 day, not 0.999... days.
    shares: dict[Decimal, list[_Work]] = defaultdict(list)
    for work in works:
        rate = work.row.rate
        minimum = rate.day_min_hours or Decimal(0)  # a day rate always has it (validated)
        if total >= minimum * HOUR_SECONDS:
            shares[Decimal(total)].append(work)
        elif rate.short_day_rate is not None:
            out[work.position] = (pricer.hours(work, work.seconds, rate.short_day_rate),)
        else:
            shares[minimum * HOUR_SECONDS].append(work)
    for denominator, group in shares.items():
        for work, days in zip(group, _share(group, denominator), strict=True):
            day_rate = work.row.rate.rate
            out[work.position] = (pricer.days(work, days, day_rate),)


def _share(group: Sequence[_Work], denominator: Decimal) -> list[Decimal]:
    whole = Decimal(sum(w.seconds for w in group)) / denominator
    days = [Decimal(w.seconds) / denominator for w in group[:-1]]
    return [*days, whole - sum(days, Decimal(0))]


# -- findings ----------------------------------------------------------------------------


def _rate_missing(
    entry: TimeEntry, person: PersonInfo, contract: Contract, seconds: int
) -> Finding:
    task = entry.task or "(no task)"
    message = (
        f"No rate for entry {entry.external_id} ({entry.person}, role {person.role}, "
        f"task {task}, category {entry.category}, {entry.work_date}) in contract "
        f"{contract.code}: add a rate row that covers it, or correct the entry's mapping."
    )
    return _blocking(
        "rate.missing",
        entry,
        contract,
        seconds,
        message,
        {
            "external_id": entry.external_id,
            "person": entry.person,
            "role": person.role,
            "task": entry.task,
            "phase": entry.phase,
            "category": str(entry.category),
            "date": entry.work_date.isoformat(),
        },
    )


def _blocking(
    code: str,
    entry: TimeEntry,
    contract: Contract,
    seconds: int,
    message: str,
    details: dict[str, str],
) -> Finding:
    """A blocking finding about one entry that rating cannot price."""
    return Finding(
        code=code,
        severity=Severity.BLOCKING,
        subject=f"entry:{entry.id}",
        message=message,
        entry_ids=(entry.id,),
        contract=contract.code,
        hours=hours(seconds),
        details=details,
    )


def _person_unknown(entry: TimeEntry, contract: Contract, seconds: int) -> Finding:
    message = (
        f"Entry {entry.external_id} ({entry.work_date}) is mapped to person {entry.person}, "
        f"who is not in the workspace: add the person with a role and site, or remap the entry."
    )
    return _blocking(
        "rate.person_unknown",
        entry,
        contract,
        seconds,
        message,
        {"external_id": entry.external_id, "person": entry.person},
    )
