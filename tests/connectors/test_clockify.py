"""Clockify connector against its sandbox, over real HTTP on loopback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.support.specs import check

from billsync.connectors.base import (
    Context,
    Credentials,
    VendorRecord,
    WebhookMalformed,
    WebhookRequest,
)
from billsync.connectors.http import AuthFailed, VendorError
from billsync.connectors.platforms import clockify
from billsync.connectors.platforms.clockify import ClockifySource, reports_url, wait_of
from billsync.connectors.registry import platform
from billsync.domain.canonical import Canonical, Defaults, parse_record
from billsync.domain.connections import Connection
from billsync.domain.entries import Approval
from billsync.errors import UserError
from billsync.sandbox.base import RateLimit, serve
from billsync.sandbox.platforms.clockify import ClockifySandbox, iso_duration
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import WorkItem
from support.doubles import Recorder, Waits

# The sandbox stamps changes with the real clock; the connector reads up to `NOW`.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=5)
SPEC = "clockify/clockify.corrected.openapi.yaml"
HISTORY = {"history_start": "2026-09-30"}  # UTC: Oct 1 in Tokyo starts on Sep 30


def make_context(
    sandbox: ClockifySandbox,
    url: str,
    *,
    settings: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
    timezone: str | None = None,
    sleep: Waits | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Context:
    setup = sandbox.setup(url)
    connection = Connection(
        code="ck",
        platform="clockify",
        base_url=url,
        settings={**setup.settings, **(settings or {})},
        timezone=timezone,
    )
    return Context(
        connection,
        Credentials("ck", {**setup.credentials, **(credentials or {})}),
        transport=transport,
        sleep=sleep if sleep is not None else Waits(),
        now=lambda: NOW,
    )


def open_source(context: Context, timeout: float = 30.0) -> ClockifySource:
    chosen = platform("clockify")
    assert chosen.source is ClockifySource
    return ClockifySource(context, clockify.client(context, timeout=timeout))


def pulled(source: ClockifySource, since: dt.datetime | None = None) -> list[VendorRecord]:
    return [record for page in source.pull(since) for record in page.records]


def items_on(
    day: dt.date, count: int, zone: str = "Europe/Oslo", person: str = "Kari Hansen"
) -> list[WorkItem]:
    """`count` one-minute entries from 07:00 local; a person's first item sets the
    zone of their Clockify profile."""
    start = dt.datetime.combine(day, dt.time(7), ZoneInfo(zone))
    return [
        WorkItem(
            person=person,
            email=person.lower().replace(" ", ".") + "@example.com",
            client="Nordic Shipyards AS",
            project="MV Nordic Star - Hull survey",
            task="Hull survey",
            start=start + dt.timedelta(minutes=i),
            seconds=60,
        )
        for i in range(count)
    ]


# -- reading ---------------------------------------------------------------------------


def test_the_sandbox_is_registered_and_seeds_as_asked() -> None:
    assert all_sandboxes()["clockify"] is ClockifySandbox
    assert len(ClockifySandbox(size=37).ids()) == 37
    assert iso_duration(10440) == "PT2H54M" and iso_duration(0) == "PT0S"


def test_a_full_pull_returns_every_entry_once() -> None:
    sandbox = ClockifySandbox(seed=3, size=450)  # about 50 days: two windows, many pages
    with serve(sandbox) as url:
        records = pulled(open_source(make_context(sandbox, url)))
    ids = [r.external_id for r in records]
    assert len(ids) == len(set(ids)) == 450
    assert set(ids) == sandbox.ids()
    assert all(r.updated_at is not None and not r.deleted for r in records)
    assert {kind for kind, _, _ in sandbox.change_requests} == {"created", "updated"}


SIZE = ClockifySandbox.page_size


@pytest.mark.parametrize(
    ("count", "pages", "report"),
    [
        (SIZE, [(0, SIZE), (1, 0)], [1, 2]),
        (SIZE + 1, [(0, SIZE), (1, 1), (2, 0)], [1, 2]),
        (0, [(0, 0)], [1]),
    ],
)
def test_paging_boundaries(count: int, pages: list[tuple[int, int]], report: list[int]) -> None:
    sandbox = ClockifySandbox(items=items_on(dt.date(2026, 10, 5), count))
    recent = {"history_start": (NOW - dt.timedelta(days=2)).date().isoformat()}
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings=recent))
        records = pulled(source)
        listed = source.listed_ids(dt.date(2026, 10, 5), dt.date(2026, 10, 5))
    assert sorted(r.external_id for r in records) == sorted(sandbox.ids())
    assert len(records) == count and listed == sandbox.ids()
    # One 30-day window of entries created in the last two days: pages from 0 until
    # an empty one.
    created = [(page, n) for kind, page, n in sandbox.change_requests if kind == "created"]
    assert created == pages
    # The report (listed ids) pages from 1, until a page comes back short.
    assert [b["detailedFilter"]["page"] for b in sandbox.report_requests] == report
    assert all(b["detailedFilter"]["pageSize"] == SIZE for b in sandbox.report_requests)
    assert all(b["timeZone"] == "UTC" for b in sandbox.report_requests)


def test_an_incremental_pull_reads_what_changed_since_late_writes_included() -> None:
    real = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sandbox = ClockifySandbox()
    items = items_on(dt.date(2026, 10, 2), 6)
    ids = [sandbox.add(i, at=real - dt.timedelta(hours=3), notify=False) for i in items[:5]]
    sandbox.add(items[5], at=real - dt.timedelta(minutes=1), notify=False)  # the newest
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings=HISTORY))
        first = pulled(source)
        watermark = max(r.updated_at for r in first if r.updated_at is not None)
        edited, late, gone, untouched = ids[:4]
        sandbox.edit(edited, seconds=5400, notify=False)
        # Written now, stamped from before the watermark (a replica catching up).
        sandbox.edit(late, seconds=6300, at=watermark - dt.timedelta(minutes=4), notify=False)
        sandbox.remove(gone, notify=False)
        new = sandbox.add(items_on(dt.date(2026, 10, 9), 1)[0], notify=False)
        since = watermark - dt.timedelta(minutes=10)  # the overlap the caller subtracts
        again = pulled(source, since)
        by_id = {r.external_id: r for r in again}
        fields = source.fields(by_id[late])
        assert by_id[gone].deleted and source.fields(by_id[gone])["deleted"] == "true"
    assert len(first) == 6 and watermark == real - dt.timedelta(minutes=1)
    assert all(r.updated_at is not None and r.updated_at >= since for r in again)
    assert {edited, late, gone, new} <= set(by_id) and untouched not in by_id
    assert by_id[edited].payload["timeInterval"]["duration"] == "PT1H30M"
    assert by_id[late].payload["timeInterval"]["duration"] == "PT1H45M"
    assert fields["revision"] == (watermark - dt.timedelta(minutes=4)).isoformat()
    parsed = parse_record(fields, Defaults())
    assert isinstance(parsed, Canonical) and parsed.duration_seconds == 6300


def test_an_incremental_pull_reads_only_the_changes() -> None:
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    sandbox = ClockifySandbox()
    ids = [sandbox.add(i, at=long_ago, notify=False) for i in items_on(dt.date(2026, 10, 2), 9)]
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings=HISTORY))
        assert len(pulled(source)) == 9
        since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        assert pulled(source, since) == []
        sandbox.edit(ids[4], seconds=120, notify=False)
        again = pulled(source, since)
    assert [r.external_id for r in again] == [ids[4]]
    kinds = {kind for kind, _, _ in sandbox.change_requests}
    assert kinds == {"created", "updated", "deleted"}


def test_a_bad_setting_is_named() -> None:
    sandbox = ClockifySandbox(size=1)
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings={"history_start": "1.1.2026"}))
        with pytest.raises(UserError, match="connection 'ck': setting 'history_start' must be"):
            pulled(source)


def test_the_sandbox_refuses_a_report_request_clockify_would() -> None:
    sandbox = ClockifySandbox(size=1)
    with serve(sandbox) as url:
        report = f"{url}/v1/workspaces/{sandbox.workspace_id}/reports/detailed"
        headers = {"X-Api-Key": sandbox.api_key}
        good = {
            "dateRangeStart": "2026-10-01T00:00:00.000Z",
            "dateRangeEnd": "2026-10-31T23:59:59.999Z",
            "detailedFilter": {"page": 1, "pageSize": 50},
        }
        assert httpx.post(report, json=good, headers=headers).status_code == 200
        for bad in (
            {**good, "page": 1},  # paging belongs in detailedFilter
            {**good, "detailedFilter": {"page": 1, "pageSize": 50, "sortColumn": "START"}},
            {k: v for k, v in good.items() if k != "detailedFilter"},
            {**good, "dateRangeStart": "yesterday"},
            {**good, "timeZone": "Mars/Olympus"},
        ):
            answer = httpx.post(report, json=bad, headers=headers)
            assert answer.status_code == 400 and answer.json()["code"] == 501, bad
        stop = f"{url}/api/v1/workspaces/{sandbox.workspace_id}/time-entries/stop"
        assert httpx.patch(stop, headers=headers).json()["code"] == 3000
        missing = httpx.get(f"{url}/api/v1/nothing", headers=headers)
        assert missing.status_code == 404 and missing.json()["code"] == 3000


def test_fetch_by_id_and_gone_is_none() -> None:
    sandbox = ClockifySandbox(size=20)
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url))
        from_changes = {r.external_id: r for r in pulled(source)}
        chosen = sorted(sandbox.ids())[5]
        record = source.fetch(chosen)
        assert record is not None and record.external_id == chosen
        assert record.payload["project"]["name"]  # hydrated
        assert record.updated_at is None  # an entry carries no change stamp
        # The same entry maps to the same fields whichever way it was read.
        changes = source.fields(from_changes[chosen])
        assert changes.pop("revision")
        assert source.fields(record) == changes
        sandbox.remove(chosen, notify=False)
        assert source.fetch(chosen) is None
        assert source.fetch("ffffffffffffffffffffffff") is None


def test_another_workspace_is_refused() -> None:
    sandbox = ClockifySandbox(size=1)
    with serve(sandbox) as url:
        context = make_context(sandbox, url, settings={"workspace_id": "0" * 24})
        with pytest.raises(AuthFailed, match="Access Denied"):
            open_source(context).fetch(next(iter(sandbox.ids())))


def test_listed_ids_are_the_entries_whose_local_day_is_in_the_window() -> None:
    # 07:00 in Tokyo on Oct 2 is Oct 1 in UTC; 07:00 in Chicago on Oct 2 is Oct 2 in UTC.
    tokyo = items_on(dt.date(2026, 10, 2), 2, "Asia/Tokyo", "Mei Tanaka")
    tokyo += items_on(dt.date(2026, 10, 3), 1, "Asia/Tokyo", "Mei Tanaka")
    oslo = items_on(dt.date(2026, 10, 3), 2) + items_on(dt.date(2026, 10, 1), 1)
    chicago = items_on(dt.date(2026, 10, 2), 1, "America/Chicago", "Jon Garza")
    sandbox = ClockifySandbox(items=tokyo + oslo + chicago)
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url))
        listed = source.listed_ids(dt.date(2026, 10, 2), dt.date(2026, 10, 2))
        everything = source.listed_ids(dt.date(2026, 9, 1), dt.date(2026, 10, 31))
    local = {
        i: e["start"].astimezone(ZoneInfo(sandbox.users[e["userId"]]["settings"]["timeZone"]))
        for i, e in sandbox.entries.items()
    }
    assert listed == {i for i, start in local.items() if start.date() == dt.date(2026, 10, 2)}
    assert len(listed) == 3  # the two in Tokyo, the one in Chicago
    assert everything == sandbox.ids()


def test_fields_give_what_the_canonical_parser_accepts() -> None:
    approved = WorkItem(
        person="Mei Tanaka",
        email="mei.tanaka@example.com",
        client="Kobe Maru Line",
        project="Kobe Maru LNG conversion",
        task="Stability",
        start=dt.datetime(2026, 10, 6, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo")),
        seconds=9900,
        notes="class comments",
    )
    pending = dataclasses.replace(approved, approved=False, billable=False, task="")
    sandbox = ClockifySandbox(items=[approved, pending])
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings=HISTORY))
        records = sorted(pulled(source), key=lambda r: r.external_id)
        fields = [source.fields(r) for r in records]
    first = parse_record(fields[0], Defaults())
    assert isinstance(first, Canonical), first
    assert first.external_id == records[0].external_id
    assert first.ref.person == "mei.tanaka@example.com"
    assert first.ref.project == "Kobe Maru LNG conversion"
    assert first.ref.task == "Stability" and first.ref.client == "Kobe Maru Line"
    assert first.duration_seconds == 9900
    assert first.timezone == "Asia/Tokyo"  # the user's own zone, from the user directory
    assert first.work_date == dt.date(2026, 10, 6)
    assert first.approval is Approval.APPROVED and first.billable
    assert first.notes == "class comments"
    assert str(first.source_rate) == "145.00"  # hourlyRate.amount 14500 is in cents
    assert first.source_revision == "t:" + records[0].updated_at.astimezone(dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )  # auditMetadata.updatedAt
    second = parse_record(fields[1], Defaults())
    assert isinstance(second, Canonical), second
    assert second.approval is Approval.SUBMITTED and not second.billable
    assert second.ref.task == ""


def test_only_an_approved_request_makes_an_entry_approved() -> None:
    unsubmitted = dataclasses.replace(items_on(dt.date(2026, 10, 5), 1)[0], approved=False)
    approved = items_on(dt.date(2026, 10, 12), 1)  # the next week: another request
    sandbox = ClockifySandbox(items=[unsubmitted, *approved])
    with serve(sandbox) as url:
        first, second = sorted(sandbox.ids())
        assert sandbox.entries[second]["approvalRequestId"]  # seeded approved
        assert not sandbox.entries[first]["approvalRequestId"]
        sandbox.set_approval(first, "PENDING")  # submitted: it now carries a request id
        source = open_source(make_context(sandbox, url, settings=HISTORY))
        by_id = {r.external_id: source.fields(r) for r in pulled(source)}
        assert sandbox.entries[first]["approvalRequestId"]
        assert by_id[first]["approval"] == "submitted"
        assert by_id[second]["approval"] == "approved"
        fetched = source.fetch(second)
        assert fetched is not None and source.fields(fetched)["approval"] == "approved"
        sandbox.set_approval(second, "REJECTED")
        later = open_source(make_context(sandbox, url, settings=HISTORY))
        states = {r.external_id: later.fields(r)["approval"] for r in pulled(later)}
        assert states == {first: "submitted", second: "submitted"}
        sandbox.set_approval(first, "APPROVED")
        again = open_source(make_context(sandbox, url, settings=HISTORY))
        states = {r.external_id: again.fields(r)["approval"] for r in pulled(again)}
        assert states == {first: "approved", second: "submitted"}


def test_approved_requests_are_read_only_back_to_the_entries_week(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clockify, "APPROVALS_PAGE_SIZE", 2)
    weeks = [dt.date(2026, 10, 5) + dt.timedelta(weeks=n) for n in range(8)]
    sandbox = ClockifySandbox(items=[i for day in weeks for i in items_on(day, 1)])
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, settings=HISTORY))
        newest = max(sandbox.ids())
        record = source.fetch(newest)
        assert record is not None and source.fields(record)["approval"] == "approved"
        assert 0 < len(source._approved) < 8  # not every page for a recent entry
        records = pulled(source)
        assert {source.fields(r)["approval"] for r in records} == {"approved"}
    assert len(source._approved) == 8


def test_without_the_users_zone_the_connections_zone_is_used() -> None:
    sandbox = ClockifySandbox(items=items_on(dt.date(2026, 10, 5), 1))
    for user in sandbox.users.values():
        user["settings"] = None  # live: a member who never finished onboarding
    with serve(sandbox) as url:
        with_zone = open_source(make_context(sandbox, url, timezone="Europe/London"))
        [record] = pulled(with_zone)
        assert with_zone.fields(record)["timezone"] == "Europe/London"
        without = open_source(make_context(sandbox, url))
        assert "timezone" not in without.fields(record)
    refused = parse_record(without.fields(record), Defaults())
    assert isinstance(refused, list) and refused[0].field == "timezone"


def test_the_user_directory_is_read_page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clockify, "USERS_PAGE_SIZE", 2)
    sandbox = ClockifySandbox(size=40)  # six people and the admin
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url))
        persons = {source.fields(r)["person"] for r in pulled(source)}
        fetched = source.fetch(sorted(sandbox.ids())[0])
        assert fetched is not None and "@example.com" in source.fields(fetched)["person"]
    assert set(source._users()) == set(sandbox.users)
    assert len(persons) == 6


def test_the_reports_host_follows_the_base_url_when_not_set() -> None:
    sandbox = ClockifySandbox(size=30)
    with serve(sandbox) as url:
        given = make_context(sandbox, url)
        settings = {"workspace_id": sandbox.workspace_id}
        context = dataclasses.replace(
            given, connection=given.connection.model_copy(update={"settings": settings})
        )
        assert reports_url(context) == url + "/report"  # a regional host's layout
        listed = open_source(context).listed_ids(dt.date(2026, 9, 1), dt.date(2026, 12, 31))
        assert listed == sandbox.ids()
        assert sandbox.report_requests  # served under /report/v1
    default = dataclasses.replace(
        context, connection=context.connection.model_copy(update={"base_url": None})
    )
    assert reports_url(default) == "https://reports.api.clockify.me"
    assert reports_url(given) == url


# -- failures --------------------------------------------------------------------------


def test_over_the_rate_limit_it_waits_for_the_next_second_and_succeeds() -> None:
    sandbox = ClockifySandbox(size=100, rate_limit=RateLimit(3, 1.0))
    waits = Waits(real=True)
    with serve(sandbox) as url:
        headers = {"X-Api-Key": sandbox.api_key}
        users = f"{url}/api/v1/workspaces/{sandbox.workspace_id}/users"
        answers = [httpx.get(users, headers=headers) for _ in range(4)]
        assert answers[-1].status_code == 429
        assert answers[-1].json() == {"message": "Too many requests", "code": 429}
        assert "retry-after" not in answers[-1].headers  # Clockify documents none
        context = make_context(sandbox, url, settings=HISTORY, sleep=waits)
        records = pulled(open_source(context))  # throttled at once: waits, then reads
    assert {r.external_id for r in records} == sandbox.ids()
    assert waits and set(waits) == {1.0}


def test_retry_after_is_honoured_when_given() -> None:
    assert wait_of(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    assert wait_of(httpx.Response(429)) == 1.0
    assert wait_of(httpx.Response(503)) is None  # the core's back-off


def test_a_5xx_storm_retries_then_fails_naming_platform_and_call() -> None:
    sandbox = ClockifySandbox(size=10)
    waits = Waits()
    with serve(sandbox) as url:
        sandbox.faults.fail_next = 100
        with pytest.raises(VendorError) as raised:
            pulled(open_source(make_context(sandbox, url, sleep=waits)))
        sandbox.faults.fail_next = 0
    message = str(raised.value)
    assert message.startswith(
        f"clockify: GET /api/v1/workspaces/{sandbox.workspace_id}/entities/created: 503"
    )
    assert "Internal server error" in message and "gave up after 6 tries" in message
    assert len(waits) == 5


def test_a_few_5xx_are_retried_through() -> None:
    sandbox = ClockifySandbox(size=10)
    waits = Waits()
    with serve(sandbox) as url:
        sandbox.faults.fail_next = 2
        records = pulled(open_source(make_context(sandbox, url, sleep=waits)))
    assert len(records) == 10 and len(waits) == 2


def test_a_slow_vendor_times_out() -> None:
    sandbox = ClockifySandbox(size=3)
    waits = Waits()
    with serve(sandbox) as url:
        sandbox.faults.slow_seconds = 0.5
        source = open_source(make_context(sandbox, url, sleep=waits), timeout=0.05)
        with pytest.raises(VendorError, match="timed out"):
            source.fetch(next(iter(sandbox.ids())))
        with pytest.raises(VendorError, match="entities/created: timed out"):
            pulled(source)
        with pytest.raises(VendorError, match="reports/detailed: timed out"):
            source.listed_ids(dt.date(2026, 10, 1), dt.date(2026, 10, 1))
        sandbox.faults.slow_seconds = 0.0
    assert len(waits) == 15


def test_a_wrong_api_key_fails_loudly_without_the_secret() -> None:
    sandbox = ClockifySandbox(size=5)
    wrong = "not-the-key-" + "x" * 30
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, credentials={"api_key": wrong}))
        with pytest.raises(AuthFailed) as raised:
            pulled(source)
        with pytest.raises(AuthFailed, match="Api key does not exist"):
            source.fetch(next(iter(sandbox.ids())))
        bare = httpx.get(f"{url}/api/v1/user")
    message = str(raised.value)
    assert raised.value.status == 401 and "Api key does not exist (code 4003)" in message
    assert wrong not in message and sandbox.api_key not in message
    assert bare.status_code == 401 and bare.json()["code"] == 1000


# -- webhooks --------------------------------------------------------------------------


@contextmanager
def receiver() -> Iterator[tuple[str, list[WebhookRequest]]]:
    got: list[WebhookRequest] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            got.append(WebhookRequest(f"http://{self.headers['host']}{self.path}", headers, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/ck", got
    finally:
        server.shutdown()
        server.server_close()


def test_a_signed_delivery_verifies_and_parses() -> None:
    item = items_on(dt.date(2026, 10, 5), 1)[0]
    sandbox = ClockifySandbox()
    with serve(sandbox) as url, receiver() as (hook, got):
        secret = sandbox.subscribe(hook)
        source = open_source(make_context(sandbox, url))
        assert source.handshake(WebhookRequest(hook, {}, b""), secret) is None
        entry_id = sandbox.add(item)
        sandbox.edit(entry_id, seconds=7200)
        sandbox.remove(entry_id)
        assert [d.status for d in sandbox.deliveries] == [200, 200, 200]
        kinds = [r.headers["clockify-webhook-event-type"] for r in got]
        assert kinds == ["NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED"]
        assert all(source.verify(r, secret) for r in got)
        created, updated, deleted = (source.events(r) for r in got)
        assert [(e.external_id, e.kind) for e in created] == [(entry_id, "upsert")]
        record = updated[0].record
        assert record is not None and record.payload["timeInterval"]["duration"] == "PT2H"
        parsed = parse_record(source.fields(record), Defaults())
        assert isinstance(parsed, Canonical) and parsed.duration_seconds == 7200
        assert parsed.ref.person == "kari.hansen@example.com"  # the directory's e-mail
        assert [(e.external_id, e.kind) for e in deleted] == [(entry_id, "delete")]
        assert deleted[0].record is not None and deleted[0].record.deleted


def test_a_forged_delivery_fails_verification() -> None:
    sandbox = ClockifySandbox()
    with serve(sandbox) as url, receiver() as (hook, got):
        secret = sandbox.subscribe(hook)
        other = ClockifySandbox().subscribe(hook)  # another workspace's tokens
        source = open_source(make_context(sandbox, url))
        sandbox.add(items_on(dt.date(2026, 10, 5), 1)[0])
        [real] = got
    token = real.headers["clockify-signature"]
    assert source.verify(real, secret)
    assert secret is not None and other is not None
    assert not source.verify(real, other)
    forged = dataclasses.replace(real, headers={**real.headers, "clockify-signature": token[:-2]})
    assert not source.verify(forged, secret)
    unsigned = dataclasses.replace(
        real, headers={k: v for k, v in real.headers.items() if k != "clockify-signature"}
    )
    assert not source.verify(unsigned, secret)
    assert not source.verify(real, None)


def test_deliveries_that_are_not_what_clockify_sends() -> None:
    sandbox = ClockifySandbox(size=1)
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url))
        body = json.dumps(sandbox._webhook_body(next(iter(sandbox.entries.values())))).encode()
        typed = {"clockify-webhook-event-type": "NEW_TIME_ENTRY"}
        for bad in (b"not json", b"[]", b'{"id": ""}', b'{"id": "abc"}'):
            with pytest.raises(WebhookMalformed):
                source.events(WebhookRequest("", typed, bad))
        with pytest.raises(WebhookMalformed, match="Event-Type"):
            source.events(WebhookRequest("", {}, body))
        gone = {"clockify-webhook-event-type": "TIME_ENTRY_DELETED"}
        [deleted] = source.events(WebhookRequest("", gone, b'{"id": "abc"}'))
        assert (deleted.external_id, deleted.kind) == ("abc", "delete")
        with pytest.raises(WebhookMalformed):
            source.events(WebhookRequest("", gone, b'{"name": "abc"}'))
        other = {"clockify-webhook-event-type": "NEW_PROJECT"}
        assert source.events(WebhookRequest("", other, b'{"id": "p1", "name": "X"}')) == []
        bare = json.loads(body)
        del bare["project"]  # only ids: the pipeline fetches the entry
        [event] = source.events(WebhookRequest("", typed, json.dumps(bare).encode()))
        assert event.kind == "upsert" and event.record is None
        running = json.loads(body)
        running["timeInterval"]["end"] = None
        assert source.events(WebhookRequest("", typed, json.dumps(running).encode())) == []


# -- the vendor's description ----------------------------------------------------------


def test_the_sandbox_answers_as_the_spec_describes() -> None:
    sandbox = ClockifySandbox(size=60)
    recorder = Recorder()
    with serve(sandbox) as url:
        source = open_source(make_context(sandbox, url, transport=recorder))
        records = pulled(source)
        assert source.listed_ids(dt.date(2026, 9, 1), dt.date(2026, 12, 31)) == sandbox.ids()
        source.fetch(records[0].external_id)
        assert {source.fields(r)["approval"] for r in records} == {"approved", "submitted"}
        client = httpx.Client(base_url=url, headers={"X-Api-Key": sandbox.api_key})
        ws = f"/api/v1/workspaces/{sandbox.workspace_id}"
        user = records[0].payload["userId"]
        extra = [
            client.get(f"{ws}/user/{user}/time-entries", params={"page": 1, "page-size": 5}),
            client.get(
                f"{ws}/user/{user}/time-entries",
                params={"start": "2026-10-01T00:00:00Z", "hydrated": "true"},
            ),
            client.get("/api/v1/user"),
            client.post(
                f"{ws}/webhooks",
                json={
                    "name": "billsync",
                    "url": "https://billsync.example/webhooks/ck",
                    "webhookEvent": "NEW_TIME_ENTRY",
                    "triggerSourceType": "WORKSPACE_ID",
                    "triggerSource": [sandbox.workspace_id],
                },
            ),
            client.get(f"{ws}/webhooks"),
            client.get(
                f"{ws}/approval-requests",
                params={"status": "APPROVED", "sort-column": "START", "page-size": 3},
            ),
        ]
    paths = {r.request.url.path for r in recorder.responses}
    assert f"/v1/workspaces/{sandbox.workspace_id}/reports/detailed" in paths
    assert f"{ws}/users" in paths and f"{ws}/time-entries/{records[0].external_id}" in paths
    for response in recorder.responses + extra:
        assert response.status_code in (200, 201), response.text
        check(SPEC, response)
    assert extra[0].headers["last-page"] == "false" and len(extra[0].json()) == 5
    approvals = extra[-1].json()
    assert len(approvals) == 3 and all(a["entries"] for a in approvals)
    assert f"{ws}/approval-requests" in paths  # read by fields() for an approved entry
