"""A run's entries checked and rated in batches of whole people, here or in a second process.

Every rule across entries (overlaps, a person's day and week, the same work from two
sources) is one person's, so a batch of whole people is checked and rated on its own,
and a run holds one batch's entries at a time. On a large workspace a second process
checks and rates batches too, each batch going to whichever process is free. That
process reads the state the run's transaction started from (the run holds the write
lock; on PostgreSQL it reads the run's exported snapshot), and is told the codes the
run's mapping changed, which is all the run has written by then. Batches are added up
in their order, wherever they were rated, so the result is the same either way.
"""

from __future__ import annotations

import datetime as dt
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

from billsync.domain.billing import billable_on_task, overtime_context
from billsync.domain.contracts import Contract
from billsync.domain.entries import EntryState, SourceRef, TimeEntry
from billsync.domain.findings import Finding, Severity
from billsync.domain.mapping import Codes
from billsync.domain.rated import Adjustment, Portion, RatedEntry
from billsync.domain.rating import PersonInfo, rate_entries, select_rate
from billsync.domain.validation import ValidationContext, validate
from billsync.store import entries as entry_store
from billsync.store import exceptions as exception_store
from billsync.store import invoices as invoice_store
from billsync.store.db import Tx, reading_snapshot
from billsync.store.tables import workspaces

from .collector import bulk_work
from .workspace import Workspace, load_workspace

BATCH = 10_000  # entries checked and rated at a time: a batch is its own peak of memory
# From this many entries a second process rates batches too. Below, what it
# saves does not pay for starting it (about 0.7 s before its first batch is rated).
SECOND_PROCESS_FROM = 100_000

Moved = dict[int, tuple[str, str]]  # entry id -> (project, task) finance moved it to
Adjustments = tuple[Adjustment, ...]  # how an entry's billable time differs from worked
T = TypeVar("T")
K = TypeVar("K")


def people_info(ws: Workspace) -> dict[str, PersonInfo]:
    out = {}
    for code, person in ws.people.items():
        site = ws.sites[person.site]
        out[code] = PersonInfo(person.role, site.timezone, site.country, site.subdivision)
    return out


def contracts_by_project(ws: Workspace) -> dict[str, Contract]:
    return {
        code: ws.contracts[p.contract]
        for code, p in ws.projects.items()
        if p.contract and p.contract in ws.contracts
    }


def said(entry_id: int, ref: SourceRef, moved: Moved) -> SourceRef:
    """What mapping starts from: a transfer by finance stands in for what the source said."""
    if entry_id not in moved:
        return ref
    return SourceRef(ref.person, *moved[entry_id], ref.client)


def blocked(findings: Iterable[Finding], waived: set[str], revisions: dict[int, int]) -> set[int]:
    """The entries that blocking findings, unless waived, keep off invoices."""
    out: set[int] = set()
    for f in findings:
        if (
            f.severity is Severity.BLOCKING
            and exception_store.fingerprint(f, revisions) not in waived
        ):
            out.update(f.entry_ids)
    return out


def _rate_lookup(
    ws: Workspace, by_project: dict[str, Contract]
) -> Callable[[TimeEntry], Decimal | None]:
    def lookup(entry: TimeEntry) -> Decimal | None:
        contract = by_project.get(entry.project)
        person = ws.people.get(entry.person)
        if contract is None or person is None:
            return None
        rate = select_rate(
            contract,
            person=entry.person,
            role=person.role,
            task=entry.task,
            phase=entry.phase,
            category=entry.category,
            on=entry.work_date,
        )
        return rate.rate if rate is not None else None

    return lookup


@dataclass(frozen=True)
class Setting:
    """What every batch is checked and rated against, read once per run (and once in
    the second process, from the same state)."""

    ws: Workspace
    by_project: dict[str, Contract]
    billed: dict[int, int]  # entry id -> revision on a live invoice (growing drafts aside)
    waived: set[str]  # fingerprints of waived exceptions
    moved: Moved
    checks: ValidationContext
    info: dict[str, PersonInfo]

    @classmethod
    def read(cls, tx: Tx, today: dt.date) -> Setting:
        ws = load_workspace(tx)
        by_project = contracts_by_project(ws)
        billed = invoice_store.billed_revisions(tx, growing=False)
        locked = (
            tx.conn.execute(workspaces.select().where(workspaces.c.id == tx.workspace_id))
            .one()
            .locked_until
        )
        return cls(
            ws,
            by_project,
            billed,
            {r["fingerprint"] for r in exception_store.listing(tx, status="waived")},
            entry_store.transfers(tx),
            ValidationContext(
                today=today,
                contracts_by_project=by_project,
                projects=ws.projects,
                locked_until=locked,
                billed=billed,
                rate_lookup=_rate_lookup(ws, by_project),
            ),
            people_info(ws),
        )


