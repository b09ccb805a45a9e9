"""Harvest (API v2): the connector against its sandbox, over real HTTP on loopback.

A firm tracks time in Harvest; billsync polls `GET /v2/time_entries` with
`updated_since`, follows `links.next`, and sweeps `from`/`to` windows for deletions.
Every case here runs the real connector against the sandbox on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from billsync.connectors.base import (
    Context,
    Credentials,
    Source,
    VendorRecord,
    WebhookMalformed,
    WebhookRequest,
)
from billsync.connectors.fields import BadField
from billsync.connectors.http import AuthFailed, VendorError
from billsync.connectors.platforms.harvest import ENTRIES, PLATFORM, HarvestSource, client
from billsync.connectors.registry import platform
from billsync.domain.canonical import Canonical, Defaults, parse_record, revision_stamp
from billsync.domain.connections import Connection
from billsync.domain.entries import Approval
from billsync.sandbox.base import RateLimit, serve
from billsync.sandbox.platforms.harvest import HarvestSandbox
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import WorkItem, generate
from support.doubles import assert_zone_reported
from support.specs import check

SPEC = "harvest/harvest-openapi.yaml"
OSLO = ZoneInfo("Europe/Oslo")
T0 = dt.datetime(2026, 10, 5, 7, 0, tzinfo=dt.UTC)


def work(
    day: int = 1,
    *,
    person: str = "Kari Hansen",
    seconds: int = 13500,
    approved: bool = True,
    billable: bool = True,
    notes: str = "Thickness survey, cargo hold 1",
) -> WorkItem:
    return WorkItem(
        person=person,
        email=person.lower().replace(" ", ".") + "@example.com",
        client="Nordic Shipyards AS",
        project="MV Nordic Star - Hull survey",
        task="Hull survey",
        start=dt.datetime(2026, 10, day, 8, 0, tzinfo=OSLO),
        seconds=seconds,
        notes=notes,
        billable=billable,
        approved=approved,
    )


@dataclass
class Harvest:
    """A connected source and what it waited."""

    sandbox: HarvestSandbox
    url: str
    source: HarvestSource
    waits: list[float] = field(default_factory=list)

    def records(self, since: dt.datetime | None = None) -> list[VendorRecord]:
        return [record for page in self.source.pull(since) for record in page.records]


@pytest.fixture
def harvest_at() -> Iterator[Callable[..., Harvest]]:
    """`harvest_at(sandbox, ...)` serves the sandbox and connects billsync to it."""
    stack = ExitStack()

    def connect(
        sandbox: HarvestSandbox,
        *,
        timeout: float = 30.0,
        timezone: str | None = "Europe/Oslo",
        token: str | None = None,
        account_id: str | None = None,
    ) -> Harvest:
        url = stack.enter_context(serve(sandbox))
        setup = sandbox.setup(url)
        settings = {**setup.settings, "contact": "finance@firm.example"}
        if account_id is not None:
            settings["account_id"] = account_id
        credentials = {**setup.credentials, **({"token": token} if token else {})}
        connection = Connection(
            code="harvest", platform="harvest", base_url=url, settings=settings, timezone=timezone
        )
        waits: list[float] = []
        context = Context(connection, Credentials("harvest", credentials), sleep=waits.append)
        source = HarvestSource(context, client(context, timeout=timeout))
        return Harvest(sandbox, url, source, waits)

    with stack:
        yield connect


# -- pulling -----------------------------------------------------------------------


def test_a_full_pull_returns_every_entry_the_sandbox_holds(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=250))
    records = harvest.records()
    assert len(records) == 250
    assert {r.external_id for r in records} == harvest.sandbox.ids()
    assert all(r.updated_at is not None and r.updated_at.tzinfo for r in records)
    assert not any(r.deleted for r in records)
    # Harvest's order: newest spent_date first
    days = [r.payload["spent_date"] for r in records]
    assert days == sorted(days, reverse=True)


@pytest.mark.parametrize(("size", "pages"), [(2000, [2000]), (2001, [2000, 1]), (0, [])])
def test_pages_break_at_harvests_2000_entries(harvest_at, size: int, pages: list[int]) -> None:
    harvest = harvest_at(HarvestSandbox(size=size))
    assert harvest.sandbox.page_size == 2000
    got = [len(page.records) for page in harvest.source.pull(None)]
    assert got == pages
    assert harvest.sandbox.requests == max(1, len(pages))  # one request a page, no more
    assert sum(got) == len(harvest.sandbox.ids()) == size


def test_cursor_pages_in_the_middle_carry_no_page_numbers_and_lose_nothing(harvest_at) -> None:
    sandbox = HarvestSandbox(size=23, page_size=5)
    harvest = harvest_at(sandbox)
    pages = [len(page.records) for page in harvest.source.pull(None)]
    assert pages == [5, 5, 5, 5, 3]
    assert {r.external_id for r in harvest.records()} == sandbox.ids()
    http = harvest.source.http
    first = http.request("GET", "/v2/time_entries", params={"per_page": 2000}).json()
    assert (first["page"], first["next_page"], first["total_pages"]) == (1, 2, 5)
    assert "cursor=" in first["links"]["next"] and first["links"]["next"].startswith(harvest.url)
    middle = http.request("GET", first["links"]["next"]).json()
    assert (middle["page"], middle["next_page"], middle["previous_page"]) == (None, None, None)
    # page and cursor together: the cursor wins, as Harvest documents
    both = http.request("GET", first["links"]["next"] + "&page=4").json()
    assert [e["id"] for e in both["time_entries"]] == [e["id"] for e in middle["time_entries"]]


def test_empty_pages_that_keep_a_next_link_stop_the_read(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=3))

    def empty_with_more(request: Any, body: Any, headers: Any) -> Any:
        page = int(request.query_params.get("page", "1"))
        return {
            **body,
            "time_entries": [],
            "links": {"next": f"{harvest.url}{ENTRIES}?page={page + 1}"},
        }

    harvest.sandbox.faults.tamper = empty_with_more
    with pytest.raises(VendorError) as caught:
        harvest.records()
    assert str(caught.value) == (
        "harvest: GET /v2/time_entries: 200 page 1 is empty but still says more follow;"
        " paging stopped"
    )
    assert harvest.sandbox.requests == 1


def test_a_field_of_the_wrong_type_is_a_bad_field_never_a_guess(harvest_at) -> None:
    """The fields of a record with odd types raise BadField naming the vendor's field."""
    harvest = harvest_at(HarvestSandbox(size=1))
    (record,) = harvest.records()
    for change, said in (
        ({"billable": "false"}, "billable: must be true or false, not text 'false'"),
        ({"is_closed": 0}, "is_closed: must be true or false, not the number 0"),
        ({"notes": {"text": "x"}}, "notes: must be text, not an object"),
        ({"user": "Kari"}, "user: must be an object, not text 'Kari'"),
        ({"hours": [1]}, "hours: must be a number, not a list"),
    ):
        odd = VendorRecord(record.external_id, {**record.payload, **change}, record.updated_at)
        with pytest.raises(BadField) as caught:
            harvest.source.fields(odd)
        assert str(caught.value) == said


