"""Toggl Track connector against its sandbox, over real HTTP on loopback."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest

from billsync.connectors.base import (
    Context,
    Credentials,
    VendorRecord,
    WebhookMalformed,
    WebhookRequest,
)
from billsync.connectors.http import AuthFailed, VendorError
from billsync.connectors.platforms.toggl import PLATFORM, TogglSource, client
from billsync.connectors.registry import platform
from billsync.domain.canonical import Canonical, Defaults, parse_record
from billsync.domain.connections import Connection
from billsync.domain.entries import Approval
from billsync.errors import UserError
from billsync.sandbox.base import RateLimit, serve
from billsync.sandbox.platforms.toggl import TogglSandbox
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import WorkItem, generate
from support import doubles
from support.doubles import assert_zone_reported
from support.specs import check

OSLO = ZoneInfo("Europe/Oslo")
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)  # the connector's clock
OLD = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)  # when seeded entries were last changed
SWAGGER = Path(__file__).resolve().parents[1] / "vendor_specs" / "toggl" / "toggl-swagger.json"
SEARCH = "/reports/api/v3/workspace/{}/search/time_entries"


class Recorder(doubles.Recorder):
    def searches(self) -> list[httpx.Response]:
        return [r for r in self.responses if r.request.url.path.endswith("/search/time_entries")]


class Harness:
    def __init__(self, sandbox: TogglSandbox, url: str, **overrides: Any) -> None:
        setup = sandbox.setup(url)
        settings = {**setup.settings, **overrides.pop("settings", {})}
        credentials = {**setup.credentials, **overrides.pop("credentials", {})}
        self.sandbox, self.url, self.setup = sandbox, url, setup
        self.sleeps: list[float] = []
        self.transport = Recorder()
        self.context = Context(
            connection=Connection(
                code="toggl-main",
                platform="toggl",
                base_url=url,
                credentials={"api_token": "env:TOGGL_API_TOKEN"},
                settings=settings,
                timezone=overrides.pop("timezone", "Europe/Oslo"),
            ),
            credentials=Credentials("toggl-main", credentials),
            transport=self.transport,
            sleep=self.sleeps.append,
            now=lambda: NOW,
        )
        self.http = client(self.context)
        self.source = TogglSource(self.context, self.http)

    def pulled(self, since: dt.datetime | None = None) -> list[VendorRecord]:
        return [record for page in self.source.pull(since) for record in page.records]


@pytest.fixture
def seeded() -> Iterator[Harness]:
    sandbox = TogglSandbox(seed=11, items=_items(120))
    with serve(sandbox) as url:
        yield Harness(sandbox, url)


def _items(size: int) -> list[WorkItem]:
    return generate(size, seed=3)


def _old_sandbox(items: list[WorkItem], **kwargs: Any) -> TogglSandbox:
    sandbox = TogglSandbox(seed=5, items=[], **kwargs)
    for item in items:
        sandbox.add(item, at=OLD, notify=False)
    return sandbox


# -- reading --------------------------------------------------------------------------


def test_the_platform_and_its_sandbox_are_registered() -> None:
    assert platform("toggl") is PLATFORM
    assert PLATFORM.source is TogglSource and PLATFORM.webhooks
    assert PLATFORM.credentials == ("api_token",) and PLATFORM.settings == ("workspace_id",)
    assert all_sandboxes()["toggl"] is TogglSandbox


def test_a_full_pull_reads_every_entry_once(seeded: Harness) -> None:
    records = seeded.pulled()
    ids = [r.external_id for r in records]
    assert len(ids) == len(set(ids)) == 120
    assert set(ids) == seeded.sandbox.ids()
    assert all(r.updated_at is not None and r.updated_at.tzinfo for r in records)
    assert all(not r.deleted for r in records)
    parsed = [parse_record(seeded.source.fields(r), Defaults()) for r in records]
    assert all(isinstance(p, Canonical) for p in parsed), parsed
    worked = sum(p.duration_seconds for p in parsed if isinstance(p, Canonical))
    assert worked == sum(item.seconds for item in _items(120))
    # Basic auth is the API token with the literal password "api_token".
    sent = seeded.transport.responses[0].request.headers["authorization"]
    token = seeded.setup.credentials["api_token"]
    assert base64.b64decode(sent.split()[1]).decode() == f"{token}:api_token"


@pytest.mark.parametrize(
    ("size", "pages"),
    [(0, 0), (TogglSandbox.page_size, 1), (TogglSandbox.page_size + 1, 2)],
)
def test_paging_boundaries(size: int, pages: int) -> None:
    sandbox = TogglSandbox(seed=2, items=_items(size))
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)
        loaded = list(harness.source.pull(None))
        assert [len(p.records) for p in loaded] == (
            [TogglSandbox.page_size, 1][:pages] if size else []
        )
        assert {r.external_id for p in loaded for r in p.records} == sandbox.ids()
        searches = harness.transport.searches()
        with_data = [r for r in searches if r.json()]
        assert len(with_data) == pages
        followed = [json.loads(r.request.content) for r in searches]
        if pages == 2:
            second = next(b for b in followed if "first_row_number" in b)
            assert second["first_row_number"] == TogglSandbox.page_size + 1
            next_page = with_data[1].json()
            assert second["first_id"] == next_page[0]["time_entries"][0]["id"]
        # the last page of every window carries no X-Next-Row-Number
        assert all("x-next-row-number" not in r.headers for r in searches if not r.json())


def test_reads_walk_one_year_windows() -> None:
    sandbox = TogglSandbox(seed=2, items=[])
    with serve(sandbox) as url:
        harness = Harness(sandbox, url, settings={"history_start": "2024-03-01"})
        assert harness.pulled() == []
        bodies = [json.loads(r.request.content) for r in harness.transport.searches()]
    day = dt.date.fromisoformat
    spans = [(day(b["start_date"]), day(b["end_date"])) for b in bodies]
    assert spans[0][0] == dt.date(2024, 3, 1)
    ahead = NOW.astimezone(OSLO).date() + dt.timedelta(days=365)
    assert spans[-2][1] < ahead <= spans[-1][1]  # a year ahead, and no further when empty
    for (_, last), (following, _) in zip(spans, spans[1:], strict=False):
        assert following == last + dt.timedelta(days=1)
    assert all((last - first).days == 364 for first, last in spans)  # a year at most


def test_reads_go_on_past_a_year_ahead_while_there_are_entries() -> None:
    items = _items(6000)  # from October 2026 into 2028: well past a year ahead of NOW
    assert items[-1].start.date() > NOW.date() + dt.timedelta(days=500)
    sandbox = _old_sandbox(items, rate_limit=None)
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)
        full = [r.external_id for r in harness.pulled()]
        assert len(full) == 6000 and set(full) == sandbox.ids()
        last = sorted(sandbox.ids())[-1]
        sandbox.edit(last, seconds=1800, at=NOW, notify=False)
        assert [r.external_id for r in harness.pulled(NOW)] == [last]


def test_incremental_pull_finds_late_writes_inside_the_overlap() -> None:
    items = _items(130)
    sandbox = _old_sandbox(items)
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)
        ids = sorted(sandbox.ids())
        watermark = dt.datetime(2026, 11, 19, 12, 0, tzinfo=dt.UTC)
        late = watermark - dt.timedelta(minutes=3)  # committed late, stamped before
        sandbox.edit(ids[0], seconds=4500, at=late, notify=False)
        for n, entry_id in enumerate(ids[1:61]):  # more than a page of changes after it
            stamp = watermark + dt.timedelta(seconds=n)
            sandbox.edit(entry_id, seconds=3600, at=stamp, notify=False)
        since = watermark - dt.timedelta(minutes=10)  # the caller subtracts the overlap
        changed = harness.pulled(since)
        assert {r.external_id for r in changed} == set(ids[:61])
        assert all(r.updated_at is not None and r.updated_at >= since for r in changed)
        without_overlap = harness.pulled(watermark)
        assert ids[0] not in {r.external_id for r in without_overlap}
        assert len(without_overlap) == 60
        # newest first by last_update, stopping at the first older entry: no full re-read
        bodies = [json.loads(r.request.content) for r in harness.transport.searches()]
        assert {b["order_by"] for b in bodies} == {"date", "last_update"} - {"date"}
        assert sum(len(r.json()) for r in harness.transport.searches()) < 3 * 61 + 3 * 50


def test_fetch_by_id_and_gone(seeded: Harness) -> None:
    some = sorted(seeded.sandbox.ids())[7]
    fetched = seeded.source.fetch(some)
    assert fetched is not None and fetched.external_id == some
    pulled = {r.external_id: r for r in seeded.pulled()}

    def same(payload: Any) -> dict[str, Any]:
        return {k: v for k, v in payload.items() if k != "row_number"}  # its place in a report

    assert same(fetched.payload) == same(pulled[some].payload)
    body = json.loads(seeded.transport.searches()[0].request.content)
    assert body["time_entry_ids"] == [int(some)]
    assert seeded.source.fetch("999") is None
    assert seeded.source.fetch("not-a-number") is None
    seeded.sandbox.remove(some, notify=False)
    assert seeded.source.fetch(some) is None


def test_fetch_reaches_entries_older_than_the_read_windows() -> None:
    sandbox = _old_sandbox(_items(30))
    with serve(sandbox) as url:
        harness = Harness(sandbox, url, settings={"history_start": "2026-11-01"})
        assert harness.pulled() == []  # every seeded entry is in October 2026
        old = sorted(sandbox.ids())[4]
        record = harness.source.fetch(old)
        assert record is not None and record.external_id == old
        v9 = [r for r in harness.transport.responses if "/api/v9/" in r.request.url.path]
        assert [r.request.url.path for r in v9] == [f"/api/v9/me/time_entries/{old}"]
        sandbox.remove(old, notify=False)
        assert harness.source.fetch(old) is None
        assert harness.source.fetch("12345") is None


def test_listed_ids_are_the_entries_of_the_local_days() -> None:
    items = _items(150)
    sandbox = _old_sandbox(items)
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)
        start, end = dt.date(2026, 10, 6), dt.date(2026, 10, 9)
        by_id = {r.external_id: r for r in harness.pulled()}

        def local_day(record: VendorRecord) -> dt.date:
            begun = dt.datetime.fromisoformat(record.payload["time_entries"][0]["start"])
            return begun.astimezone(OSLO).date()

        expected = {i for i, r in by_id.items() if start <= local_day(r) <= end}
        assert expected and len(expected) < len(by_id)
        assert harness.source.listed_ids(start, end) == expected
        gone = sorted(expected)[0]
        sandbox.remove(gone, notify=False)
        assert harness.source.listed_ids(start, end) == expected - {gone}


def test_fields_are_what_the_canonical_parser_accepts(seeded: Harness) -> None:
    item = WorkItem(
        person="Kari Hansen",
        email="kari.hansen@example.com",
        client="Nordic Shipyards AS",
        project="MV Nordic Star - Hull survey",
        task="Hull survey",
        start=dt.datetime(2026, 10, 26, 23, 30, tzinfo=OSLO),  # the local day, not UTC's
        seconds=9000,
        notes="Thickness gauging, hold 3",
        approved=True,
    )
    stamp = dt.datetime(2026, 11, 2, 9, 15, 7, tzinfo=dt.UTC)
    entry_id = seeded.sandbox.add(item, at=stamp, notify=False)
    record = seeded.source.fetch(entry_id)
    assert record is not None
    fields = seeded.source.fields(record)
    parsed = parse_record(fields, Defaults())
    assert isinstance(parsed, Canonical), parsed
    assert parsed.external_id == entry_id
    assert parsed.ref.person == "kari.hansen@example.com"
    assert (parsed.ref.project, parsed.ref.task, parsed.ref.client) == (
        "MV Nordic Star - Hull survey",
        "Hull survey",
        "Nordic Shipyards AS",
    )
    assert parsed.duration_seconds == 9000
    assert parsed.work_date == dt.date(2026, 10, 26)
    assert parsed.timezone == "Europe/Oslo"
    assert parsed.approval is Approval.APPROVED
    assert parsed.billable is True
    assert parsed.notes == "Thickness gauging, hold 3"
    assert parsed.source_rate is not None and parsed.source_rate > 0
    assert isinstance(parsed.source_rate, Decimal)
    assert parsed.source_revision == "t:2026-11-02T09:15:07.000000"
    assert parsed.deleted is False

    unapproved = seeded.sandbox.add(
        WorkItem(**{**item.__dict__, "approved": False, "billable": False}), notify=False
    )
    other = seeded.source.fetch(unapproved)
    assert other is not None
    parsed_other = parse_record(seeded.source.fields(other), Defaults())
    assert isinstance(parsed_other, Canonical)
    assert parsed_other.approval is Approval.SUBMITTED
    assert parsed_other.billable is False and parsed_other.source_rate is None


def test_without_an_email_the_person_is_the_users_name(seeded: Harness) -> None:
    record = seeded.pulled()[0]
    row = {**record.payload, "email": ""}
    fields = seeded.source.fields(VendorRecord(record.external_id, row, record.updated_at))
    assert fields["person"] == row["username"] != ""


def test_without_a_zone_the_parser_reports_it() -> None:
    sandbox = TogglSandbox(seed=4, items=_items(3))
    with serve(sandbox) as url:
        harness = Harness(sandbox, url, timezone=None)
        record = harness.pulled()[0]
        assert_zone_reported(harness.source.fields(record))


# -- failures -------------------------------------------------------------------------


def test_429_waits_for_the_quota_reset_then_succeeds() -> None:
    sandbox = TogglSandbox(seed=4, items=_items(60), rate_limit=RateLimit(limit=1, window=30))
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)

        def quota_resets(seconds: float) -> None:
            harness.sleeps.append(seconds)
            sandbox.rate_limit = None  # the window has passed

        harness.http.sleep = quota_resets
        ids = {r.external_id for r in harness.pulled()}
        assert ids == sandbox.ids()
        throttled = [r for r in harness.transport.responses if r.status_code == 429]
        assert len(throttled) == 1
        first = harness.transport.responses[0]
        assert first.status_code == 200
        assert first.headers["x-toggl-quota-remaining"] == "0"  # 1 an hour: used
        assert 25 <= int(first.headers["x-toggl-quota-resets-in"]) <= 30
        assert throttled[0].headers["x-toggl-quota-remaining"] == "0"
        assert harness.sleeps == [float(throttled[0].headers["x-toggl-quota-resets-in"])]
        assert 25 <= harness.sleeps[0] <= 30


def test_a_short_5xx_burst_is_retried(seeded: Harness) -> None:
    seeded.sandbox.faults.fail_next = 2
    assert {r.external_id for r in seeded.pulled()} == seeded.sandbox.ids()
    assert len(seeded.sleeps) == 2


def test_a_5xx_storm_gives_up_naming_the_platform_and_call(seeded: Harness) -> None:
    seeded.sandbox.faults.fail_next = 1000
    with pytest.raises(VendorError) as caught:
        seeded.pulled()
    message = str(caught.value)
    workspace = seeded.setup.settings["workspace_id"]
    assert message.startswith(f"toggl: POST {SEARCH.format(workspace)}: 503 ")
    assert "Internal Server Error" in message and "gave up after 6 tries" in message
    assert len(seeded.sleeps) == 5
    # the 503s carry the hour's quota headers too: they are no retry hint
    assert all(wait <= 30 for wait in seeded.sleeps)
    seeded.sandbox.faults.fail_next = 0


def test_timeouts_are_retried_then_reported(seeded: Harness) -> None:
    seeded.http.client.timeout = httpx.Timeout(0.05)
    seeded.sandbox.faults.slow_seconds = 0.3
    try:
        with pytest.raises(VendorError) as caught:
            seeded.source.fetch("1")
    finally:
        seeded.sandbox.faults.slow_seconds = 0.0
    assert "timed out (gave up after 6 tries)" in str(caught.value)
    assert caught.value.status is None
    assert len(seeded.sleeps) == 5


def test_a_wrong_token_fails_loudly_without_the_secret(seeded: Harness) -> None:
    wrong = "0123456789abcdef0123456789abcdef"
    harness = Harness(seeded.sandbox, seeded.url, credentials={"api_token": wrong})
    with pytest.raises(AuthFailed) as caught:
        harness.pulled()
    message = str(caught.value)
    assert caught.value.status == 401
    assert "Incorrect username and/or password" in message
    assert wrong not in message and seeded.setup.credentials["api_token"] not in message
    encoded = base64.b64encode(f"{wrong}:api_token".encode()).decode()
    assert encoded not in message
    assert harness.sleeps == []


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"workspace_id": "my workspace"}, "setting 'workspace_id' must be the workspace's number"),
        ({"history_start": "2025-13-01"}, "setting 'history_start' must be a date (YYYY-MM-DD)"),
    ],
)
def test_bad_settings_are_named(seeded: Harness, settings: dict[str, str], said: str) -> None:
    harness = Harness(seeded.sandbox, seeded.url, settings=settings)
    with pytest.raises(UserError, match=re.escape(said)):
        harness.pulled()
    assert harness.transport.responses == []


def test_another_workspace_is_refused(seeded: Harness) -> None:
    harness = Harness(seeded.sandbox, seeded.url, settings={"workspace_id": "1"})
    with pytest.raises(AuthFailed) as caught:
        harness.source.fetch("5")
    assert caught.value.status == 403
    assert "Workspace not found/accessible" in str(caught.value)


# -- webhooks -------------------------------------------------------------------------


class Receiver:
    """billsync's webhook endpoint in miniature: answers the handshake, keeps the rest."""

    def __init__(self, source: TogglSource, echo: bool = True) -> None:
        self.source = source
        self.echo = echo
        self.secret: str | None = None
        self.received: list[WebhookRequest] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                request = WebhookRequest(
                    url=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = receiver.source.handshake(request, receiver.secret)
                if not receiver.echo:
                    reply = None  # an endpoint that answers 200 without the code
                status = reply.status if reply else 200
                content = reply.body if reply else b""
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                with receiver.arrived:
                    receiver.received.append(request)
                    receiver.arrived.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/toggl-main"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, count: int) -> list[WebhookRequest]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout=5)
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(seeded: Harness) -> Iterator[Receiver]:
    receiver = Receiver(seeded.source)
    yield receiver
    receiver.close()


def _subscribe(seeded: Harness, receiver: Receiver) -> str:
    secret = seeded.sandbox.subscribe(receiver.url)
    assert secret
    receiver.secret = secret
    return secret


def test_the_validation_ping_is_echoed_and_validates_the_subscription(
    seeded: Harness, receiver: Receiver
) -> None:
    secret = _subscribe(seeded, receiver)
    ping = receiver.wait(1)[0]
    event = json.loads(ping.body)
    assert event["payload"] == "ping" and event["validation_code"]
    assert seeded.source.verify(ping, secret)
    reply = seeded.source.handshake(ping, secret)
    assert reply is not None and reply.status == 200
    assert json.loads(reply.body) == {"validation_code": event["validation_code"]}
    (subscription,) = seeded.sandbox.subscriptions.values()
    assert subscription["validated_at"] is not None
    assert seeded.source.events(ping) == []
    # a forged ping gets no echo (verify() then refuses it)
    forged_headers = {**ping.headers, "x-webhook-signature-256": "sha256=00"}
    forged = WebhookRequest(ping.url, forged_headers, ping.body)
    assert seeded.source.handshake(forged, secret) is None


def test_signed_deliveries_verify_and_parse(seeded: Harness, receiver: Receiver) -> None:
    secret = _subscribe(seeded, receiver)
    receiver.wait(1)
    entry_id = sorted(seeded.sandbox.ids())[3]
    seeded.sandbox.edit(entry_id, seconds=5400)
    seeded.sandbox.remove(entry_id)
    # Each delivery is sent on its own, as Toggl sends them: they may arrive in any order.
    sent = {json.loads(d.body)["metadata"]["action"]: d for d in receiver.wait(3)[1:]}
    updated, deleted = sent["updated"], sent["deleted"]
    for delivery in (updated, deleted):
        assert seeded.source.verify(delivery, secret)
        assert seeded.source.handshake(delivery, secret) is None
    envelope = json.loads(updated.body)
    assert envelope["metadata"]["time_entry_id"] == entry_id  # Toggl's ids here are strings
    assert envelope["payload"]["duration"] == 5400
    (upsert,) = seeded.source.events(updated)
    assert (upsert.external_id, upsert.kind, upsert.record) == (entry_id, "upsert", None)
    (delete,) = seeded.source.events(deleted)
    assert (delete.external_id, delete.kind) == (entry_id, "delete")
    assert json.loads(deleted.body)["payload"]["server_deleted_at"] is not None
    assert seeded.source.fetch(entry_id) is None  # what the pipeline does with the id


def test_forged_deliveries_fail_verification(seeded: Harness, receiver: Receiver) -> None:
    secret = _subscribe(seeded, receiver)
    receiver.wait(1)
    seeded.sandbox.edit(sorted(seeded.sandbox.ids())[0], seconds=1800)
    real = receiver.wait(2)[1]
    tampered = WebhookRequest(real.url, real.headers, real.body.replace(b"1800", b"9800"))
    assert not seeded.source.verify(tampered, secret)
    assert not seeded.source.verify(real, "another-secret")
    assert not seeded.source.verify(real, None)
    unsigned = WebhookRequest(real.url, {"content-type": "application/json"}, real.body)
    assert not seeded.source.verify(unsigned, secret)
    wrong_scheme = dict(real.headers)
    wrong_scheme["x-webhook-signature-256"] = "sha1=" + real.headers["x-webhook-signature-256"][7:]
    assert not seeded.source.verify(WebhookRequest(real.url, wrong_scheme, real.body), secret)


def test_the_documented_signature_example_verifies(seeded: Harness) -> None:
    # Toggl's own example (Webhooks docs, "Validating Received Events").
    body = (
        b'{"event_id":0,"created_at":"2022-06-25T03:58:10.207820267Z","creator_id":6,'
        b'"metadata":{"request_type":"POST","event_user_id":6},"payload":"ping",'
        b'"subscription_id":6,"timestamp":"2022-06-25T03:58:10.207820267Z",'
        b'"url_callback":"https://callback-url.com"}'
    )
    signature = "sha256=bf829606cda0ca6923defb5ca70a43135adc7e8887486a201a19cb50ca6006b1"
    request = WebhookRequest("/", {"x-webhook-signature-256": signature}, body)
    assert seeded.source.verify(request, "PGuRrhCFajIyEvFlreKL")
    assert not seeded.source.verify(request, "PGuRrhCFajIyEvFlreKM")


def test_entries_made_through_the_v9_api_arrive_when_stopped(
    seeded: Harness, receiver: Receiver
) -> None:
    secret = _subscribe(seeded, receiver)
    receiver.wait(1)
    workspace = int(seeded.setup.settings["workspace_id"])
    auth = (seeded.setup.credentials["api_token"], "api_token")
    base = f"{seeded.url}/api/v9/workspaces/{workspace}/time_entries"
    running = httpx.post(
        base,
        auth=auth,
        json={
            "workspace_id": workspace,
            "created_with": "billsync tests",
            "start": "2026-11-18T08:00:00Z",
            "duration": -1,
            "description": "survey",
        },
    )
    assert running.status_code == 200, running.text
    started = running.json()
    assert started["duration"] == -1 and started["stop"] is None
    delivery = receiver.wait(2)[1]
    assert seeded.source.verify(delivery, secret)
    assert seeded.source.events(delivery) == []  # a running timer is not time yet
    assert seeded.source.fetch(str(started["id"])) is None
    stopped = httpx.put(f"{base}/{started['id']}", auth=auth, json={"stop": "2026-11-18T09:30:00Z"})
    assert stopped.status_code == 200 and stopped.json()["duration"] == 5400
    delivery = receiver.wait(3)[2]
    (event,) = seeded.source.events(delivery)
    assert (event.external_id, event.kind) == (str(started["id"]), "upsert")
    record = seeded.source.fetch(event.external_id)
    assert record is not None
    assert record.payload["username"] == "Sandbox Admin"
    assert record.payload["time_entries"][0]["seconds"] == 5400


def test_events_refuse_bodies_toggl_does_not_send(seeded: Harness) -> None:
    def request(body: bytes) -> WebhookRequest:
        return WebhookRequest("/", {}, body)

    with pytest.raises(WebhookMalformed):
        seeded.source.events(request(b"not json"))
    with pytest.raises(WebhookMalformed):
        seeded.source.events(request(b'{"event_id": 1}'))
    with pytest.raises(WebhookMalformed):
        seeded.source.events(request(b'{"payload": {"id": 1}, "metadata": "x"}'))
    bad_action = {"payload": {"id": 5}, "metadata": {"model": "time_entry", "action": "merged"}}
    with pytest.raises(WebhookMalformed):
        seeded.source.events(request(json.dumps(bad_action).encode()))
    no_id = {"payload": {"stop": None}, "metadata": {"model": "time_entry", "action": "updated"}}
    with pytest.raises(WebhookMalformed):
        seeded.source.events(request(json.dumps(no_id).encode()))
    project = {"payload": {"id": 5}, "metadata": {"model": "project", "action": "updated"}}
    assert seeded.source.events(request(json.dumps(project).encode())) == []
    # made with a duration: no stop, yet not running
    made = {
        "payload": {"id": 6, "duration": 3600, "stop": None},
        "metadata": {"model": "time_entry", "action": "created", "time_entry_id": "6"},
    }
    (event,) = seeded.source.events(request(json.dumps(made).encode()))
    assert (event.external_id, event.kind, event.record) == ("6", "upsert", None)


def test_the_webhooks_api_manages_subscriptions(seeded: Harness, receiver: Receiver) -> None:
    workspace = seeded.setup.settings["workspace_id"]
    token = seeded.setup.credentials["api_token"]
    api = f"{seeded.url}/webhooks/api/v1"
    made = httpx.post(
        f"{api}/subscriptions/{workspace}",
        auth=(token, "api_token"),
        json={
            "url_callback": receiver.url,
            "event_filters": [{"entity": "time_entry", "action": "*"}],
            "enabled": True,
            "description": "billsync toggl-main",
        },
    )
    assert made.status_code == 200, made.text
    created = made.json()
    assert {"subscription_id", "workspace_id", "user_id", "secret", "validated_at"} <= set(created)
    ping = json.loads(receiver.wait(1)[0].body)
    assert ping["subscription_id"] == created["subscription_id"]
    assert ping["validation_code_url"] == (
        f"{api}/validate/{workspace}/{created['subscription_id']}/{ping['validation_code']}"
    )
    listed = httpx.get(f"{api}/subscriptions/{workspace}", auth=(token, "api_token")).json()
    assert [s["subscription_id"] for s in listed] == [created["subscription_id"]]
    assert listed[0]["validated_at"] is not None
    again = httpx.get(ping["validation_code_url"])
    assert again.status_code == 400 and "already been validated" in again.json()
    refused = httpx.get(f"{api}/subscriptions/{workspace}", auth=("wrong", "api_token"))
    assert refused.status_code == 401
    elsewhere = httpx.get(f"{api}/subscriptions/1", auth=(token, "api_token"))
    assert elsewhere.status_code == 403
    assert elsewhere.json() == "User not found/accessible for workspace"
    # a validated subscription's pings carry no validation code
    sid = created["subscription_id"]
    assert httpx.post(f"{api}/ping/{workspace}/{sid}", auth=(token, "api_token")).is_success
    second = json.loads(receiver.wait(2)[1].body)
    assert second["payload"] == "ping" and "validation_code" not in second
    moved = httpx.put(
        f"{api}/subscriptions/{workspace}/{sid}",
        auth=(token, "api_token"),
        json={**created, "url_callback": receiver.url + "/v2", "secret": "rotated-secret"},
    )
    assert moved.status_code == 200 and moved.json()["validated_at"] is None
    assert moved.json()["secret"] == "rotated-secret"
    off = httpx.patch(
        f"{api}/subscriptions/{workspace}/{sid}", auth=(token, "api_token"), json={"enabled": False}
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    gone = httpx.delete(f"{api}/subscriptions/{workspace}/{sid}", auth=(token, "api_token"))
    assert gone.status_code == 200
    assert httpx.get(f"{api}/subscriptions/{workspace}", auth=(token, "api_token")).json() == []


# -- the vendor's description ------------------------------------------------------------


@cache
def _swagger() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SWAGGER.read_text())
    return loaded


def _nullable(schema: Any) -> Any:
    """Swagger 2.0's `x-nullable: true` as JSON Schema: the type or null. Where the
    swagger's prose says a field "can be null" without the flag (models.TimeEntry's
    `stop`, `tags`, `tag_ids`), the prose is followed, as the vendor's documentation."""
    if isinstance(schema, list):
        return [_nullable(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _nullable(v) for k, v in schema.items()}
    said = str(schema.get("description", "")).lower()
    if "type" in schema and (schema.get("x-nullable") or "null" in said):
        out["type"] = [schema["type"], "null"]
    return out


@cache
def _definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = _nullable(_swagger()["definitions"])
    return loaded


def _conforms(value: object, definition: str) -> None:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _definitions()}
    jsonschema.Draft4Validator(schema).validate(value)


def test_the_detailed_search_matches_toggls_swagger() -> None:
    """The connector's only data endpoint, checked against Toggl's own swagger. The
    OpenAPI 3.1 subset (which `tests/support/specs.check` could read) has no Reports
    API path, and openapi-core cannot read Swagger 2.0: request bodies and rows are
    checked here against the swagger's `detailed.Post` / `detailed.GroupedTimeEntry`
    definitions, and the headers against the operation's documented ones."""
    swagger = _swagger()
    operation = swagger["paths"]["/reports/api/v3/workspace/{workspace_id}/search/time_entries"]
    documented = {h.lower() for h in operation["post"]["responses"]["200"]["headers"]}
    # on every answer, from Toggl's "API & Webhook limits" article (not in the swagger)
    documented |= {"x-toggl-quota-remaining", "x-toggl-quota-resets-in"}
    sandbox = TogglSandbox(seed=9, items=_items(75))
    with serve(sandbox) as url:
        harness = Harness(sandbox, url)
        harness.pulled()
        harness.pulled(OLD)
        harness.source.fetch(sorted(sandbox.ids())[0])
        harness.source.listed_ids(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
        searches = harness.transport.searches()
    assert searches and all(r.status_code == 200 for r in searches)
    allowed = set(swagger["definitions"]["detailed.Post"]["properties"])
    row_fields = set(swagger["definitions"]["detailed.GroupedTimeEntry"]["properties"])
    entry_fields = set(swagger["definitions"]["detailed.SingleTimeEntry"]["properties"])
    for response in searches:
        body = json.loads(response.request.content)
        assert set(body) <= allowed, set(body) - allowed
        _conforms(body, "detailed.Post")
        assert response.headers["content-type"].startswith("application/json")
        paging = {h for h in response.headers if h.startswith("x-")}
        assert paging <= documented, paging - documented
        for row in response.json():
            _conforms(row, "detailed.GroupedTimeEntry")
            assert set(row) <= row_fields
            assert all(set(te) <= entry_fields for te in row["time_entries"])


def test_the_sandbox_signs_like_toggl(seeded: Harness, receiver: Receiver) -> None:
    """Independent of the connector: the HMAC-SHA256 of the raw body with the secret."""
    secret = _subscribe(seeded, receiver)
    ping = receiver.wait(1)[0]
    digest = hmac.new(secret.encode(), ping.body, hashlib.sha256).hexdigest()
    assert ping.headers["x-webhook-signature-256"] == f"sha256={digest}"
    assert b" " not in ping.body  # sent unformatted, as Toggl does


def test_v9_entries_and_webhook_payloads_match_toggls_swagger(
    seeded: Harness, receiver: Receiver
) -> None:
    """What SDKs read from the sandbox's v9 paths, and the entry inside every event
    (the connector reads its id, duration and stop), against `models.TimeEntry`."""
    _subscribe(seeded, receiver)
    receiver.wait(1)
    workspace = int(seeded.setup.settings["workspace_id"])
    auth = (seeded.setup.credentials["api_token"], "api_token")
    v9 = f"{seeded.url}/api/v9"
    made = httpx.post(
        f"{v9}/workspaces/{workspace}/time_entries",
        auth=auth,
        json={"created_with": "billsync tests", "start": "2026-11-19T07:00:00Z", "duration": 900},
    )
    assert made.status_code == 200, made.text
    assert made.json()["stop"] == "2026-11-19T07:15:00+00:00"
    listed = httpx.get(f"{v9}/me/time_entries", auth=auth, params={"meta": "true"})
    one = httpx.get(f"{v9}/me/time_entries/{made.json()['id']}", auth=auth)
    since = httpx.get(f"{v9}/me/time_entries", auth=auth, params={"since": int(OLD.timestamp())})
    assert [e["id"] for e in listed.json()] == [made.json()["id"]] == [one.json()["id"]]
    assert listed.json()[0]["user_name"] == "Sandbox Admin"
    for entry in [made.json(), one.json(), *listed.json(), *since.json()]:
        _conforms(entry, "models.TimeEntry")
    seeded.sandbox.edit(sorted(seeded.sandbox.ids())[0], seconds=600)
    for delivery in receiver.wait(3)[1:]:
        _conforms(json.loads(delivery.body)["payload"], "models.TimeEntry")
    missing = httpx.get(f"{v9}/me/time_entries/1", auth=auth)
    assert missing.status_code == 404 and missing.json() == "Resource can not be found"


def test_a_refused_token_matches_the_openapi_subset(seeded: Harness) -> None:
    """The OpenAPI 3.1 subset (go-api-libs/toggl) is read by openapi-core; it marks
    fields non-nullable that Toggl's swagger documents as nullable (project_id,
    task_id, description, tag_ids; /me's openid_email, country_id), so realistic
    200s fail it. Its 401 answer is checked here; data bodies against the swagger."""
    refused = httpx.get(f"{seeded.url}/api/v9/me", auth=("0" * 32, "api_token"))
    assert refused.status_code == 401
    check("toggl/toggl-openapi-subset.json", refused)
    me = httpx.get(
        f"{seeded.url}/api/v9/me", auth=(seeded.setup.credentials["api_token"], "api_token")
    )
    assert me.status_code == 200
    assert me.json()["default_workspace_id"] == int(seeded.setup.settings["workspace_id"])
    _conforms(me.json(), "related.UserWithRelated")


def test_without_the_echo_only_the_validation_url_validates(seeded: Harness) -> None:
    receiver = Receiver(seeded.source, echo=False)
    try:
        receiver.secret = seeded.sandbox.subscribe(receiver.url)
        ping = json.loads(receiver.wait(1)[0].body)
        (subscription,) = seeded.sandbox.subscriptions.values()
        assert subscription["validated_at"] is None
        entry_id = sorted(seeded.sandbox.ids())[0]
        seeded.sandbox.edit(entry_id, seconds=2700)
        assert len(seeded.sandbox.deliveries) == 1  # not validated: no events yet
        wrong = httpx.get(ping["validation_code_url"].rsplit("/", 1)[0] + "/0000")
        assert wrong.status_code == 400 and "was not found" in wrong.json()
        validated = httpx.get(ping["validation_code_url"])
        assert validated.status_code == 200 and validated.json() == "OK"
        seeded.sandbox.edit(entry_id, seconds=3600)
        event = receiver.wait(2)[1]
        assert seeded.source.verify(event, receiver.secret)
        assert [e.external_id for e in seeded.source.events(event)] == [entry_id]
    finally:
        receiver.close()
