"""The contract every connector keeps, run against each platform's sandbox over real
HTTP on loopback, through billsync's own sync engine, webhook receiver and outbox.
A new platform (connector + sandbox, registered) gets every case here for free."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billsync.api.webhooks import create_app
from billsync.connectors.http import AuthFailed, VendorError
from billsync.connectors.registry import all_platforms
from billsync.pipeline.oauth import connect
from billsync.pipeline.push import push
from billsync.pipeline.sync import sync
from billsync.pipeline.webhooks import process
from billsync.sandbox.base import AccountingSandbox, TimeSandbox, serve_app
from billsync.sandbox.registry import all_sandboxes
from billsync.sandbox.seed import generate
from billsync.store import invoices as invoice_store
from billsync.store import outbox, secrets
from billsync.store.audit import AuditLog
from billsync.store.audit import events as audit_events
from billsync.store.db import Store
from billsync.store.tables import connection_secrets, quarantine
from support.connections import ACTOR, Wired, platforms_with_sandboxes, wired
from support.firm import CONTRACT, Firm, entry

PLATFORMS = platforms_with_sandboxes()
SOURCES = [p for p in PLATFORMS if all_platforms()[p].source is not None]
WEBHOOKS = [p for p in SOURCES if all_platforms()[p].webhooks]
SINKS = [p for p in PLATFORMS if all_platforms()[p].sink is not None]
OAUTH = [p for p in PLATFORMS if all_platforms()[p].oauth is not None]
RECENT = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)  # inside the reconcile window


def time_sandbox(name: str, size: int, **kw: object) -> TimeSandbox:
    cls = all_sandboxes()[name]
    assert issubclass(cls, TimeSandbox)
    return cls(seed=3, items=generate(size, seed=3, start=RECENT), **kw)  # type: ignore[arg-type]


def test_every_platform_has_a_sandbox() -> None:
    assert sorted(all_platforms()) == PLATFORMS


# -- time sources --------------------------------------------------------------------


@pytest.mark.parametrize("name", SOURCES)
@pytest.mark.parametrize("pages", [0, 1, 2])
def test_a_full_sync_stores_exactly_what_the_vendor_has(
    store: Store, name: str, pages: int
) -> None:
    size = all_sandboxes()[name].page_size * pages + (1 if pages == 2 else 0)  # type: ignore[attr-defined]
    sandbox = time_sandbox(name, size)
    with wired(store, name, sandbox) as w:
        summary = sync(store, name, ACTOR, hooks=w.hooks)
        stored = w.entries()
    assert summary.full and summary.fetched == summary.new == size
    assert summary.rejected == 0
    assert set(stored) == sandbox.ids()
    stamped = all_platforms()[name].source.change_stamps  # type: ignore[union-attr]
    assert all(e["source_revision"][:2] == ("t:" if stamped else "a:") for e in stored.values())


@pytest.mark.parametrize("name", SOURCES)
def test_syncing_again_changes_nothing(store: Store, name: str) -> None:
    with wired(store, name, time_sandbox(name, 30)) as w:
        sync(store, name, ACTOR, hooks=w.hooks)
        before = w.entries()
        again = sync(store, name, ACTOR, hooks=w.hooks, reconcile=True)
        assert (again.new, again.changed, again.deleted) == (0, 0, 0)
        assert not again.full
        assert w.entries() == before


@pytest.mark.parametrize("name", SOURCES)
def test_an_incremental_sync_finds_edits_and_late_writes(store: Store, name: str) -> None:
    now = dt.datetime.now(dt.UTC)
    sandbox = time_sandbox(name, 0)
    items = generate(30, seed=3, start=RECENT)
    ids = [sandbox.add(item, at=now - dt.timedelta(hours=3), notify=False) for item in items[:-1]]
    sandbox.add(items[-1], at=now - dt.timedelta(minutes=1), notify=False)  # the newest
    with wired(store, name, sandbox) as w:
        sync(store, name, ACTOR, hooks=w.hooks)
        edited, late_one, untouched = ids[:3]
        sandbox.edit(edited, seconds=5400, notify=False)
        # A write that lands now but carries a stamp from before the newest one the
        # last sync saw (a replica catching up): the overlap window still reads it.
        sandbox.edit(late_one, seconds=6300, at=now - dt.timedelta(minutes=4), notify=False)
        summary = sync(store, name, ACTOR, hooks=w.hooks)
        stored = w.entries()
    assert not summary.full
    assert summary.changed == 2 and summary.new == 0
    if all_platforms()[name].source.change_stamps:  # type: ignore[union-attr]
        assert summary.fetched < 30  # incremental: not everything again
    assert stored[edited]["duration_seconds"] == 5400
    assert stored[late_one]["duration_seconds"] == 6300
    assert (stored[edited]["revision"], stored[untouched]["revision"]) == (2, 1)


@pytest.mark.parametrize("name", SOURCES)
def test_the_reconcile_sweep_marks_entries_deleted_at_the_vendor(store: Store, name: str) -> None:
    with wired(store, name, time_sandbox(name, 20)) as w:
        sync(store, name, ACTOR, hooks=w.hooks)
        gone = sorted(w.time.ids())[3]
        w.time.remove(gone, notify=False)
        summary = sync(store, name, ACTOR, hooks=w.hooks, reconcile=True)
        stored = w.entries()
    assert summary.deleted == 1
    assert stored[gone]["deleted"] is True
    assert sum(e["deleted"] for e in stored.values()) == 1


@pytest.mark.parametrize("name", SOURCES)
def test_a_429_storm_is_waited_out_as_the_vendor_asks(store: Store, name: str) -> None:
    sandbox = time_sandbox(name, 10)
    with wired(store, name, sandbox) as w:
        sandbox.faults.throttle_next, sandbox.faults.throttle_seconds = 4, 7
        summary = sync(store, name, ACTOR, hooks=w.hooks)
    assert summary.new == 10
    assert len(w.waits) == 4
    asked = sandbox.throttled(7).headers.get("retry-after")
    if asked is not None:  # the vendor says how long: that long (Clockify says nothing)
        assert all(wait == float(asked) for wait in w.waits)


@pytest.mark.parametrize("name", SOURCES)
def test_server_errors_are_retried_and_an_outage_writes_nothing(store: Store, name: str) -> None:
    sandbox = time_sandbox(name, 10)
    with wired(store, name, sandbox) as w:
        sandbox.faults.fail_next = 2
        assert sync(store, name, ACTOR, hooks=w.hooks).new == 10
        sandbox.add(generate(1, seed=99, start=RECENT)[0], notify=False)
        sandbox.faults.fail_next = 1000
        with pytest.raises(VendorError) as caught:
            sync(store, name, ACTOR, hooks=w.hooks)
        assert len(w.entries()) == 10
        sandbox.faults.fail_next = 0
        assert sync(store, name, ACTOR, hooks=w.hooks).new == 1  # the watermark held
    assert str(caught.value).startswith(f"{name}: ")
    assert "503" in str(caught.value)


@pytest.mark.parametrize("name", SOURCES)
def test_wrong_credentials_fail_loudly_and_never_leak(store: Store, name: str) -> None:
    with wired(store, name, time_sandbox(name, 5)) as w:
        setup = w.time.setup(w.url)
        for key in setup.credentials:
            w.put_secret(key, "wrong-" + key + "-s3cret")
        if w.platform.oauth is not None:
            with store.transaction() as tx:
                secrets.put_token(
                    tx,
                    name,
                    {
                        "access_token": "wrong-token-s3cret",
                        "refresh_token": "wrong-refresh-s3cret",
                        "expires_at": 9999999999,
                    },
                )
        with pytest.raises(AuthFailed) as caught:
            sync(store, name, ACTOR, hooks=w.hooks)
        assert w.entries() == {}
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith(f"{name}: ")


# -- odd vendor data and broken paging -------------------------------------------------
#
# Each platform's list answer, tampered with in the sandbox (Faults.tamper): the records
# in it (found by id) and how to break one, as the probe found vendors (or proxies) do.


def _harvest_records(path: str, body: Any) -> list[dict[str, Any]]:
    return body.get("time_entries", []) if path == "/v2/time_entries" else []


def _toggl_records(path: str, body: Any) -> list[dict[str, Any]]:
    if not path.endswith("/search/time_entries") or not isinstance(body, list):
        return []
    return [row["time_entries"][0] for row in body]


def _clockify_records(path: str, body: Any) -> list[dict[str, Any]]:
    return body if "/entities/" in path and isinstance(body, list) else []


def _quickbooks_records(path: str, body: Any) -> list[dict[str, Any]]:
    found = body.get("QueryResponse", {}) if path.endswith("/query") else {}
    return found.get("TimeActivity", [])


def _xero_records(path: str, body: Any) -> list[dict[str, Any]]:
    return body.get("items", []) if path.endswith("/Time") else []


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.pop(key, None)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.__setitem__(key, value)


def _untimed(hours: Any) -> Callable[[dict[str, Any]], None]:
    def breaks(record: dict[str, Any]) -> None:
        record.pop("StartTime", None), record.pop("EndTime", None)
        record.update(Hours=hours, Minutes=0)

    return breaks


RECORDS: dict[str, tuple[Callable[[str, Any], list[dict[str, Any]]], str]] = {
    "harvest": (_harvest_records, "id"),
    "toggl": (_toggl_records, "id"),
    "clockify": (_clockify_records, "id"),
    "quickbooks": (_quickbooks_records, "Id"),
    "xero": (_xero_records, "timeEntryId"),
}
# (how a record is broken, the field its quarantine reason names)
BREAKS: dict[str, list[tuple[Callable[[dict[str, Any]], None], str]]] = {
    "harvest": [
        (_set("updated_at", "yesterday"), "updated_at"),
        (_set("billable", "false"), "billable"),
        (_set("is_closed", "false"), "is_closed"),
        (_set("user", {"id": 1, "name": ["Kari", "Ola"]}), "user.name"),
        (_set("notes", {"text": "x"}), "notes"),
        (_set("project", "MV Nordic Star"), "project"),
        (_drop("id"), "id"),
    ],
    "toggl": [
        (lambda e: e.update(seconds="3600", stop=None), "seconds"),
        (_set("start", "yesterday"), "start"),
        (_set("at", "yesterday"), "at"),
        (_drop("id"), "id"),
    ],
    "clockify": [
        (_set("timeInterval", "PT1H"), "timeInterval"),
        (_set("user", {"settings": "UTC"}), "user.settings"),
        (_set("approvalRequestId", {"id": "x"}), "approvalRequestId"),
        (_set("billable", "false"), "billable"),
        (_set("description", ["a", "b"]), "description"),
        (_drop("id"), "id"),
    ],
    "quickbooks": [
        (_set("EmployeeRef", "Kari Hansen"), "EmployeeRef"),
        (_untimed("1h"), "Hours"),
        (_untimed(1.5), "Hours"),
        (_untimed("2.75"), "Hours"),
        (_untimed("1e999999"), "Hours"),
        (_set("ItemRef", ["Survey"]), "ItemRef"),
        (_drop("Id"), "Id"),
    ],
    "xero": [
        (_set("duration", "1:30"), "duration"),
        (_set("dateUtc", "02/11/2026"), "dateUtc"),
        (_set("description", ["a"]), "description"),
        (_drop("timeEntryId"), "timeEntryId"),
    ],
}


def quarantined(store: Store) -> list[list[dict[str, str]]]:
    with store.reading() as tx:
        rows = tx.conn.execute(
            select(quarantine.c.errors).where(quarantine.c.workspace_id == tx.workspace_id)
        )
        return [list(r.errors) for r in rows]


@pytest.mark.parametrize("name", SOURCES)
def test_a_malformed_record_is_quarantined_and_the_rest_of_its_page_ingested(
    store: Store, name: str
) -> None:
    sandbox = time_sandbox(name, 12)
    records, key = RECORDS[name]
    breaks = BREAKS[name]
    broken = dict(zip(sorted(sandbox.ids()), breaks, strict=False))

    def odd(request: Any, body: Any, headers: Any) -> Any:
        for record in records(request.url.path, body):
            chosen = broken.get(str(record.get(key)))
            if chosen is not None:
                chosen[0](record)
        return body

    with wired(store, name, sandbox) as w:
        sandbox.faults.tamper = odd
        summary = sync(store, name, ACTOR, hooks=w.hooks)
        stored = w.entries()
    assert set(stored) == sandbox.ids() - set(broken)
    assert summary.rejected >= len(breaks)
    named = {error["field"] for errors in quarantined(store) for error in errors}
    assert {field for _, field in breaks} <= named


def _repeats_the_first_page(records: Callable[[str, Any], list[dict[str, Any]]]) -> Any:
    """A vendor that ignores the page asked for: every later page is the first."""
    first: dict[str, Any] = {}

    def odd(request: Any, body: Any, headers: Any) -> Any:
        path = request.url.path
        if path in first or records(path, body):
            return first.setdefault(path, body)
        return body

    return odd


def _next_link_to_itself(request: Any, body: Any, headers: Any) -> Any:
    if _harvest_records(request.url.path, body):
        body["links"]["next"] = str(request.url)
    return body


def _same_next_row(request: Any, body: Any, headers: Any) -> Any:
    if request.url.path.endswith("/search/time_entries"):
        headers["x-next-row-number"] = "51"
    return body


def _endless_page_count(request: Any, body: Any, headers: Any) -> Any:
    if request.url.path.endswith("/Time"):
        body["pagination"]["pageCount"] = 1_000_000
    return body


def _endless(repeating: Any) -> Any:
    """Xero: a huge pageCount on every page, the page asked for ignored."""
    return lambda request, body, headers: repeating(
        request, _endless_page_count(request, body, headers), headers
    )


LOOPS: dict[str, Any] = {
    "harvest": lambda: _next_link_to_itself,
    "toggl": lambda: _same_next_row,
    "clockify": lambda: _repeats_the_first_page(_clockify_records),
    "quickbooks": lambda: _repeats_the_first_page(_quickbooks_records),
    "xero": lambda: _endless(_repeats_the_first_page(_xero_records)),
}


@pytest.mark.parametrize("name", SOURCES)
def test_paging_that_never_ends_stops_with_an_error_naming_the_call(
    store: Store, name: str
) -> None:
    # QuickBooks asks for another page only after a full one.
    size = all_sandboxes()[name].page_size + 1 if name == "quickbooks" else 5  # type: ignore[attr-defined]
    sandbox = time_sandbox(name, size)
    with wired(store, name, sandbox) as w:
        sandbox.faults.tamper = LOOPS[name]()
        with pytest.raises(VendorError) as caught:
            sync(store, name, ACTOR, hooks=w.hooks)
    assert str(caught.value).startswith(f"{name}: ")
    assert "paging stopped" in str(caught.value)
    assert sandbox.requests < 50


@pytest.mark.parametrize("name", SOURCES)
def test_a_credential_the_vendor_quotes_back_is_never_printed(store: Store, name: str) -> None:
    """A 401 whose body quotes the request's own Authorization or X-Api-Key (a careless
    gateway or proxy): the error says what the vendor said, without the credential."""
    sandbox = time_sandbox(name, 5)
    with wired(store, name, sandbox) as w:
        sandbox.faults.reject_next = 1 if w.platform.oauth is None else 2  # the retry too
        with pytest.raises(VendorError) as caught:
            sync(store, name, ACTOR, hooks=w.hooks)
        with store.reading() as tx:
            token = secrets.get_token(tx, name) or {}
    message = str(caught.value)
    assert sandbox.quoted, "the sandbox quoted nothing"
    quoted = {q for value in sandbox.quoted for q in (value, value.split(" ")[-1])}
    if name == "toggl":  # Basic: the API token inside the base64 too
        quoted.add(base64.b64decode(sandbox.quoted[0].split(" ")[-1]).decode().split(":")[0])
    quoted |= {str(token[k]) for k in ("access_token", "refresh_token") if k in token}
    assert [q for q in quoted if q in message] == []
    assert message.startswith(f"{name}: ") and "[redacted]" in message


# -- webhooks -----------------------------------------------------------------------


def delivered(sandbox: TimeSandbox, w: Wired) -> str:
    """A new entry at the vendor, stored once its webhook arrived: its id."""
    new_id = sandbox.add(generate(1, seed=5, start=RECENT)[0])
    w.wait_for(lambda: new_id in w.entries())
    return new_id


@pytest.mark.parametrize("name", WEBHOOKS)
def test_a_signed_delivery_is_stored_then_ingested(store: Store, name: str) -> None:
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        delivered(sandbox, w)
        assert [e["status"] for e in w.events()] == ["processed"]


@pytest.mark.parametrize("name", WEBHOOKS)
def test_a_stored_delivery_holds_no_secret(store: Store, name: str) -> None:
    """Clockify's signature header is the webhook's token itself: kept, it would be
    the secret in plain text beside its encrypted copy."""
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        delivered(sandbox, w)
        with store.reading() as tx:
            secret = secrets.get(tx, name, "webhook_secret")
        (event,) = w.events()
    tokens = secret.replace(",", " ").split() if secret else []  # Clockify: one per webhook
    assert tokens
    stored = " ".join(event["headers"].values()) + event["body"]
    assert not [token for token in tokens if token in stored]


@pytest.mark.parametrize("name", WEBHOOKS)
def test_duplicated_and_reordered_deliveries_change_nothing(store: Store, name: str) -> None:
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        sandbox.faults.duplicate_webhooks = 1.0
        new_id = delivered(sandbox, w)
        sandbox.edit(new_id, seconds=3600)
        w.wait_for(lambda: w.entries()[new_id]["duration_seconds"] == 3600)
        sandbox.edit(new_id, seconds=7200)
        w.wait_for(lambda: w.entries()[new_id]["duration_seconds"] == 7200)
        deliveries = [d for d in sandbox.deliveries if d.url == w.receiver]
        assert len(deliveries) >= 6  # each sent twice
        # The first edit's delivery arrives again, late: the newer revision stays.
        first_edit = deliveries[-4]
        kept = len(w.events())
        replay = httpx.post(w.receiver, content=first_edit.body, headers=dict(first_edit.headers))
        assert replay.status_code == 200
        # As `billsync sync` beside the server: it processes what is left, or leaves it
        # to the receiver's task already at the connection.
        process(store, name, w.hooks)
        w.wait_for(lambda: {e["status"] for e in w.events()} == {"processed"})
        stored = w.entries()[new_id]
        events = w.events()
    assert stored["duration_seconds"] == 7200
    assert stored["revision"] == 3
    assert len(events) == kept + 1  # every delivery is kept, the replay too
    assert {e["status"] for e in events} == {"processed"}


@pytest.mark.parametrize("name", WEBHOOKS)
def test_a_forged_delivery_is_refused_and_nothing_is_stored(store: Store, name: str) -> None:
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        delivered(sandbox, w)
        real = [d for d in sandbox.deliveries if d.url == w.receiver][-1]
        before = w.events()
        # The vendor's signature header with another value: a forger without the secret.
        (name_of_signature,) = [k for k in real.headers if "signature" in k.lower()]
        forged_headers = dict(real.headers)
        value = forged_headers[name_of_signature]
        forged_headers[name_of_signature] = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
        forged = httpx.post(w.receiver, content=real.body + b" ", headers=forged_headers)
        unsigned_headers = {k: v for k, v in real.headers.items() if k != name_of_signature}
        unsigned = httpx.post(w.receiver, content=real.body + b" ", headers=unsigned_headers)
        huge = httpx.post(w.receiver, content=b"{" + b" " * (2 << 20) + b"}", headers=real.headers)
        assert forged.status_code == 401 and unsigned.status_code == 401
        assert huge.status_code == 413
        assert w.events() == before


def resigned(name: str, secret: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
    """`headers` with the signature of another `body`, made as the vendor makes it."""
    headers = {k.lower(): v for k, v in headers.items() if k.lower() != "content-length"}
    digest = hmac.new(secret.encode(), body, hashlib.sha256)
    if name == "toggl":
        headers["x-webhook-signature-256"] = f"sha256={digest.hexdigest()}"
    elif name == "quickbooks":
        headers["intuit-signature"] = base64.b64encode(digest.digest()).decode()
    else:
        assert name == "clockify"  # the header is the webhook's token: no signing
    return headers


def webhook_secret(store: Store, name: str) -> str:
    with store.reading() as tx:
        secret = secrets.get(tx, name, "webhook_secret")
    assert secret is not None
    return secret


@pytest.mark.parametrize("name", WEBHOOKS)
def test_a_signed_body_that_is_not_utf8_is_refused(store: Store, name: str) -> None:
    """json.loads reads UTF-16 and UTF-32 by itself; the stored text would not be the
    signed bytes (SQLite: never processable; PostgreSQL: a NUL, a 500)."""
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        delivered(sandbox, w)
        real = [d for d in sandbox.deliveries if d.url == w.receiver][-1]
        before = w.events()
        secret = webhook_secret(store, name)
        answers = []
        for encoding in ("utf-16", "utf-32", "utf-16-le"):
            body = json.dumps(json.loads(real.body)).encode(encoding)
            headers = resigned(name, secret, dict(real.headers), body)
            answers.append(httpx.post(w.receiver, content=body, headers=headers))
        after = w.events()
    assert [a.status_code for a in answers] == [400] * 3
    assert "UTF-8" in answers[0].json()["error"]
    assert after == before


@pytest.mark.parametrize("name", WEBHOOKS)
def test_bad_input_is_refused_never_a_server_error(store: Store, name: str) -> None:
    """A non-ASCII signature (forged: 401), a signed body nested past the parser's
    recursion limit (400), a connection code with a NUL (404: PostgreSQL refuses a NUL
    in a query)."""
    sandbox = time_sandbox(name, 0)
    with wired(store, name, sandbox, webhooks=True) as w:
        delivered(sandbox, w)
        real = [d for d in sandbox.deliveries if d.url == w.receiver][-1]
        before = w.events()
        secret = webhook_secret(store, name)
        (signature,) = [k for k in real.headers if "signature" in k.lower()]
        odd = {k: v.encode() for k, v in real.headers.items()}
        odd[signature] = b"sha256=\xe9\xe9"
        odd_signature = httpx.post(w.receiver, content=real.body, headers=odd)
        deep = b"[" * 200_000
        nested = httpx.post(
            w.receiver, content=deep, headers=resigned(name, secret, dict(real.headers), deep)
        )
        nul = httpx.post(w.receiver + "%00", content=real.body, headers=dict(real.headers))
        after = w.events()
    assert odd_signature.status_code == 401
    assert nested.status_code == 400
    assert nul.status_code == 404
    assert after == before


@pytest.mark.parametrize(
    "metadata, payload",
    [
        ({"model": "time_entry", "action": {"x": 1}}, {"id": 1}),  # an unhashable action
        ({"model": "time_entry", "action": "updated"}, {"id": "²"}),  # isdigit(), not int()
    ],
)
def test_a_signed_toggl_event_of_the_wrong_shape_is_malformed(
    store: Store, metadata: dict[str, object], payload: dict[str, object]
) -> None:
    sandbox = time_sandbox("toggl", 0)
    with wired(store, "toggl", sandbox, webhooks=True) as w:
        assert w.receiver is not None
        body = json.dumps({"metadata": metadata, "payload": payload}).encode()
        headers = resigned("toggl", webhook_secret(store, "toggl"), {}, body)
        answer = httpx.post(w.receiver, content=body, headers=headers)
        assert w.events() == []
    assert answer.status_code == 400


@pytest.mark.parametrize("name", [p for p in SOURCES if p not in WEBHOOKS])
def test_a_platform_without_webhooks_has_no_receiver(store: Store, name: str) -> None:
    with wired(store, name, time_sandbox(name, 0)) as w:
        with serve_app(create_app(store, w.hooks), "receiver") as base:
            assert httpx.post(f"{base}/webhooks/{name}", content=b"{}").status_code == 404
            assert httpx.post(f"{base}/webhooks/nope", content=b"{}").status_code == 404
        assert w.events() == []


# -- OAuth2 ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", OAUTH)
def test_connect_runs_the_authorization_code_flow(store: Store, name: str) -> None:
    cls = all_sandboxes()[name]
    sandbox = cls(seed=3, items=[]) if issubclass(cls, TimeSandbox) else cls(seed=3)  # type: ignore[call-arg]
    with wired(store, name, sandbox) as w:
        with store.transaction() as tx:
            tx.conn.execute(
                connection_secrets.delete().where(connection_secrets.c.name == secrets.TOKEN)
            )
        assert w.token() is None
        connect(store, name, ACTOR, lambda url: httpx.get(url, follow_redirects=True), 0, w.hooks)
        token = w.token()
    assert token is not None and token["access_token"] and token["refresh_token"]
    assert token["expires_at"] > dt.datetime.now(dt.UTC).timestamp()


ODD_TOKEN_ANSWERS = [
    (200, "<html><body>Service is being updated</body></html>"),  # a proxy's page
    (200, '{"token_type": "bearer", "expires_in": 3600}'),  # no access_token
    (200, '{"access_token": "a-new-token-123", "expires_in": "soon"}'),
    (200, '{"access_token": "a-new-token-123", "expires_in": "NaN"}'),
    (200, '["access_token"]'),
]


def expired(store: Store, name: str) -> dict[str, object]:
    """The stored token, made due for a refresh; as it was stored."""
    with store.transaction() as tx:
        token = secrets.get_token(tx, name)
        assert token is not None
        token = {**token, "expires_at": 0}
        secrets.put_token(tx, name, token)
    return token


@pytest.mark.parametrize("name", OAUTH)
@pytest.mark.parametrize("answer", ODD_TOKEN_ANSWERS, ids=lambda a: a[1][:12])
def test_a_token_answer_that_is_no_token_is_an_error_and_nothing_is_saved(
    store: Store, name: str, answer: tuple[int, str]
) -> None:
    sandbox = time_sandbox(name, 3)
    with wired(store, name, sandbox) as w:
        before = expired(store, name)
        sandbox.faults.odd_answers = [answer]
        with pytest.raises(VendorError) as caught:
            sync(store, name, ACTOR, hooks=w.hooks)
        kept = w.token()
        assert sync(store, name, ACTOR, hooks=w.hooks).new == 3  # once the vendor is well
    message = str(caught.value)
    assert not isinstance(caught.value, AuthFailed) and "reconnect" not in message
    assert message.startswith(f"{name}: POST /") and "not a usable token" in message
    assert kept == before


@pytest.mark.parametrize("name", OAUTH)
def test_a_token_endpoint_outage_is_retried_and_a_refusal_says_reconnect(
    store: Store, name: str
) -> None:
    sandbox = time_sandbox(name, 3)
    with wired(store, name, sandbox) as w:
        expired(store, name)
        sandbox.faults.fail_next = 2  # the refresh's first two tries
        assert sync(store, name, ACTOR, hooks=w.hooks).new == 3
        retried = list(w.waits)
        before = expired(store, name)
        sandbox.faults.odd_answers = [(400, '["invalid_grant"]')]
        with pytest.raises(AuthFailed) as refused:
            sync(store, name, ACTOR, hooks=w.hooks)
        assert w.token() == before
    assert len(retried) == 2
    assert f"reconnect with `billsync connect {name}`" in str(refused.value)


# -- invoice sinks ------------------------------------------------------------------


def approved_invoice(firm: Firm) -> dict[str, object]:
    # In the sandboxes' home currency (a foreign one needs multicurrency turned on) and
    # at a tax rate their demo companies have.
    terms = CONTRACT.replace("currency: EUR", "currency: USD").replace(
        "tax_rate: 25", "tax_rate: 15"
    )
    firm.setup(terms).import_rows(
        [entry("A-1", "2026-03-02", "7.5"), entry("A-2", "2026-03-03", "10", person="ola")]
    )
    firm.run("2026-04-01")
    (draft,) = firm.invoices()
    with firm.store.transaction() as tx:
        return invoice_store.approve(tx, draft["number"], "approver", AuditLog(tx, "approver"))


def accounting_sandbox(name: str) -> AccountingSandbox:
    cls = all_sandboxes()[name]
    sandbox = cls(seed=3, items=[]) if issubclass(cls, TimeSandbox) else cls(seed=3)  # type: ignore[call-arg]
    assert isinstance(sandbox, AccountingSandbox)
    return sandbox


def numbered(sandbox: AccountingSandbox, number: str) -> list[dict[str, object]]:
    return [i for i in sandbox.invoices() if number in (i.get("DocNumber"), i.get("InvoiceNumber"))]


@pytest.mark.parametrize("name", SINKS)
def test_an_approved_invoice_is_pushed_once(store: Store, name: str, tmp_path: Path) -> None:
    invoice = approved_invoice(Firm(store, tmp_path))
    sandbox = accounting_sandbox(name)
    with wired(store, name, sandbox) as w:
        first = push(store, name, ACTOR, w.hooks)
        again = push(store, name, ACTOR, w.hooks)
    ((number, remote),) = first.sent
    assert number == invoice["number"] and again.sent == [] and again.failed == []
    (at_vendor,) = numbered(sandbox, str(invoice["number"]))
    with store.reading() as tx:
        (row,) = outbox.rows(tx)
        pushed = [e for e in audit_events(tx) if e["action"] == "invoice.pushed"]
    assert row["status"] == "sent" and row["remote_id"] == remote.remote_id
    assert pushed[0]["after"]["remote_number"] == remote.number
    total = at_vendor.get("TotalAmt", at_vendor.get("Total"))
    assert Decimal(str(total)) == invoice["amount_due"]


@pytest.mark.parametrize("name", SINKS)
def test_an_outage_is_retried_on_the_next_push(store: Store, name: str, tmp_path: Path) -> None:
    invoice = approved_invoice(Firm(store, tmp_path))
    sandbox = accounting_sandbox(name)
    with wired(store, name, sandbox) as w:
        sandbox.faults.fail_next = 1000
        down = push(store, name, ACTOR, w.hooks)
        sandbox.faults.fail_next = 0
        up = push(store, name, ACTOR, w.hooks)
    assert [n for n, _ in down.failed] == [invoice["number"]] and down.sent == []
    assert [n for n, _ in up.sent] == [invoice["number"]]
    assert len(numbered(sandbox, str(invoice["number"]))) == 1


CRASH = """
import os, sys
from billsync.pipeline import push as push_module
from billsync.store.db import open_store