def test_an_incremental_pull_finds_a_late_write_inside_the_overlap(harvest_at) -> None:
    sandbox = HarvestSandbox()
    old = sandbox.add(work(1), at=T0 - dt.timedelta(days=3), notify=False)
    seen = [sandbox.add(work(d), at=T0 + dt.timedelta(minutes=d), notify=False) for d in (2, 5)]
    harvest = harvest_at(sandbox)
    watermark = max(r.updated_at for r in harvest.records() if r.updated_at)
    assert watermark == T0 + dt.timedelta(minutes=5)
    # A correction saved by a slow client, stamped two minutes before our watermark.
    sandbox.edit(seen[0], seconds=9000, at=watermark - dt.timedelta(minutes=2), notify=False)
    since = watermark - dt.timedelta(minutes=10)  # the caller subtracts the overlap
    records = harvest.records(since)
    assert {r.external_id for r in records} == set(seen)
    assert all(r.updated_at is not None and r.updated_at >= since for r in records)
    edited = next(r for r in records if r.external_id == seen[0])
    assert edited.payload["hours"] == Decimal("2.5")
    assert old not in {r.external_id for r in records}


def test_updated_since_includes_an_entry_stamped_in_the_same_second(harvest_at) -> None:
    sandbox = HarvestSandbox()
    same = sandbox.add(work(1), at=T0, notify=False)
    sandbox.add(work(2), at=T0 - dt.timedelta(seconds=1), notify=False)
    harvest = harvest_at(sandbox)
    assert [r.external_id for r in harvest.records(T0 + dt.timedelta(microseconds=300))] == [same]
    assert harvest.records(T0 + dt.timedelta(seconds=1)) == []


