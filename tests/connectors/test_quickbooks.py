"""QuickBooks Online: the connector against its sandbox, over real HTTP on loopback."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from billsync.connectors.auth import token_request
from billsync.connectors.base import (
    Context,
    Credentials,
    OutgoingInvoice,
    OutgoingLine,
    WebhookEvent,
    WebhookMalformed,
    WebhookRequest,
)
from billsync.connectors.http import AuthFailed, VendorClient, VendorError
from billsync.connectors.platforms.quickbooks import (
    ENDPOINTS,
    MINOR_VERSION,
    PLATFORM,
    QuickBooksSink,
    QuickBooksSource,
)
from billsync.domain.canonical import Canonical, Defaults, parse_record
from billsync.domain.connections import Connection
from billsync.domain.entries import Approval
from billsync.sandbox.base import RateLimit, serve
from billsync.sandbox.platforms.quickbooks import QuickBooksSandbox
from billsync.sandbox.seed import WorkItem, generate
from support.doubles import MemoryTokens, Waits, assert_zone_reported
from support.specs import check

SPEC = "quickbooks/quickbooks-online.openapi.yaml"
OSLO = ZoneInfo("Europe/Oslo")
UNREACHABLE = "http://127.0.0.1:9/webhooks/qbo"  # deliveries are kept even when refused


@dataclass
class Rig:
    sandbox: QuickBooksSandbox
    url: str
    context: Context
    http: VendorClient
    tokens: MemoryTokens
    waits: list[float]
    responses: list[httpx.Response] = field(default_factory=list)

    @property
    def source(self) -> QuickBooksSource:
        return QuickBooksSource(self.context, self.http)

    @property
    def sink(self) -> QuickBooksSink:
        return QuickBooksSink(self.context, self.http)

    def queries(self) -> list[httpx.Response]:
        return [r for r in self.responses if r.request.url.path.endswith("/query")]


@contextmanager
def connected(
    sandbox: QuickBooksSandbox,
    *,
    timezone: str | None = "Europe/Oslo",
    token: dict[str, Any] | None = None,
    secret: str | None = None,
    real_sleep: bool = False,
) -> Iterator[Rig]:
    with serve(sandbox) as url:
        setup = sandbox.setup(url)
        credentials = dict(setup.credentials)
        if secret is not None:
            credentials["client_secret"] = secret
        connection = Connection(
            code="qbo",
            platform="quickbooks",
            base_url=url,
            settings=setup.settings,
            timezone=timezone,
        )
        tokens = MemoryTokens(token if token is not None else setup.token)
        waits = Waits(real=real_sleep)
        context = Context(connection, Credentials("qbo", credentials), tokens=tokens, sleep=waits)
        http = PLATFORM.client(context)
        rig = Rig(sandbox, url, context, http, tokens, waits)
        http.client.event_hooks["response"].append(rig.responses.append)
        try:
            yield rig
        finally:
            http.close()


def item(
    person: str = "Kari Hansen",
    start: dt.datetime = dt.datetime(2026, 10, 1, 8, 0, tzinfo=OSLO),
    seconds: int = 13500,
    **more: Any,
) -> WorkItem:
    return WorkItem(
        person=person,
        email=person.lower().replace(" ", ".") + "@example.com",
        client=more.pop("client", "Nordic Shipyards AS"),
        project=more.pop("project", "MV Nordic Star - Hull survey"),
        task=more.pop("task", "Hull survey"),
        start=start,
        seconds=seconds,
        **more,
    )


def pulled(source: QuickBooksSource, since: dt.datetime | None = None) -> list[Any]:
    return [record for page in source.pull(since) for record in page.records]


# -- reading time ----------------------------------------------------------------------


def test_full_pull_is_every_time_activity_with_minorversion_on_every_call() -> None:
    sandbox = QuickBooksSandbox(seed=3, size=250)
    with connected(sandbox) as rig:
        records = pulled(rig.source)
        assert {r.external_id for r in records} == sandbox.ids()
        assert len(records) == 250
        assert all(r.updated_at is not None and r.updated_at.tzinfo for r in records)
        assert sandbox.minor_versions and set(sandbox.minor_versions) == {MINOR_VERSION}
        statement = rig.queries()[0].request.url.params["query"]
        assert statement.startswith("select * from TimeActivity orderby MetaData.LastUpdatedTime")
        assert statement.endswith("STARTPOSITION 1 MAXRESULTS 1000")


@pytest.mark.parametrize(
    ("size", "pages", "requests"),
    [(0, 0, 1), (QuickBooksSandbox.page_size, 1, 2), (QuickBooksSandbox.page_size + 1, 2, 2)],
)
def test_paging_boundaries(size: int, pages: int, requests: int) -> None:
    sandbox = QuickBooksSandbox(items=generate(size, seed=5))
    with connected(sandbox) as rig:
        got = list(rig.source.pull(None))
        assert len(got) == pages
        assert {r.external_id for p in got for r in p.records} == sandbox.ids()
        assert len(rig.queries()) == requests


def test_paging_holds_when_many_entries_share_one_stamp() -> None:
    """Keyset paging by LastUpdatedTime with an offset inside the stamp: 2,500 entries
    written in the same second are read exactly once."""
    sandbox = QuickBooksSandbox()
    at = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
    for work in generate(2500, seed=9):
        sandbox.add(work, at=at, notify=False)
    with connected(sandbox) as rig:
        records = pulled(rig.source)
        assert len(records) == 2500
        assert {r.external_id for r in records} == sandbox.ids()
        starts = [r.request.url.params["query"].split("STARTPOSITION ")[1] for r in rig.queries()]
        assert starts == ["1 MAXRESULTS 1000", "1001 MAXRESULTS 1000", "2001 MAXRESULTS 1000"]


def test_incremental_pull_finds_a_late_write_inside_the_overlap() -> None:
    sandbox = QuickBooksSandbox()
    old = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=3)
    ids = [
        sandbox.add(w, at=old + dt.timedelta(minutes=i), notify=False)
        for i, w in enumerate(generate(30, seed=2))
    ]
    with connected(sandbox) as rig:
        first = pulled(rig.source)
        watermark = max(r.updated_at for r in first if r.updated_at)
        # A write that lands after the read but is stamped before the watermark...
        sandbox.edit(ids[3], seconds=5400, at=watermark - dt.timedelta(seconds=5), notify=False)
        new = sandbox.add(item(), notify=False)
        since = watermark - dt.timedelta(minutes=rig.context.connection.overlap_minutes)
        again = pulled(rig.source, since)
        found = {r.external_id for r in again}
        # ...is found thanks to the overlap the caller subtracts.
        assert {ids[3], new} <= found
        assert all(r.updated_at is not None and r.updated_at >= since for r in again)
        # Entries untouched since long before the window are not read again.
        assert ids[0] not in found
        edited = next(r for r in again if r.external_id == ids[3])
        end = dt.datetime.fromisoformat(edited.payload["EndTime"])
        assert end - dt.datetime.fromisoformat(edited.payload["StartTime"]) == dt.timedelta(
            seconds=5400
        )


def test_fetch_by_id_and_gone_is_none() -> None:
    sandbox = QuickBooksSandbox(items=[item(), item(person="Lars Eide")])
    with connected(sandbox) as rig:
        first, second = sorted(sandbox.ids(), key=int)
        record = rig.source.fetch(first)
        assert record is not None and record.external_id == first
        assert record.payload["EmployeeRef"]["name"] == "Kari Hansen"
        sandbox.remove(second, notify=False)
        assert rig.source.fetch(second) is None  # Intuit: 400 with Fault code 610
        assert rig.source.fetch("999999") is None
        gone = rig.responses[-1]
        assert gone.status_code == 400
        assert json.loads(gone.content)["Fault"]["Error"][0]["code"] == "610"


def test_listed_ids_are_the_entries_with_a_work_date_in_the_window() -> None:
    sandbox = QuickBooksSandbox(items=generate(120, seed=4))
    with connected(sandbox) as rig:
        start, end = dt.date(2026, 10, 5), dt.date(2026, 10, 9)
        expected = {
            ident
            for ident, record in sandbox.store["TimeActivity"].items()
            if start.isoformat() <= record["TxnDate"] <= end.isoformat()
        }
        assert expected and expected != sandbox.ids()
        assert rig.source.listed_ids(start, end) == expected


def test_fields_are_what_the_canonical_parser_accepts() -> None:
    sandbox = QuickBooksSandbox(items=[item(notes="class comments")])
    with connected(sandbox) as rig:
        (record,) = pulled(rig.source)
        fields = rig.source.fields(record)
        parsed = parse_record(fields, Defaults())
        assert isinstance(parsed, Canonical), parsed
        assert parsed.external_id == record.external_id
        assert parsed.ref.person == "Kari Hansen"
        assert parsed.ref.project == "MV Nordic Star - Hull survey"
        assert parsed.ref.client == "Nordic Shipyards AS"
        assert parsed.ref.task == "Hull survey"
        assert parsed.duration_seconds == 13500
        assert parsed.work_date == dt.date(2026, 10, 1)
        assert parsed.start == dt.datetime(2026, 10, 1, 8, 0, tzinfo=OSLO)
        assert parsed.timezone == "Europe/Oslo"
        assert parsed.approval is Approval.APPROVED  # QuickBooks has no approval
        assert parsed.billable is True
        assert parsed.source_rate == Decimal("145.00")
        assert parsed.notes == "class comments"
        assert record.updated_at is not None
        assert parsed.source_revision == "t:" + record.updated_at.astimezone(dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%S.%f"
        )
        assert fields["revision"].endswith(("-07:00", "-08:00"))  # Intuit's Pacific stamps


def test_hours_and_minutes_with_a_break_and_not_billable() -> None:
    """An entry keyed as a duration, created through the API as an app would."""
    sandbox = QuickBooksSandbox(items=[item()])
    with connected(sandbox) as rig:
        (existing,) = pulled(rig.source)
        payload = existing.payload
        created = rig.source.api.write(
            "TimeActivity",
            {
                "NameOf": "Employee",
                "EmployeeRef": {"value": payload["EmployeeRef"]["value"]},
                "CustomerRef": {"value": payload["CustomerRef"]["value"]},
                "ItemRef": {"value": payload["ItemRef"]["value"]},
                "TxnDate": "2026-10-02",
                "Hours": 7,
                "Minutes": 30,
                "BillableStatus": "NotBillable",
                "Description": "drawings rev B",
            },
        )
        record = rig.source.fetch(created["Id"])
        assert record is not None
        parsed = parse_record(rig.source.fields(record), Defaults())
        assert isinstance(parsed, Canonical), parsed
        assert parsed.duration_seconds == 7 * 3600 + 30 * 60
        assert parsed.work_date == dt.date(2026, 10, 2)
        assert parsed.billable is False
        assert parsed.source_rate is None
        assert parsed.ref.project == "MV Nordic Star - Hull survey"  # the name QuickBooks gave
        with_break = rig.source.api.write(
            "TimeActivity",
            {
                "NameOf": "Employee",
                "EmployeeRef": {"value": payload["EmployeeRef"]["value"]},
                "CustomerRef": {"value": payload["CustomerRef"]["value"]},
                "TxnDate": "2026-10-05",
                "StartTime": "2026-10-05T07:00:00+02:00",
                "EndTime": "2026-10-05T15:30:00+02:00",
                "BreakHours": 0,
                "BreakMinutes": 30,
                "BillableStatus": "Billable",
                "HourlyRate": Decimal("150.50"),
            },
        )
        record = rig.source.fetch(with_break["Id"])
        assert record is not None
        fields = rig.source.fields(record)
        assert "start" not in fields  # start-end would contradict the worked time
        parsed = parse_record(fields, Defaults())
        assert isinstance(parsed, Canonical), parsed
        assert parsed.duration_seconds == 8 * 3600
        assert parsed.work_date == dt.date(2026, 10, 5)
        assert parsed.source_rate == Decimal("150.50")


def test_without_a_zone_the_parser_reports_it() -> None:
    sandbox = QuickBooksSandbox(items=[item()])
    with connected(sandbox, timezone=None) as rig:
        (record,) = pulled(rig.source)
        assert_zone_reported(rig.source.fields(record))


# -- failures --------------------------------------------------------------------------


def test_throttled_waits_what_intuit_says_and_succeeds() -> None:
    sandbox = QuickBooksSandbox(items=generate(5), rate_limit=RateLimit(2, 1.0))
    with connected(sandbox, real_sleep=True) as rig:
        for _ in range(3):
            assert len(pulled(rig.source)) == 5
        throttled = [r for r in rig.responses if r.status_code == 429]
        assert throttled
        said = throttled[0]
        assert said.headers["retry-after"] == "1"
        assert "ThrottleExceeded" in json.loads(said.content)["fault"]["error"][0]["message"]
        assert rig.waits and rig.waits[0] == 1.0  # Retry-After honoured, not a back-off guess


def test_more_than_ten_requests_in_flight_are_throttled() -> None:
    """Intuit's concurrency limit: 10 requests at once per app and company."""
    sandbox = QuickBooksSandbox(items=generate(3))
    with connected(sandbox) as rig:
        sandbox.faults.slow_seconds = 2.0  # long enough for all twelve to overlap on a busy machine
        headers = {"Authorization": f"Bearer {(rig.tokens.token or {})['access_token']}"}
        url = f"{rig.url}/v3/company/{sandbox.realm_id}/timeactivity/1"
        with ThreadPoolExecutor(12) as pool:
            statuses = sorted(
                pool.map(lambda _: httpx.get(url, headers=headers).status_code, range(12))
            )
        sandbox.faults.slow_seconds = 0
        assert statuses.count(429) == 2 and statuses.count(200) + statuses.count(400) == 10
        assert len(pulled(rig.source)) == 3


