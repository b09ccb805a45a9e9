"""Processing webhook events of one connection, one event at a time: a delivery that
names only ids (QuickBooks) is completed by fetching the entity, and that fetch and its
write never interleave with another event's of the same connection, in threads of one
server or in processes sharing the database (each thread here has its own database
connection, as another process would)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import update

from billsync.connectors.base import WebhookRequest
from billsync.pipeline.connections import Hooks
from billsync.pipeline.sync import SyncSummary
from billsync.pipeline.webhooks import LEASE, accept, process
from billsync.sandbox.platforms.quickbooks import QuickBooksSandbox
from billsync.sandbox.seed import generate
from billsync.store import leases
from billsync.store.db import Store
from billsync.store.tables import webhook_leases
from support.connections import Wired, wired
from support.doubles import Paused

CODE = "quickbooks"
RECENT = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)
T = TypeVar("T")


class Running(Generic[T]):
    """A call on a thread of its own (a daemon: a deadlock fails the test, not the run)."""

    def __init__(self, call: Callable[[], T]):
        self._result: list[T] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], T]) -> None:
        try:
            self._result.append(call())
        except BaseException as exc:  # raised again in the test's thread
            self._error.append(exc)

    def result(self, seconds: float = 60) -> T:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "still running: deadlocked?"
        if self._error:
            raise self._error[0]
        return self._result[0]


@dataclass
class Vendor:
    """QuickBooks with one connection on it; changes are delivered by hand, when the
    test says, so no receiver processes them behind its back."""

    store: Store
    sandbox: QuickBooksSandbox
    wired: Wired

    def deliver(self, ident: str, operation: str, at: dt.datetime) -> int:
        body = self.sandbox.notification("TimeActivity", ident, operation, at)
        headers = {"content-type": "application/json"}
        headers["intuit-signature"] = self.sandbox.signature(body)
        request = WebhookRequest(f"http://billsync/webhooks/{CODE}", headers, body)
        accepted = accept(self.store, CODE, request, self.wired.hooks)
        assert accepted.event_id is not None
        return accepted.event_id

    def add(self, at: dt.datetime) -> str:
        ident = self.sandbox.add(generate(1, seed=5, start=RECENT)[0], at=at, notify=False)
        self.deliver(ident, "Create", at)
        return ident

    def edit(self, ident: str, seconds: int, at: dt.datetime) -> None:
        self.sandbox.edit(ident, seconds=seconds, at=at, notify=False)
        self.deliver(ident, "Update", at)

    def process(self, transport: Any = None) -> SyncSummary:
        hooks = Hooks(transport=transport, sleep=self.wired.waits.append)
        return process(self.store, CODE, hooks)

    def entry(self, ident: str) -> dict[str, Any]:
        return self.wired.entries()[ident]

    def claim(self, holder: str) -> bool:
        """The lease taken as another worker (a thread or process) would take it."""
        with self.store.transaction(lock=False) as tx:
            return leases.claim(tx, CODE, holder, LEASE)

    def run_out(self) -> None:
        """The holder's lease runs out (it died, or is stuck in a fetch)."""
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        with self.store.transaction(lock=False) as tx:
            tx.conn.execute(
                update(webhook_leases)
                .where(webhook_leases.c.workspace_id == tx.workspace_id)
                .values(expires_at=past)
            )

    def statuses(self) -> list[str]:
        return [e["status"] for e in sorted(self.wired.events(), key=lambda e: e["id"])]


@contextmanager
def quickbooks(store: Store) -> Iterator[Vendor]:
    sandbox = QuickBooksSandbox(items=[])
    with wired(store, CODE, sandbox) as w:
        w.put_secret("webhook_secret", sandbox.verifier_token)
        yield Vendor(store, sandbox, w)