def test_fetch_returns_one_entry_and_none_for_one_harvest_no_longer_has(harvest_at) -> None:
    sandbox = HarvestSandbox()
    kept = sandbox.add(work(1), at=T0, notify=False)
    gone = sandbox.add(work(2), at=T0, notify=False)
    sandbox.remove(gone, notify=False)
    harvest = harvest_at(sandbox)
    record = harvest.source.fetch(kept)
    assert record is not None
    assert record.external_id == kept and record.updated_at == T0
    assert record.payload["hours"] == Decimal("3.75")
    assert record.payload["user_assignment"]["hourly_rate"] == Decimal("120.0")
    assert harvest.source.fetch(gone) is None
    assert harvest.source.fetch("not-a-harvest-id") is None


def test_a_proxys_404_page_is_an_error_not_a_deleted_entry(harvest_at) -> None:
    sandbox = HarvestSandbox()
    kept = sandbox.add(work(1), at=T0, notify=False)
    harvest = harvest_at(sandbox)
    sandbox.faults.odd_answers = [(404, "<html><body>404 Not Found</body></html>")]
    with pytest.raises(VendorError, match="web page"):
        harvest.source.fetch(kept)
    record = harvest.source.fetch(kept)  # the platform itself answers again
    assert record is not None and record.external_id == kept


def test_listed_ids_are_the_entries_worked_in_the_window(harvest_at) -> None:
    sandbox = HarvestSandbox()
    ids = {day: sandbox.add(work(day), notify=False) for day in (1, 2, 5, 6, 9)}
    harvest = harvest_at(sandbox)
    window = (dt.date(2026, 10, 2), dt.date(2026, 10, 6))
    assert harvest.source.listed_ids(*window) == {ids[2], ids[5], ids[6]}
    sandbox.remove(ids[5], notify=False)  # deleted in Harvest: only the sweep can tell
    assert harvest.source.listed_ids(*window) == {ids[2], ids[6]}
    assert harvest.source.listed_ids(dt.date(2026, 11, 1), dt.date(2026, 11, 30)) == set()


def test_listed_ids_follow_every_page_of_a_large_window(harvest_at) -> None:
    sandbox = HarvestSandbox(items=generate(60), page_size=7)
    harvest = harvest_at(sandbox)
    assert harvest.source.listed_ids(dt.date(2026, 1, 1), dt.date(2027, 12, 31)) == sandbox.ids()


# -- the canonical entry ------------------------------------------------------------


def canonical(harvest: Harvest, external_id: str) -> Canonical:
    record = harvest.source.fetch(external_id)
    assert record is not None
    parsed = parse_record(harvest.source.fields(record), Defaults())
    assert isinstance(parsed, Canonical), parsed
    return parsed


def test_fields_give_the_canonical_entry(harvest_at) -> None:
    sandbox = HarvestSandbox()
    approved = sandbox.add(work(1), at=T0, notify=False)
    open_ = sandbox.add(
        work(2, person="Lars Eide", seconds=5400, approved=False, billable=False, notes=""),
        at=T0 + dt.timedelta(hours=1),
        notify=False,
    )
    harvest = harvest_at(sandbox)
    entry = canonical(harvest, approved)
    assert entry.external_id == approved
    assert (entry.ref.person, entry.ref.project) == ("Kari Hansen", "MV Nordic Star - Hull survey")
    assert (entry.ref.task, entry.ref.client) == ("Hull survey", "Nordic Shipyards AS")
    assert entry.work_date == dt.date(2026, 10, 1)
    assert entry.duration_seconds == 13500
    assert entry.timezone == "Europe/Oslo"  # Harvest gives none: the connection's
    assert entry.approval is Approval.APPROVED
    assert entry.billable is True and entry.source_rate == Decimal("120")
    assert entry.notes == "Thickness survey, cargo hold 1"
    assert entry.source_revision == revision_stamp("2026-10-05T07:00:00+00:00")
    assert entry.deleted is False

    other = canonical(harvest, open_)
    assert other.approval is Approval.SUBMITTED  # not closed by Timesheet Approval
    assert other.billable is False and other.source_rate is None
    assert other.duration_seconds == 5400 and other.notes == ""
    assert other.source_revision == revision_stamp("2026-10-05T08:00:00+00:00")