def test_server_errors_retry_then_fail_naming_the_platform_and_call() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    with connected(sandbox) as rig:
        sandbox.faults.fail_next = 2
        assert len(pulled(rig.source)) == 3  # two 503s, then the answer
        assert len(rig.waits) == 2
        sandbox.faults.fail_next = 100
        with pytest.raises(VendorError) as failed:
            pulled(rig.source)
        message = str(failed.value)
        assert message.startswith(f"quickbooks: GET /v3/company/{sandbox.realm_id}/query: 503")
        assert "An application error has occurred" in message and "code 10000" in message
        assert "gave up after 6 tries" in message
        assert len(rig.waits) == 2 + 5


def test_timeouts_retry_then_fail() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    with connected(sandbox) as rig:
        rig.http.client.timeout = httpx.Timeout(0.05)
        sandbox.faults.slow_seconds = 0.3
        with pytest.raises(VendorError) as failed:
            rig.source.fetch("1")
        assert "timed out" in str(failed.value)
        assert failed.value.status is None
        assert len(rig.waits) == 5
        sandbox.faults.slow_seconds = 0


def test_a_wrong_token_fails_loudly_without_the_secret() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    bogus = {"access_token": "eyJ-not-a-real-token", "expires_at": int(time.time()) + 3600}
    with connected(sandbox, token=bogus) as rig:
        with pytest.raises(AuthFailed) as failed:
            pulled(rig.source)
        assert failed.value.status == 401
        assert "AuthenticationFailed" in str(failed.value)
        assert "eyJ-not-a-real-token" not in str(failed.value)