def crash(*args, **kwargs):
    os._exit(137)  # killed after the vendor accepted, before billsync recorded it

push_module.record = crash
push_module.push(open_store(sys.argv[1], sys.argv[2]), sys.argv[3], "connector-test")
"""


@pytest.mark.parametrize("name", SINKS)
def test_a_crash_between_vendor_and_record_never_bills_twice(
    store: Store, name: str, tmp_path: Path
) -> None:
    invoice = approved_invoice(Firm(store, tmp_path))
    sandbox = accounting_sandbox(name)
    url = store.engine.url.render_as_string(hide_password=False)
    with wired(store, name, sandbox) as w:
        crashed = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(CRASH), url, store.workspace, name],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            capture_output=True,
            timeout=120,
        )
        assert crashed.returncode == 137, crashed.stderr.decode()
        assert len(numbered(sandbox, str(invoice["number"]))) == 1
        with store.reading() as tx:
            assert outbox.rows(tx)[0]["status"] == "pending"
        after = push(store, name, ACTOR, w.hooks)
    assert [n for n, _ in after.sent] == [invoice["number"]]
    assert len(numbered(sandbox, str(invoice["number"]))) == 1


@pytest.mark.parametrize("name", SINKS)
def test_an_expired_token_is_refreshed_and_saved(store: Store, name: str, tmp_path: Path) -> None:
    approved_invoice(Firm(store, tmp_path))
    sandbox = accounting_sandbox(name)
    with wired(store, name, sandbox) as w:
        before = w.token()
        sandbox.expire_tokens()
        assert push(store, name, ACTOR, w.hooks).sent
        after = w.token()
    assert before is not None and after is not None
    assert after["access_token"] != before["access_token"]


@pytest.mark.parametrize("name", SINKS)
def test_a_revoked_token_fails_loudly(store: Store, name: str, tmp_path: Path) -> None:
    approved_invoice(Firm(store, tmp_path))
    sandbox = accounting_sandbox(name)
    with wired(store, name, sandbox) as w:
        sandbox.revoke()
        result = push(store, name, ACTOR, w.hooks)
    assert result.sent == []
    ((_, error),) = result.failed
    assert "reconnect" in error