def batches(people: dict[str, array[int]], size: int = BATCH) -> Iterator[array[int]]:
    """Entry ids in batches of whole people, about `size` entries each (emptying
    `people` as it goes)."""
    batch: array[int] = array("q")
    for person in sorted(people):
        ids = people.pop(person)
        # Entries of no known person meet no rule across entries: they split freely.
        pieces = [ids] if person else [ids[i : i + size] for i in range(0, len(ids), size)]
        for piece in pieces:
            if batch and len(batch) + len(piece) > size:
                yield batch
                batch = array("q")
            batch.extend(piece)
    if batch:
        yield batch


def load(tx: Tx, setting: Setting, ids: array[int], codes: Mapping[int, Codes]) -> list[TimeEntry]:
    """A batch's entries as mapping saw them, non-billable tasks applied. `codes` are
    the codes this run's mapping gave entries and has not stored where `tx` can see."""
    moved = setting.moved
    projects = setting.ws.projects
    out = []
    for e in entry_store.load_entries(tx, ids):
        if e.id in codes:
            person, project, task, phase, cost_center = codes[e.id]
            e = replace(
                e, person=person, project=project, task=task, phase=phase, cost_center=cost_center
            )
        if e.id in moved:
            e = replace(e, ref=said(e.id, e.ref, moved))
        out.append(billable_on_task(e, projects.get(e.project)))
    return out


@dataclass
class Batch:
    """What checking and rating one batch found."""

    count: int  # entries
    checked: list[Finding]  # validation's findings
    first: dict[str, int]  # contract -> its first entry id with unbilled work
    rating: dict[str, list[tuple[int, Finding]]]  # rating's, by contract, with their entry
    eligible: dict[str, Columns]  # contract -> the unblocked portions, as columns
    revisions: dict[int, int]  # entry id -> revision, of the entries findings name


def rate_batch(
    setting: Setting, entries: list[TimeEntry], checked: list[Finding]
) -> tuple[Batch, dict[int, RatedEntry]]:
    """Rate a batch, whose validation found `checked`, contract by contract; also what
    rating made of each entry."""
    billed = setting.billed
    # Codes read once per batch, not once per entry: a contract is a pydantic model.
    code_of = {project: contract.code for project, contract in setting.by_project.items()}
    active = EntryState.ACTIVE
    per_contract: dict[str, list[TimeEntry]] = defaultdict(list)
    invoiced: dict[str, list[TimeEntry]] = defaultdict(list)
    for e in entries:
        code = code_of.get(e.project)
        if code is None or e.deleted or e.state is not active:
            continue
        (invoiced if e.id in billed else per_contract)[code].append(e)
    batch = Batch(len(entries), checked, {}, {}, {}, {})
    rated: dict[int, RatedEntry] = {}
    results: dict[str, list[RatedEntry]] = {}  # contract -> its group's, in the group's order
    found = list(checked)
    for code, group in per_contract.items():
        batch.first[code] = group[0].id
        context = overtime_context(invoiced[code], group) if code in invoiced else []
        rating = batch.rating[code] = []
        # Results are in the input's order: the invoiced context's come after the group's.
        results[code] = rate_entries(
            group + context, setting.ws.contracts[code], setting.info, {e.id for e in context}
        )[: len(group)]
        for e, r in zip(group, results[code], strict=True):
            rated[e.id] = r
            if r.findings:
                rating += [(e.id, f) for f in r.findings]
                found += r.findings
    revisions = {e.id: e.revision for e in entries}
    batch.revisions = {i: revisions[i] for f in found for i in f.entry_ids}
    held = blocked(found, setting.waived, revisions)
    for code, group in per_contract.items():
        eligible: list[Portion] = []
        for e, r in zip(group, results[code], strict=True):
            if r.portions and e.id not in held:
                eligible += r.portions
        batch.eligible[code] = columns(eligible)
    return batch, rated