def test_an_expired_token_without_refresh_fails_without_quoting_the_token() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    with connected(sandbox) as rig:
        assert rig.tokens.token is not None
        access = rig.tokens.token.pop("refresh_token") and rig.tokens.token["access_token"]
        sandbox.expire_tokens()
        with pytest.raises(AuthFailed) as failed:
            pulled(rig.source)
        said = json.loads(rig.responses[-1].content)["fault"]["error"][0]["detail"]
        assert access[:8] in said  # the gateway quotes the token...
        assert "Token expired: [redacted]" in str(failed.value)
        assert access[:8] not in str(failed.value)  # ...billsync does not


def test_a_wrong_client_secret_fails_the_refresh_without_the_secret() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    expired = {"access_token": "old", "refresh_token": "RT1-old", "expires_at": 0}
    with connected(sandbox, token=expired, secret="not-the-secret") as rig:
        with pytest.raises(AuthFailed) as failed:
            pulled(rig.source)
        message = str(failed.value)
        assert "invalid_client" in message
        assert "not-the-secret" not in message and "RT1-old" not in message
        assert sandbox.client_id not in message


def test_expired_access_token_is_refreshed_and_the_new_refresh_token_kept() -> None:
    sandbox = QuickBooksSandbox(items=generate(3))
    with connected(sandbox) as rig:
        first = dict(rig.tokens.token or {})
        sandbox.expire_tokens()
        assert len(pulled(rig.source)) == 3
        assert len(rig.tokens.saved) == 1
        fresh = rig.tokens.saved[0]
        assert fresh["access_token"] != first["access_token"]
        assert fresh["refresh_token"] != first["refresh_token"]  # refresh tokens rotate
        assert fresh["expires_in"] == 3600
        sandbox.revoke()  # the user disconnected the app
        with pytest.raises(AuthFailed) as failed:
            pulled(rig.source)
        assert "invalid_grant" in str(failed.value)