def test_without_a_connection_timezone_the_parser_asks_for_one(harvest_at) -> None:
    sandbox = HarvestSandbox()
    entry_id = sandbox.add(work(1), at=T0, notify=False)
    harvest = harvest_at(sandbox, timezone=None)
    record = harvest.source.fetch(entry_id)
    assert record is not None
    assert_zone_reported(harvest.source.fields(record))


def test_an_edit_in_harvest_is_a_newer_revision_with_hours_to_the_hundredth(harvest_at) -> None:
    sandbox = HarvestSandbox()
    entry_id = sandbox.add(work(1), at=T0, notify=False)
    harvest = harvest_at(sandbox)
    before = canonical(harvest, entry_id)
    sandbox.edit(entry_id, seconds=5000, at=T0 + dt.timedelta(hours=2), notify=False)
    after = canonical(harvest, entry_id)
    # Harvest keeps decimal hours to two places: 5000 s is 1.39 h, 5004 s.
    assert after.duration_seconds == 5004
    assert after.source_revision is not None and before.source_revision is not None
    assert after.source_revision > before.source_revision


# -- failures ------------------------------------------------------------------------


def test_throttled_by_harvest_it_waits_retry_after_and_goes_on(harvest_at) -> None:
    sandbox = HarvestSandbox(size=30, page_size=10, rate_limit=RateLimit(limit=2, window=30))
    harvest = harvest_at(sandbox)

    def wait(seconds: float) -> None:  # the throttle lifts while we wait
        harvest.waits.append(seconds)
        sandbox.rate_limit = RateLimit(limit=100, window=15)

    harvest.source.http.sleep = wait
    assert len(harvest.records()) == 30
    # Retry-After (whole seconds left of the 30 s window), honoured as sent
    assert len(harvest.waits) == 1 and harvest.waits[0] in (29.0, 30.0)
    assert sandbox.requests == 4  # three pages and the one refused


def test_harvests_429_is_its_html_page_with_retry_after(harvest_at) -> None:
    sandbox = HarvestSandbox(rate_limit=RateLimit(limit=1, window=15))
    harvest = harvest_at(sandbox)
    http = harvest.source.http
    assert http.request("GET", "/v2/time_entries").status_code == 200
    refused = http.client.get("v2/time_entries")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "15"
    assert refused.headers["content-type"].startswith("text/html")


def test_the_default_limit_is_harvests_100_requests_per_15_seconds() -> None:
    limit = HarvestSandbox().rate_limit
    assert limit is not None and (limit.limit, limit.window) == (100, 15.0)
    assert HarvestSandbox(rate_limit=False).rate_limit is None


def test_a_short_outage_is_retried(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=3))
    harvest.sandbox.faults.fail_next = 2
    assert len(harvest.records()) == 3
    assert len(harvest.waits) == 2 and all(0 < w <= 1.0 for w in harvest.waits)


def test_a_5xx_storm_ends_in_an_error_naming_harvest_and_the_call(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=3))
    harvest.sandbox.faults.fail_next = 100
    with pytest.raises(VendorError) as raised:
        harvest.records()
    message = str(raised.value)
    assert message.startswith("harvest: GET /v2/time_entries: 503")
    assert "gave up after 6 tries" in message
    assert len(harvest.waits) == 5
    assert harvest.waits == sorted(harvest.waits)  # backing off, not hammering


def test_a_hanging_harvest_times_out(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=3), timeout=0.1)
    harvest.source.http.retry.attempts = 2
    harvest.sandbox.faults.slow_seconds = 0.5
    with pytest.raises(VendorError, match=r"^harvest: GET /v2/time_entries: timed out"):
        harvest.records()
    assert len(harvest.waits) == 1
    harvest.sandbox.faults.slow_seconds = 0
    assert len(harvest.records()) == 3


def test_a_wrong_token_fails_loudly_without_showing_a_secret(harvest_at) -> None:
    sandbox = HarvestSandbox(size=3)
    harvest = harvest_at(sandbox, token="9999999.pt.not-the-real-token")
    with pytest.raises(AuthFailed) as raised:
        harvest.records()
    message = str(raised.value)
    assert message.startswith("harvest: GET /v2/time_entries: 401 invalid_token")
    assert "not-the-real-token" not in message and sandbox.token not in message
    assert harvest.waits == []  # never retried