@dataclass
class Totals:
    """The batches added up, in their order: what the caps and the drafts need."""

    count: int = 0
    findings: list[Finding] = field(default_factory=list)  # validation's
    first: dict[str, int] = field(default_factory=dict)
    rating: dict[str, list[tuple[int, Finding]]] = field(default_factory=dict)
    eligible: dict[str, Eligible] = field(default_factory=dict)
    revisions: dict[int, int] = field(default_factory=dict)
    added: int = 0  # batches added by add_in_order
    # Quantities and amounts by their text: the few thousand distinct ones, which the
    # batches of a million entries hold as about 190,000 objects (20 MB). And the
    # entries' adjustments: a few dozen, of which each batch brings its own copies.
    decimals: dict[str, Decimal] = field(default_factory=dict)
    adjustments: dict[Adjustments, Adjustments] = field(default_factory=dict)

    def add_in_order(self, done: dict[int, Batch]) -> None:
        """Add, and take out of `done` (batches by their place in the run), those that
        come next in order: batches rated in two processes finish out of order."""
        while self.added in done:
            self.add(done.pop(self.added))
            self.added += 1

    def add(self, batch: Batch) -> None:
        self.count += batch.count
        self.findings += batch.checked
        for code, first in batch.first.items():
            self.first[code] = min(self.first.get(code, first), first)
        for code, found in batch.rating.items():
            self.rating.setdefault(code, []).extend(found)
        for code, portions in batch.eligible.items():
            held = self.eligible.setdefault(code, Eligible())
            held.extend(portions, self.decimals, self.adjustments)
        self.revisions.update(batch.revisions)

    def contracts(self) -> list[str]:
        """Contracts with unbilled work, in the order of their first entry."""
        return sorted(self.first, key=self.first.__getitem__)

    def rating_findings(self) -> list[Finding]:
        """Rating's findings, contract by contract and entry by entry."""
        return [
            f
            for code in self.contracts()
            for _, f in sorted(self.rating[code], key=lambda found: found[0])
        ]


# A batch's portions as columns of their fields, in _PORTION's order. What portions
# share (who worked, the price, days, amounts) is then held once per batch, also when
# it crosses from the second process; building the portions again costs about a
# microsecond each, where pickling them as objects costs ten.
_PORTION = attrgetter(
    "entry_id",
    "revision",
    "work_date",
    "seconds",
    "quantity",
    "amount",
    "worked",
    "price",
    "adjustments",
)
Columns = list[tuple[Any, ...]]


def columns(portions: list[Portion]) -> Columns:
    return list(zip(*map(_PORTION, portions), strict=True))


class Eligible:
    """A contract's unblocked portions, held as columns until its caps are applied: the
    numbers in arrays, the rest by reference, about a third of the memory of portions
    (a run holds every billable portion of the workspace at the end of its batches,
    while the second process still runs)."""

    def __init__(self) -> None:
        self.numbers = (array("q"), array("q"), array("q"))  # entry id, revision, seconds
        self.shared: tuple[list[Any], ...] = ([], [], [], [], [], [])  # day, quantity, ...

    def extend(
        self,
        batch: Columns,
        decimals: dict[str, Decimal],
        adjustments: dict[Adjustments, Adjustments],
    ) -> None:
        """Add a batch's columns; its quantities and amounts become the objects of
        `decimals` with the same text (so 1.50 stays 1.50, not 1.5), its entries'
        adjustments the equal ones of `adjustments` (a draft writes each kind once)."""
        if not batch:
            return
        entry_ids, revisions, days, seconds, quantities, amounts, worked, prices, written = batch
        for held, given in zip(self.numbers, (entry_ids, revisions, seconds), strict=True):
            held.extend(given)
        shared = (
            days,
            _one_per_key(quantities, decimals, str),
            _one_per_key(amounts, decimals, str),
            worked,
            prices,
            _one_per_key(written, adjustments, _itself),
        )
        for held_list, values in zip(self.shared, shared, strict=True):
            held_list.extend(values)

    def portions(self) -> list[Portion]:
        entry_ids, revisions, seconds = self.numbers
        days, quantities, amounts, worked, prices, adjustments = self.shared
        # Few lengths recur: one int object each, not one per portion.
        lengths: dict[int, int] = {}
        shared_seconds = [lengths.setdefault(n, n) for n in seconds]
        return list(
            map(
                Portion, entry_ids, revisions, days, shared_seconds, quantities, amounts, worked,
                prices, adjustments,
            )
        )  # fmt: skip


def _one_per_key(column: Sequence[T], kept: dict[K, T], key: Callable[[T], K]) -> list[T]:
    """The column, each value replaced by the first object `kept` under its key. A
    batch shares its values among its portions already: each of its objects is
    looked up once."""
    objects = dict(zip(map(id, column), column, strict=True))
    one = {at: kept.setdefault(key(value), value) for at, value in objects.items()}
    return list(map(one.__getitem__, map(id, column)))


def _itself(value: T) -> T:
    return value


def rated_elsewhere(
    url: str,
    workspace_id: int,
    snapshot: str | None,
    today: dt.date,
    given: Iterable[tuple[int, array[int], dict[int, Codes]]],
) -> Iterator[tuple[int, Batch]]:
    """In the second process: each batch it is given (its place among the run's
    batches, its ids, and the codes the run gave them that it has not committed),
    checked and rated, with its place."""
    # In the second process too, where no caller has paused the collector.
    with bulk_work(), reading_snapshot(url, workspace_id, snapshot) as tx:
        setting = Setting.read(tx, today)
        for index, ids, codes in given:
            entries = load(tx, setting, ids, codes)
            yield index, rate_batch(setting, entries, validate(entries, setting.checks))[0]