def test_authorize_and_code_exchange_on_the_sandbox() -> None:
    sandbox = QuickBooksSandbox()
    with connected(sandbox) as rig:
        endpoints = ENDPOINTS.at(rig.url)
        assert endpoints.authorize_url == rig.url + "/connect/oauth2"
        redirect = "https://billsync.example/oauth/qbo"
        answer = httpx.get(endpoints.authorization_url(sandbox.client_id, redirect, "s-1"))
        assert answer.status_code == 302
        target = urlsplit(answer.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == redirect
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        assert query["state"] == "s-1" and query["realmId"] == sandbox.realm_id
        form = {"grant_type": "authorization_code", "code": query["code"], "redirect_uri": redirect}
        granted = token_request("quickbooks", rig.context, endpoints, form)
        assert granted["token_type"] == "bearer" and granted["expires_in"] == 3600
        assert granted["access_token"] and granted["refresh_token"]
        with pytest.raises(AuthFailed):  # a code is good once
            token_request("quickbooks", rig.context, endpoints, form)


# -- webhooks --------------------------------------------------------------------------


def delivered(sandbox: QuickBooksSandbox, index: int = -1) -> WebhookRequest:
    delivery = sandbox.deliveries[index]
    headers = {k.lower(): v for k, v in delivery.headers.items()}
    return WebhookRequest(url=delivery.url, headers=headers, body=delivery.body)


def test_signed_notifications_verify_and_parse_to_ids() -> None:
    sandbox = QuickBooksSandbox()
    secret = sandbox.subscribe(UNREACHABLE)
    with connected(sandbox) as rig:
        source = rig.source
        created = sandbox.add(item())
        request = delivered(sandbox)
        assert source.handshake(request, secret) is None  # Intuit has no handshake
        assert source.verify(request, secret)
        assert source.events(request) == [WebhookEvent(created, "upsert", None)]
        sandbox.edit(created, seconds=3600)
        assert source.events(delivered(sandbox)) == [WebhookEvent(created, "upsert", None)]
        sandbox.remove(created)
        removed = delivered(sandbox)
        assert (
            json.loads(removed.body)["eventNotifications"][0]["dataChangeEvent"]["entities"][0][
                "operation"
            ]
            == "Delete"
        )
        assert source.verify(removed, secret)
        assert source.events(removed) == [WebhookEvent(created, "delete", None)]


def test_forged_or_foreign_notifications_are_refused() -> None:
    sandbox = QuickBooksSandbox()
    secret = sandbox.subscribe(UNREACHABLE)
    with connected(sandbox) as rig:
        source = rig.source
        sandbox.add(item())
        genuine = delivered(sandbox)
        forged = WebhookRequest(
            genuine.url, genuine.headers, genuine.body.replace(b'"Create"', b'"Delete"')
        )
        assert forged.body != genuine.body
        assert not source.verify(forged, secret)
        assert not source.verify(genuine, "another-verifier-token")
        assert not source.verify(genuine, None)
        unsigned = WebhookRequest(genuine.url, {}, genuine.body)
        assert not source.verify(unsigned, secret)
        with pytest.raises(WebhookMalformed):
            source.events(WebhookRequest(genuine.url, genuine.headers, b"<xml/>"))
        with pytest.raises(WebhookMalformed):
            source.events(WebhookRequest(genuine.url, genuine.headers, b'{"eventNotifications":1}'))
        with pytest.raises(WebhookMalformed):
            source.events(WebhookRequest(genuine.url, genuine.headers, b'{"hello":"world"}'))
        other = json.loads(genuine.body)
        other["eventNotifications"][0]["realmId"] = "123"
        foreign = WebhookRequest(genuine.url, genuine.headers, json.dumps(other).encode())
        assert source.events(foreign) == []  # another company connected to the same app


def test_cloudevents_notifications_parse_too() -> None:
    sandbox = QuickBooksSandbox(webhook_format="cloudevents")
    secret = sandbox.subscribe(UNREACHABLE)
    with connected(sandbox) as rig:
        created = sandbox.add(item())
        sandbox.remove(created)
        added, removed = delivered(sandbox, -2), delivered(sandbox, -1)
        assert json.loads(added.body)[0]["type"] == "qbo.timeactivity.created.v1"
        assert rig.source.verify(added, secret) and rig.source.verify(removed, secret)
        assert rig.source.events(added) == [WebhookEvent(created, "upsert", None)]
        assert rig.source.events(removed) == [WebhookEvent(created, "delete", None)]


# -- invoices --------------------------------------------------------------------------


def outgoing(number: str = "INV-2026-0042", client: str = "Kobe Maru Line") -> OutgoingInvoice:
    lines = [
        OutgoingLine(
            "Naval architect, October", "Naval architect (normal)", Decimal("12.5"), "h",
            Decimal("145.00"), Decimal("1812.50"), Decimal("25"),
        ),
        OutgoingLine(
            "Site visit, Kobe", "Travel", Decimal("1"), "trip", Decimal("980.10"),
            Decimal("980.10"), Decimal("0"),
        ),
    ]  # fmt: skip
    return OutgoingInvoice(
        number=number,
        client_code="KML",
        client_name=client,
        currency="USD",
        issue_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
        po_number="PO-7781",
        memo="billsync run 17",
        lines=lines,
        subtotal=Decimal("2792.60"),
        tax=Decimal("453.13"),
        total=Decimal("3245.73"),
    )


def test_invoice_is_created_once_with_customer_and_items_resolved() -> None:
    sandbox = QuickBooksSandbox(items=[item(client="Kobe Maru Line")])
    with connected(sandbox) as rig:
        sink = rig.sink
        assert sink.find_invoice("INV-2026-0042") is None
        remote = sink.create_invoice(outgoing(), "run-17-inv-42")
        assert remote.number == "INV-2026-0042" and remote.status == "open"
        assert remote.total == Decimal("3245.73")
        (stored,) = sandbox.invoices()
        assert stored["DocNumber"] == "INV-2026-0042"
        assert stored["CustomerRef"] == {
            "value": stored["CustomerRef"]["value"],
            "name": "Kobe Maru Line",
        }
        lines = [ln for ln in stored["Line"] if ln["DetailType"] == "SalesItemLineDetail"]  # type: ignore[union-attr]
        assert [ln["SalesItemLineDetail"]["ItemRef"]["name"] for ln in lines] == [
            "Naval architect (normal)",
            "Travel",
        ]
        assert [ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in lines] == ["TAX", "NON"]
        assert [ln["Amount"] for ln in lines] == [Decimal("1812.50"), Decimal("980.10")]
        assert lines[0]["SalesItemLineDetail"]["Qty"] == Decimal("12.5")
        # The existing customer was found by DisplayName, the two items were created.
        assert len([c for c in sandbox.store["Customer"].values() if not c["Job"]]) == 1
        travel = next(i for i in sandbox.store["Item"].values() if i["Name"] == "Travel")
        assert travel["Type"] == "Service"
        assert travel["IncomeAccountRef"]["value"] == sandbox.income_account_id
        # A retry finds the invoice by its number and creates nothing.
        again = sink.create_invoice(outgoing(), "run-17-inv-42")
        assert again == remote and len(sandbox.invoices()) == 1
        assert sink.find_invoice("INV-2026-0042") == remote


def test_a_repeated_requestid_replays_the_first_answer() -> None:
    sandbox = QuickBooksSandbox()
    with connected(sandbox) as rig:
        sink = rig.sink
        customer = sink._customer("Gulf Offshore LLC", "k")
        body = {
            "CustomerRef": {"value": customer},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": Decimal("100.00"),
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": sink._item("Stability", "k")},
                        "Qty": Decimal("1"),
                        "UnitPrice": Decimal("100.00"),
                    },
                }
            ],
        }
        first = sink.api.write("Invoice", body, "0b7c4f1e-replay")
        second = sink.api.write("Invoice", body, "0b7c4f1e-replay")
        assert first == second and len(sandbox.invoices()) == 1
        third = sink.api.write("Invoice", body, "0b7c4f1e-other")
        assert third["Id"] != first["Id"]