def second() -> dt.datetime:
    """Now, in whole seconds: QuickBooks' change stamps have no fractions."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def fetching_an_edit(
    vendor: Vendor, paused: Paused, now: dt.datetime
) -> tuple[str, Running[SyncSummary]]:
    """An entry edited to 3600 s at `now`, and a worker that has fetched the edit from
    QuickBooks and waits (on `paused`) to write it."""
    ident = vendor.add(now - dt.timedelta(minutes=1))
    vendor.process()
    vendor.edit(ident, 3600, now)
    worker = Running(lambda: vendor.process(paused))
    assert paused.fetched.wait(30)
    return ident, worker


def test_a_fetch_of_an_older_state_is_never_written_after_a_newer_one(store: Store) -> None:
    """Two edits in one second (one stamp). The first edit's event has fetched its
    entry and not yet written it when the second edit's event is processed: the older
    state must not land after the newer one."""
    now = second()
    paused = Paused("/timeactivity/")
    with quickbooks(store) as vendor:
        ident, first = fetching_an_edit(vendor, paused, now)  # it has read 3600
        vendor.edit(ident, 7200, now)
        later = vendor.process()  # another worker, the next delivery
        paused.go.set()
        first.result()
        entry = vendor.entry(ident)
        statuses = vendor.statuses()
    assert entry["duration_seconds"] == 7200
    assert entry["revision"] == 3  # created, 3600, 7200: no flip-flop
    assert later.fetched == 0  # left to the worker already at it, which went on with it
    assert statuses == ["processed"] * 3


def test_a_worker_that_dies_holding_a_connection_delays_its_events_and_loses_none(
    store: Store,
) -> None:
    with quickbooks(store) as vendor:
        assert vendor.claim("a worker since killed")
        ident = vendor.add(second())  # accepted while the lease is held
        held = vendor.process()
        pending = vendor.statuses()
        vendor.run_out()
        after = vendor.process()
        assert vendor.entry(ident)["revision"] == 1
        assert vendor.statuses() == ["processed"]
    assert (held.fetched, pending) == (0, ["pending"])
    assert after.new == 1


def test_a_worker_whose_lease_was_taken_over_mid_fetch_writes_nothing(store: Store) -> None:
    paused = Paused("/timeactivity/")
    with quickbooks(store) as vendor:
        ident, stuck = fetching_an_edit(vendor, paused, second())
        vendor.run_out()
        assert vendor.claim("the worker that took over")
        paused.go.set()
        refused = stuck.result()
        entry, statuses = vendor.entry(ident), vendor.statuses()
        with store.transaction(lock=False) as tx:
            leases.release(tx, CODE, "the worker that took over")
        vendor.process()
        assert vendor.entry(ident)["duration_seconds"] == 3600
    assert refused.fetched == 0 and refused.changed == 0
    assert entry["revision"] == 1  # its fetch was not written
    assert statuses == ["processed", "pending"]  # left for the next holder


def test_an_edit_in_the_same_second_as_the_last_still_lands(store: Store) -> None:
    """QuickBooks gives both edits one stamp; fetches are processed in order, so the
    later one is the vendor's newer state and replaces the stored one."""
    now = second()
    with quickbooks(store) as vendor:
        ident = vendor.add(now - dt.timedelta(minutes=1))
        vendor.edit(ident, 3600, now)
        vendor.process()
        vendor.edit(ident, 7200, now)
        vendor.process()
        entry = vendor.entry(ident)
    assert (entry["duration_seconds"], entry["revision"]) == (7200, 2)


def test_a_token_refreshed_during_a_fetch_is_saved_while_the_lease_is_held(
    store: Store,
) -> None:
    """The refresh writes the new token in a transaction of its own mid-fetch: the
    lease is no transaction left open (SQLite has one writer; PostgreSQL would wait on
    the workspace's row)."""
    with quickbooks(store) as vendor:
        ident = vendor.add(second())
        before = vendor.wired.token()
        vendor.sandbox.expire_tokens()
        summary = Running(vendor.process).result()
        after = vendor.wired.token()
        assert vendor.entry(ident)["revision"] == 1
    assert summary.new == 1
    assert before is not None and after is not None
    assert after["access_token"] != before["access_token"]


def test_an_event_that_cannot_be_processed_fails_alone_and_the_rest_go_on(
    store: Store,
) -> None:
    """QuickBooks answers the fetch of one entry with a list where its object should
    be (a record of the wrong shape is quarantined, not failed): that event is failed
    with why, the events after it are ingested, and a later delivery of the same
    entry, once the answer is right, lands."""
    now = second()
    with quickbooks(store) as vendor:
        broken = vendor.add(now)
        others = [vendor.add(now), vendor.add(now)]

        def odd(request: Any, body: Any, _headers: Any) -> Any:
            return [] if request.url.path.endswith(f"/timeactivity/{broken}") else body

        vendor.sandbox.faults.tamper = odd
        first = vendor.process()
        statuses = vendor.statuses()
        stored = set(vendor.wired.entries())
        (failed,) = [e for e in vendor.wired.events() if e["status"] == "failed"]
        vendor.sandbox.faults.tamper = None
        vendor.edit(broken, 3600, now + dt.timedelta(seconds=1))
        again = vendor.process()
        assert vendor.entry(broken)["duration_seconds"] == 3600
    assert statuses == ["failed", "processed", "processed"]
    assert stored == set(others)
    assert first.new == 2 and [i for i, _ in first.failed] == [failed["id"]]
    assert failed["error"].startswith("cannot be processed: AttributeError")
    assert failed["processed_at"] is not None
    assert again.new == 1 and again.failed == []


def test_an_event_the_vendor_could_not_answer_for_stays_pending_for_a_retry(
    store: Store,
) -> None:
    """A vendor outage is no reason to give up: the event stays pending (with why),
    the next call ingests it."""
    with quickbooks(store) as vendor:
        ident = vendor.add(second())
        vendor.sandbox.faults.fail_next = 100
        down = vendor.process()
        (pending,) = vendor.wired.events()
        vendor.sandbox.faults.fail_next = 0
        up = vendor.process()
        assert vendor.entry(ident)["revision"] == 1
    assert pending["status"] == "pending" and "503" in pending["error"]
    assert [i for i, _ in down.retry] == [pending["id"]] and down.failed == []
    assert up.new == 1 and vendor.statuses() == ["processed"]
