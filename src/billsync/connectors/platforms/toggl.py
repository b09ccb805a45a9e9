"""Toggl Track: time from a workspace (API v9, Reports API v3, Webhooks API v1).

Toggl's v9 API lists time entries only for the token's own user, so billsync reads
the whole workspace through the Reports API v3 detailed search, which pages by
response headers:

    POST /reports/api/v3/workspace/{workspace_id}/search/time_entries
         {"start_date": "2026-01-01", "end_date": "2026-12-31", "page_size": 50,
          "order_by": "date", "order_dir": "ASC", "enrich_response": true}
    <- [{"user_id": 7, "username": "Kari Hansen", "email": "kari@...", "project_name": ...,
         "time_entries": [{"id": 3095646709, "seconds": 3001, "start": ..., "stop": ...,
                           "at": ...}]}]
       X-Next-ID: 3095646710   X-Next-Row-Number: 51   (absent on the last page)

Each row of an ungrouped report is one time entry: that row is the raw record.
A report spans at most a year (documented for Reports v2; kept for v3), so reads
walk 365-day windows from the `history_start` setting (default: two years back) until
a year ahead is covered, and on while the last window still held entries. An
incremental read orders each window by `last_update`, newest first, and stops at the
first entry older than the watermark. Deleted entries are not in
reports: the reconcile sweep (`listed_ids`) and `deleted` webhooks find them.

Webhooks: a subscription POSTs signed events (`X-Webhook-Signature-256: sha256=<hex>`,
HMAC-SHA256 of the raw body with the subscription's secret). The first is a PING whose
`validation_code` must be echoed back. Event payloads are v9 entries with ids only (no
names, no e-mail), so each event is fetched again by id from the report.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Generator, Iterator, Mapping
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx

from billsync.connectors.base import (
    Context,
    Page,
    Source,
    VendorRecord,
    WebhookEvent,
    WebhookMalformed,
    WebhookReply,
    WebhookRequest,
)
from billsync.connectors.fields import (
    BadField,
    decimal_of,
    flag,
    kind,
    moment,
    text,
    time_of,
)
from billsync.connectors.http import VendorClient, VendorError, retry_after_header, seconds_of
from billsync.connectors.paging import PageGuard
from billsync.connectors.registry import Platform, register

BASE_URL = "https://api.track.toggl.com"
REPORTS = "/reports/api/v3/workspace/{workspace_id}/search/time_entries"
PAGE_SIZE = 50  # the Reports API's documented default page size
WINDOW_DAYS = 365  # one report spans at most a year
HISTORY_DAYS = 730  # default reach of a full read, before `history_start`
AHEAD_DAYS = 365  # entries may be dated in the future
SIGNATURE_HEADER = "x-webhook-signature-256"
QUOTA_RESETS = "x-toggl-quota-resets-in"
QUOTA_REMAINING = "x-toggl-quota-remaining"
TIME_ACTIONS = frozenset({"created", "updated", "deleted"})


def detail_of(response: httpx.Response) -> str:
    """Toggl's errors are a bare message: plain text or a JSON string
    (`"Incorrect username and/or password"`); some carry {"message"| "error": ...}."""
    text = response.text.strip()
    try:
        said = json.loads(text) if text else None
    except ValueError:
        said = None
    if isinstance(said, str):
        text = said
    elif isinstance(said, Mapping):
        for key in ("message", "error", "error_message"):
            if isinstance(said.get(key), str):
                text = said[key]
                break
    if response.status_code == 402 and response.headers.get(QUOTA_REMAINING) == "0":
        resets = response.headers.get(QUOTA_RESETS)
        text = f"{text} (API quota used up; it resets in {resets} s)".strip()
    return text


def wait_of(response: httpx.Response) -> float | None:
    """Retry-After when given, else, on a 429, Toggl's own X-Toggl-Quota-Resets-In
    (seconds). Toggl sends the quota headers on every answer: on a 5xx they say
    nothing about when to retry, and the usual back-off applies."""
    hinted = retry_after_header(response)
    if hinted is not None:
        return hinted
    value = response.headers.get(QUOTA_RESETS)
    if value and response.status_code == 429:
        return seconds_of(value)
    return None


def client(context: Context) -> VendorClient:
    """Basic auth with the API token as user name and the literal `api_token` as
    password; one host for the v9, Reports and Webhooks APIs."""
    token = context.credentials["api_token"]
    basic = base64.b64encode(f"{token}:api_token".encode()).decode()
    return context.client(
        "toggl",
        BASE_URL,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "billsync (toggl connector)",
        },
        wait_of=wait_of,
        detail_of=detail_of,
    )


def _entry(row: Mapping[str, Any]) -> Mapping[str, Any]:
    entries = row.get("time_entries")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], Mapping):
        raise ValueError("a report row without its time entry")
    entry: Mapping[str, Any] = entries[0]
    return entry


def _running(entry: Mapping[str, Any]) -> bool:
    """A timer still running, as Toggl documents it: a negative whole duration (-1,
    or -start in older data). A null `stop` alone is not enough (entries made with a
    duration have none), nor is a duration that is not a number: that entry is read,
    and quarantined if it cannot be."""
    seconds = entry.get("seconds", entry.get("duration"))
    return isinstance(seconds, int) and not isinstance(seconds, bool) and seconds < 0


def _entry_or_none(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    try:
        return _entry(row)
    except ValueError:
        return None


def _rows(row: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """One row per time entry: an ungrouped report has one already; a grouped row
    (several entries under one description) is split, keeping its shared fields."""
    entries = row.get("time_entries")
    if isinstance(entries, list) and len(entries) > 1:
        for entry in entries:
            yield {**row, "time_entries": [entry]}
    else:
        yield row


class TogglSource(Source):
    change_window: ClassVar[dt.timedelta | None] = None  # last_update order reaches back

    @property
    def workspace_id(self) -> str:
        value = self.context.setting("workspace_id")
        if not value.isdigit():
            raise self.context.bad_setting(
                "workspace_id", f"must be the workspace's number, not {value!r}"
            )
        return value

    # -- reading -------------------------------------------------------------------

    def _windows(self, newest_first: bool = False) -> list[tuple[dt.date, dt.date]]:
        """Whole 365-day windows from `history_start` until a year ahead is covered
        (the last one may reach further: a short tail window would hide the time
        beyond it from `pull`'s look ahead)."""
        today = self.context.now().astimezone(self._zone()).date()
        first = self.context.date_setting("history_start")
        if first is None:
            first = today - dt.timedelta(days=HISTORY_DAYS)
        ahead = today + dt.timedelta(days=AHEAD_DAYS)
        windows = []
        while first <= ahead:
            windows.append((first, first + dt.timedelta(days=WINDOW_DAYS - 1)))
            first += dt.timedelta(days=WINDOW_DAYS)
        return windows[::-1] if newest_first else windows

    @staticmethod
    def _span(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
        """[first, last] in windows of at most 365 days."""
        windows = []
        day = first
        while day <= last:
            end = min(day + dt.timedelta(days=WINDOW_DAYS - 1), last)
            windows.append((day, end))
            day = end + dt.timedelta(days=1)
        return windows

    def _zone(self) -> dt.tzinfo:
        name = self.context.connection.timezone
        return ZoneInfo(name) if name else dt.UTC

    def _search(self, body: Mapping[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
        """Every page of one detailed search, following X-Next-ID / X-Next-Row-Number."""
        path = REPORTS.format(workspace_id=self.workspace_id)
        cursor: dict[str, int] = {}
        guard = PageGuard("toggl", f"POST {REPORTS}", "X-Next-Row-Number")
        while True:
            guard.at(tuple(sorted(cursor.items())))
            response = self.http.request("POST", path, json={**body, **cursor})
            rows = self._parse(response)
            next_row = response.headers.get("x-next-row-number")
            guard.read(rows, bool(next_row))
            yield rows
            if not next_row:
                return
            if not next_row.isdigit():
                raise VendorError("toggl", f"POST {REPORTS}", 200, "X-Next-Row-Number is no number")
            cursor = {"first_row_number": int(next_row)}
            if response.headers.get("x-next-id"):
                cursor["first_id"] = int(response.headers["x-next-id"])
            if response.headers.get("x-next-timestamp"):
                cursor["first_timestamp"] = int(response.headers["x-next-timestamp"])

    def _parse(self, response: httpx.Response) -> list[Mapping[str, Any]]:
        call = f"POST {response.request.url.path}"
        rows = self.http.decode(response, call)
        if rows is None:
            rows = []
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            raise VendorError("toggl", call, response.status_code, "not a list of report rows")
        # A row whose entry cannot be read is its own fault: `_record` keeps it to be
        # quarantined, and the rest of the page goes on.
        return [one for row in rows for one in _rows(row)]

    def _record(self, row: Mapping[str, Any]) -> VendorRecord | None:
        """A finished entry's row as a record; None for a running timer. A row with
        no readable entry, id or change stamp is kept to be quarantined."""
        entry = _entry_or_none(row)
        if entry is None:
            return VendorRecord.unreadable(row, "time_entries", "a report row without its entry")
        ident = entry.get("id")
        if not isinstance(ident, int) or isinstance(ident, bool):
            return VendorRecord.unreadable(row, "id", "a time entry without a numeric id")
        if _running(entry):
            return None
        try:
            changed = time_of(entry.get("at"), "at")
        except BadField as exc:
            return VendorRecord(str(ident), row, None, problems=((exc.field, exc.reason),))
        return VendorRecord(str(ident), row, changed)

    def _body(self, first: dt.date, last: dt.date, **more: Any) -> dict[str, Any]:
        return {
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "grouped": False,
            "enrich_response": True,
            "page_size": PAGE_SIZE,
            **more,
        }

    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        windows = self._windows()
        held = False
        for first, last in windows:
            held = yield from self._read(first, last, since)
        # Entries dated beyond a year ahead (planned time) are rare: keep going a year
        # at a time while the last window still held any.
        last = windows[-1][1]
        while held:
            first, last = last + dt.timedelta(days=1), last + dt.timedelta(days=WINDOW_DAYS)
            held = yield from self._read(first, last, since)

    def _read(
        self, first: dt.date, last: dt.date, since: dt.datetime | None
    ) -> Generator[Page, None, bool]:
        """One window's pages; whether the window holds any entry at all."""
        if since is None:
            body = self._body(first, last, order_by="date", order_dir="ASC")
        else:  # newest change first, down to the watermark
            body = self._body(first, last, order_by="last_update", order_dir="DESC")
        held = False
        for rows in self._search(body):
            held = held or bool(rows)
            records = []
            older = False
            for row in rows:
                changed = moment((_entry_or_none(row) or {}).get("at"))
                if since is not None and changed is not None and changed < since:
                    older = True  # the rest of the window changed before the watermark
                    break
                record = self._record(row)
                if record is not None:
                    records.append(record)
            if records:
                yield Page(records)
            if older:
                break
        return held

    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        # Toggl reads report dates in the token owner's profile zone; a day more on
        # each side, then the entry's own local day in the connection's zone decides.
        zone = self._zone()
        found: set[str] = set()
        first, last = start - dt.timedelta(days=1), end + dt.timedelta(days=1)
        for lo, hi in self._span(first, last):
            for rows in self._search(self._body(lo, hi, order_by="date", order_dir="ASC")):
                for row in rows:
                    entry = _entry_or_none(row) or {}
                    begun = moment(entry.get("start"))
                    if begun is None or entry.get("id") is None:
                        continue  # unreadable: never taken for gone, and never listed
                    if start <= begun.astimezone(zone).date() <= end:
                        found.add(str(entry["id"]))
        return found

    def fetch(self, external_id: str) -> VendorRecord | None:
        if not external_id.isdigit():
            return None
        for first, last in self._windows(newest_first=True):
            found = self._find(external_id, first, last)
            if found is not None:
                return self._record(found)
        # Not in the read windows: gone, or older than `history_start`. The v9 entry
        # (GET /me/time_entries/{id}: "accessible by the current user") tells which,
        # and its start date says which report to look in.
        response = self.http.request(
            "GET", f"/api/v9/me/time_entries/{external_id}", ok=frozenset({404})
        )
        entry = response.json() if response.status_code == 200 else None
        if not isinstance(entry, Mapping) or entry.get("server_deleted_at"):
            return None
        begun = moment(entry.get("start"))
        if begun is None:
            return None
        day = begun.astimezone(self._zone()).date()
        found = self._find(external_id, day - dt.timedelta(days=1), day + dt.timedelta(days=1))
        return self._record(found) if found is not None else None

    def _find(self, external_id: str, first: dt.date, last: dt.date) -> Mapping[str, Any] | None:
        body = self._body(first, last, time_entry_ids=[int(external_id)])
        for rows in self._search(body):
            for row in rows:
                if str((_entry_or_none(row) or {}).get("id")) == external_id:
                    return row
        return None

    # -- mapping -------------------------------------------------------------------

    def fields(self, record: VendorRecord) -> dict[str, str]:
        row = record.payload
        entry = _entry(row)
        out: dict[str, str] = {"external_id": record.external_id}
        person = text(row.get("email"), "email") or text(row.get("username"), "username")
        if person:
            out["person"] = person
        for key, name in (("project", "project_name"), ("task", "task_name")):
            if text(row.get(name), name):
                out[key] = row[name]
        if text(row.get("client_name"), "client_name"):
            out["client"] = row["client_name"]
        start, stop = time_of(entry.get("start"), "start"), time_of(entry.get("stop"), "stop")
        seconds = entry.get("seconds")
        if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool)):
            raise BadField("seconds", f"must be a whole number of seconds, not {kind(seconds)}")
        if start is not None and stop is None and seconds is not None and seconds >= 0:
            stop = start + dt.timedelta(seconds=seconds)
        if start is not None and stop is not None:
            out["start"], out["end"] = start.isoformat(), stop.isoformat()
        if text(row.get("description"), "description"):
            out["notes"] = row["description"]
        approval = self._approval(row)
        if approval:
            out["approval"] = approval
        billable = row.get("billable")
        if billable is not None:
            out["billable"] = "true" if flag(billable, "billable") else "false"
        given = row.get("hourly_rate_in_cents")
        cents = decimal_of(given)
        if given is not None and (cents is None or isinstance(given, str)):
            raise BadField("hourly_rate_in_cents", f"must be a number, not {kind(given)}")
        if billable is True and cents is not None and cents > 0:
            out["rate"] = str(cents / 100)
        return self.finish(out, record)

    def _approval(self, row: Mapping[str, Any]) -> str | None:
        """Toggl entries carry no approval (approvals live on premium timesheets).
        With the `approved_tag` setting, an entry tagged so is approved and the rest
        are submitted; without it the workspace's default approval applies."""
        tag = self.context.connection.settings.get("approved_tag")
        if not tag:
            return None
        names = row.get("tag_names") or []
        if not isinstance(names, list):
            raise BadField("tag_names", f"must be a list, not {kind(names)}")
        return "approved" if tag in names else "submitted"

    # -- webhooks ------------------------------------------------------------------

    def handshake(self, request: WebhookRequest, secret: str | None) -> WebhookReply | None:
        """Toggl validates a new subscription with a PING carrying `validation_code`:
        a 2xx answer echoing {"validation_code": code} validates it at once."""
        try:
            event = request.json()
        except WebhookMalformed:
            return None
        if not isinstance(event, dict) or event.get("payload") != "ping":
            return None
        if secret and not self.verify(request, secret):
            return None  # a forged ping: left to verify(), which refuses it
        code = event.get("validation_code")
        if isinstance(code, str) and code:
            return WebhookReply(200, json.dumps({"validation_code": code}).encode())
        return WebhookReply(200, b"{}")

    def verify(self, request: WebhookRequest, secret: str | None) -> bool:
        """`X-Webhook-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. Toggl
        signs no separate timestamp, so there is no replay window to check; a replayed
        event only makes billsync fetch the entry again."""
        if not secret:
            return False
        given = request.headers.get(SIGNATURE_HEADER, "")
        scheme, _, digest = given.partition("=")
        if scheme != "sha256" or not digest:
            return False
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        # As bytes: a str compare raises on a non-ASCII header (a forger's, answered 401).
        return hmac.compare_digest(expected.encode(), digest.strip().lower().encode())

    def events(self, request: WebhookRequest) -> list[WebhookEvent]:
        event = request.json()
        if not isinstance(event, dict) or "payload" not in event:
            raise WebhookMalformed("not a Toggl webhook event (no payload)")
        payload = event["payload"]
        if payload == "ping":
            return []
        metadata = event.get("metadata")
        if not isinstance(metadata, Mapping) or not isinstance(payload, Mapping):
            raise WebhookMalformed("a Toggl event needs metadata and an object payload")
        if metadata.get("model") != "time_entry":
            return []  # projects, clients, tags...: not time
        action = metadata.get("action")
        if not isinstance(action, str) or action not in TIME_ACTIONS:
            raise WebhookMalformed(f"unknown time_entry action {action!r}")
        entry_id = payload.get("id", metadata.get("time_entry_id"))
        if entry_id is None or not re.fullmatch(r"[0-9]+", str(entry_id)):  # not "²"
            raise WebhookMalformed("a time_entry event without the entry's id")
        if action == "deleted":
            return [WebhookEvent(str(entry_id), "delete", None)]
        if _running(payload):
            return []  # a running timer: its time arrives when it is stopped
        # The payload names no user, project or client (ids only): fetch the entry.
        return [WebhookEvent(str(entry_id), "upsert", None)]


PLATFORM = register(
    Platform(
        name="toggl",
        title="Toggl Track",
        base_url=BASE_URL,
        client=client,
        source=TogglSource,
        credentials=("api_token",),
        settings=("workspace_id",),
        options=("history_start", "approved_tag"),
        webhooks=True,
    )
)