def test_invoice_status_follows_the_balance() -> None:
    sandbox = QuickBooksSandbox()
    with connected(sandbox) as rig:
        sink = rig.sink
        remote = sink.create_invoice(outgoing(client="Fjordkraft Ferries"), "k-1")
        assert sink.invoice_status(remote.remote_id).status == "open"
        sandbox.record_payment(remote.remote_id, Decimal("1000.00"))
        assert sink.invoice_status(remote.remote_id).status == "partially_paid"
        sandbox.record_payment(remote.remote_id, Decimal("2245.73"))
        paid = sink.invoice_status(remote.remote_id)
        assert paid.status == "paid" and paid.total == Decimal("3245.73")


def test_an_invoice_error_says_what_intuit_said() -> None:
    sandbox = QuickBooksSandbox()
    with connected(sandbox) as rig:
        bad = outgoing()
        wrong = OutgoingLine(
            "x", "Travel", Decimal("2"), "h", Decimal("10"), Decimal("25"), Decimal(0)
        )
        with pytest.raises(VendorError) as failed:
            rig.sink.create_invoice(OutgoingInvoice(**{**bad.__dict__, "lines": [wrong]}), "k-bad")
        message = str(failed.value)
        assert message.startswith(f"quickbooks: POST /v3/company/{sandbox.realm_id}/invoice: 400")
        assert "Amount is not equal to UnitPrice * Qty" in message and "code 6070" in message