def test_a_token_for_another_account_is_refused(harvest_at) -> None:
    sandbox = HarvestSandbox(size=3)
    harvest = harvest_at(sandbox, account_id="4242")
    with pytest.raises(AuthFailed):
        harvest.source.fetch(next(iter(sandbox.ids())))
    response = httpx.get(f"{harvest.url}/v2/time_entries", headers={"User-Agent": "x"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_token",
        "error_description": "The access token provided is expired, revoked, malformed "
        "or invalid for other reasons.",
    }


def test_the_sandbox_answers_as_harvest_does_to_bad_requests(harvest_at) -> None:
    sandbox = HarvestSandbox(size=3)
    harvest = harvest_at(sandbox)
    auth = {"access_token": sandbox.token, "account_id": sandbox.account_id}
    entries = f"{harvest.url}/v2/time_entries"
    assert httpx.get(entries, params=auth).status_code == 200  # query-string auth
    no_agent = httpx.get(entries, params=auth, headers={"User-Agent": ""})
    assert no_agent.status_code == 400
    too_big = httpx.get(entries, params={**auth, "per_page": 2001})
    assert too_big.status_code == 422 and "per_page" in too_big.json()["message"]
    with pytest.raises(VendorError, match="422 per_page must be between 1 and 2000"):
        harvest.source.http.request("GET", "/v2/time_entries", params={"per_page": 5000})


def test_every_request_names_billsync_its_contact_and_the_account(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox())
    headers = harvest.source.http.client.headers
    assert headers["user-agent"] == "billsync (finance@firm.example)"
    assert headers["harvest-account-id"] == harvest.sandbox.account_id
    assert headers["authorization"] == f"Bearer {harvest.sandbox.token}"


def test_a_link_to_another_host_stays_on_the_connections_host(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox())
    link = "https://api.harvestapp.com/v2/time_entries?cursor=abc&per_page=2000&ref=next_cursor"
    assert (
        harvest.source._follow(link) == "/v2/time_entries?cursor=abc&per_page=2000&ref=next_cursor"
    )


# -- webhooks: Harvest has none ------------------------------------------------------


def test_harvest_has_no_webhooks(harvest_at) -> None:
    harvest = harvest_at(HarvestSandbox(size=1))
    assert PLATFORM.webhooks is False
    assert harvest.sandbox.subscribe(f"{harvest.url}/webhooks/harvest") is None
    request = WebhookRequest(
        url="https://billsync.example/webhooks/harvest", headers={}, body=b"{}"
    )
    assert harvest.source.handshake(request, "secret") is None
    assert harvest.source.verify(request, "secret") is False
    with pytest.raises(WebhookMalformed):
        harvest.source.events(request)


# -- the vendor's description ----------------------------------------------------------


def test_the_sandbox_answers_match_harvests_openapi_description(harvest_at) -> None:
    sandbox = HarvestSandbox(size=12, page_size=5)
    harvest = harvest_at(sandbox)
    http = harvest.source.http
    first = http.request("GET", "/v2/time_entries", params={"per_page": 2000})
    check(SPEC, first)
    middle = http.request("GET", first.json()["links"]["next"])
    # Harvest's pagination docs: with cursor paging, `page`, `next_page` and
    # `previous_page` are null on every page but the first and last. The community spec
    # says `page` is a non-null integer; we follow the docs, so this page is not checked.
    assert middle.json()["page"] is None
    last = http.request("GET", middle.json()["links"]["next"])
    check(SPEC, last)
    assert last.json()["links"]["next"] is None and last.json()["page"] == 3
    since = http.request(
        "GET", "/v2/time_entries", params={"updated_since": "2026-10-01T00:00:00Z"}
    )
    check(SPEC, since)
    window = http.request(
        "GET", "/v2/time_entries", params={"from": "2026-10-01", "to": "2026-10-02"}
    )
    check(SPEC, window)
    one = http.request("GET", f"/v2/time_entries/{next(iter(sandbox.ids()))}")
    check(SPEC, one)
    missing = http.request("GET", "/v2/time_entries/1", ok=frozenset({404}))
    check(SPEC, missing)
    assert missing.json() == {"status": 404, "error": "Not Found"}


# -- registration --------------------------------------------------------------------


def test_harvest_is_registered_with_its_sandbox() -> None:
    assert platform("harvest") is PLATFORM
    assert PLATFORM.source is HarvestSource and issubclass(PLATFORM.source, Source)
    assert PLATFORM.sink is None
    assert (PLATFORM.credentials, PLATFORM.settings) == (("token",), ("account_id",))
    assert PLATFORM.base_url == "https://api.harvestapp.com"
    assert all_sandboxes()["harvest"] is HarvestSandbox