def test_mark_billed_sets_has_been_billed() -> None:
    sandbox = QuickBooksSandbox(items=[item(), item(billable=False), item(person="Lars Eide")])
    with connected(sandbox) as rig:
        ids = sorted(sandbox.ids(), key=int)
        remote = rig.sink.create_invoice(outgoing(), "k-2")
        before = len(rig.responses)
        assert rig.sink.mark_billed([*ids, "424242", ids[0]], remote) == 2
        calls = [r.request for r in rig.responses[before:]]
        assert [(c.method, c.url.path.rsplit("/", 1)[-1]) for c in calls] == [
            ("GET", "query"),  # one `Id in (...)` read, then one update for each billable entry
            ("POST", "timeactivity"),
            ("POST", "timeactivity"),
        ]
        statuses = [sandbox.store["TimeActivity"][i]["BillableStatus"] for i in ids]
        assert statuses == ["HasBeenBilled", "NotBillable", "HasBeenBilled"]
        record = rig.source.fetch(ids[0])
        assert record is not None and rig.source.fields(record)["billable"] == "true"


# -- the vendor's API description ------------------------------------------------------


def test_sandbox_answers_match_the_openapi_description() -> None:
    """Every endpoint the connector uses that the description covers: query, invoice
    create and read, customer create. (It has no TimeActivity or Item path, and its
    query answer is an open schema, so those are checked by the tests above.)"""
    sandbox = QuickBooksSandbox(items=generate(5))
    with connected(sandbox) as rig:
        pulled(rig.source)
        remote = rig.sink.create_invoice(outgoing(client="A new client"), "k-3")
        rig.sink.invoice_status(remote.remote_id)
        covered = ("/query", "/invoice", f"/invoice/{remote.remote_id}", "/customer")
        checked = set()
        for response in rig.responses:
            path = response.request.url.path
            suffix = path.split(sandbox.realm_id, 1)[-1]
            if response.status_code == 200 and suffix in covered:
                check(SPEC, response)
                checked.add(suffix)
        assert checked == set(covered)


def test_a_voided_invoice_reads_back_as_void() -> None:
    sandbox = QuickBooksSandbox()
    with connected(sandbox) as rig:
        remote = rig.sink.create_invoice(outgoing(client="Gulf Offshore LLC"), "k-void")
        current = sandbox.store["Invoice"][remote.remote_id]
        rig.http.request(
            "POST",
            f"/v3/company/{sandbox.realm_id}/invoice",
            params={"operation": "void", "minorversion": MINOR_VERSION},
            json={"Id": remote.remote_id, "SyncToken": current["SyncToken"]},
        )
        voided = rig.sink.invoice_status(remote.remote_id)
        assert voided.status == "void" and voided.total == Decimal(0)


# -- the sandbox as other clients use it ------------------------------------------------


def test_query_posted_as_application_text_like_the_python_sdk() -> None:
    """python-quickbooks POSTs the statement as the body of /query."""
    sandbox = QuickBooksSandbox(items=generate(7))
    with connected(sandbox) as rig:
        answer = rig.http.request(
            "POST",
            f"/v3/company/{sandbox.realm_id}/query",
            params={"minorversion": MINOR_VERSION},
            content=b"SELECT * FROM TimeActivity STARTPOSITION 3 MAXRESULTS 2",
            headers={"Content-Type": "application/text"},
        )
        found = answer.json()["QueryResponse"]
        assert found["startPosition"] == 3 and found["maxResults"] == 2
        assert len(found["TimeActivity"]) == 2
        counted = rig.source.api.query("select count(*) from TimeActivity")
        assert counted == {"totalCount": 7}


def test_query_errors_and_a_foreign_realm_are_the_vendors_faults() -> None:
    sandbox = QuickBooksSandbox(items=generate(2))
    with connected(sandbox) as rig:
        with pytest.raises(VendorError) as failed:
            rig.source.api.query("select * from timeactivity")  # entity names are case sensitive
        assert failed.value.status == 400
        assert "Error parsing query" in str(failed.value) and "code 4000" in str(failed.value)
        with pytest.raises(VendorError):
            rig.source.api.query("select * from TimeActivity where Id = '1' or Id = '2'")
        rig.context.connection.settings["realm_id"] = "1234"
        with pytest.raises(AuthFailed) as refused:
            pulled(QuickBooksSource(rig.context, rig.http))
        assert refused.value.status == 403 and "AuthorizationFailed" in str(refused.value)
