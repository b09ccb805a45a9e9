"""Clockify: time in through the entity-change API (created, updated and deleted time
entries with their change stamps), names from the workspace's users, projects and
tasks, the workspace-wide detailed report (Reports API) for the reconcile sweep, single
entries by id, and webhooks.

    GET  {base}/api/v1/workspaces/{ws}/entities/updated?type=TIME_ENTRY
         &start=2026-11-01T10:00:00Z&end=2026-11-01T10:15:00Z&page=0&limit=200
         -> [{"id": ..., "timeInterval": {...}, "auditMetadata": {"createdAt": ...,
              "updatedAt": "2026-11-01T10:07:12Z"}, "documentCode": "TIME_ENTRY"}, ...]
    GET  {base}/api/v1/workspaces/{ws}/users | /projects | /projects/{id}/tasks
    GET  {base}/api/v1/workspaces/{ws}/time-entries/{id}?hydrated=true
    POST {reports}/v1/workspaces/{ws}/reports/detailed        (listed ids, by work day)

Auth is the `X-Api-Key` header. The regular API lives on `https://api.clockify.me`
(a regional workspace: `https://euc1.clockify.me`), the Reports API on another host,
`https://reports.api.clockify.me` (regional: `https://euc1.clockify.me/report`): the
`reports_url` setting, derived from the base URL when it is not set.

A time entry itself carries no change stamp and its list has no updated-since filter;
the entity-change API ("experimental" in Clockify's reference, documented as ready for
production) is the updated-since read: an incremental read asks for the entries
created, updated and deleted since the watermark, and each record's revision is its
`auditMetadata.updatedAt`. A full read asks for every entry created or changed since
`history_start` (default: a year ago). Ranges go in windows of 30 days, the API's own
default range.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from billsync.domain.canonical import zone

from ..base import (
    Context,
    Page,
    Source,
    VendorRecord,
    WebhookEvent,
    WebhookMalformed,
    WebhookRequest,
)
from ..fields import BadField, decimal_of, flag, moment, obj, text, time_of
from ..fields import kind as kind_of
from ..http import VendorClient, VendorError, window_wait
from ..paging import PageGuard
from ..registry import Platform, register

NAME = "clockify"
BASE_URL = "https://api.clockify.me"  # regular API: /api/v1/...
REPORTS_URL = "https://reports.api.clockify.me"  # Reports API: /v1/...
PAGE_SIZE = 200  # detailed-report rows per page
USERS_PAGE_SIZE = 200
APPROVALS_PAGE_SIZE = 200
FAR = dt.datetime.max.replace(tzinfo=dt.UTC)
CHANGES_PAGE_SIZE = 200  # entity-change documents per page (read until an empty page)
WINDOW = dt.timedelta(days=31)  # longest report range every plan allows
CHANGES_WINDOW = dt.timedelta(days=30)  # the entity-change API's own default range
AHEAD = dt.timedelta(days=366)  # entries tracked ahead of today are listed too
HISTORY_DAYS = 366  # a full read reaches this far back unless `history_start` says
RATE_WINDOW = 1.0  # the documented limit is 50 requests per second
SIGNATURE = "clockify-signature"
EVENT_TYPE = "clockify-webhook-event-type"
UPSERT_EVENTS = frozenset(
    {"NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIMER_STOPPED", "TIME_ENTRY_RESTORED"}
)
DELETE_EVENTS = frozenset({"TIME_ENTRY_DELETED"})
NOT_WORK = frozenset({"BREAK", "TIME_OFF", "TIMEOFF", "HOLIDAY"})
GONE = re.compile(r"does(n't| not) (belong to|exist)", re.IGNORECASE)


def detail_of(response: httpx.Response) -> str:
    """Clockify's error body: {"message": "Api key does not exist", "code": 4003}."""
    body = response.json()
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{body['message']} (code {code})" if code is not None else str(body["message"])
    return response.text


def _said(response: httpx.Response) -> str:
    try:
        return detail_of(response)
    except ValueError:
        return response.text


# Retry-After when given; Clockify documents none for its 429 ("Too many requests"),
# and its limit is per second, so a throttled call waits for the next second.
wait_of = window_wait(RATE_WINDOW)


def client(context: Context, *, timeout: float = 30.0) -> VendorClient:
    return context.client(
        NAME,
        BASE_URL,
        headers={
            "X-Api-Key": context.credentials["api_key"],
            "Accept": "application/json",
        },
        timeout=timeout,
        wait_of=wait_of,
        detail_of=detail_of,
    )


def reports_client(context: Context, *, timeout: float = 30.0) -> VendorClient:
    """The same client on the Reports API's host."""
    connection = context.connection.model_copy(update={"base_url": reports_url(context)})
    return client(replace(context, connection=connection), timeout=timeout)


def reports_url(context: Context) -> str:
    """The Reports API's base: the `reports_url` setting, else the host that goes
    with the regular API's (api.clockify.me -> reports.api.clockify.me; a regional
    or developer host serves it under /report)."""
    given = context.connection.settings.get("reports_url")
    if given:
        return given.rstrip("/")
    base = (context.connection.base_url or BASE_URL).rstrip("/")
    if urlsplit(base).hostname == urlsplit(BASE_URL).hostname:
        return REPORTS_URL
    return base + "/report"


def _obj(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    return value if isinstance(value, dict) else {}


def _rate(payload: dict[str, Any]) -> str | None:
    """The billable rate: `hourlyRate.amount`, or a report row's `rate`, in cents."""
    hourly = payload.get("hourlyRate")
    name = "hourlyRate.amount" if isinstance(hourly, dict) else "rate"
    cents: Any = hourly.get("amount") if isinstance(hourly, dict) else payload.get("rate")
    amount = decimal_of(cents)
    if cents is not None and (amount is None or isinstance(cents, str)):
        raise BadField(name, f"must be a number of cents, not {kind_of(cents)}")
    return str(amount.scaleb(-2)) if amount is not None else None


def _running(doc: dict[str, Any]) -> bool:
    """A timer still running, as Clockify shows one: a `timeInterval` object with its
    start and a null (or no) end. Anything else is read, and quarantined if it
    cannot be (a `timeInterval` that is text is no running timer)."""
    interval = doc.get("timeInterval")
    return (
        isinstance(interval, dict)
        and isinstance(interval.get("start"), str)
        and interval.get("end") is None
    )


def _stamp(day: dt.date, end: bool = False) -> str:
    """A report range bound in UTC (sent with timeZone UTC, so read literally)."""
    clock = "23:59:59.999" if end else "00:00:00.000"
    return f"{day.isoformat()}T{clock}Z"


class ClockifySource(Source):
    secret_headers = frozenset({SIGNATURE})  # the webhook's token itself: see verify()

    def __init__(self, context: Context, http: VendorClient):
        super().__init__(context, http)
        self.workspace = context.setting("workspace_id")
        timeout = http.client.timeout.read or 30.0
        self.reports = reports_client(context, timeout=timeout)
        self._directory: dict[str, dict[str, Any]] | None = None
        self._projects: dict[str, dict[str, Any]] | None = None
        self._tasks: dict[str, dict[str, dict[str, Any]]] = {}
        self._approved: set[str] = set()  # approved approval requests, newest first
        self._approved_reach: dt.datetime | None = FAR  # loaded back to here; None: all
        self._approved_page = 1
        self._approvals_guard = PageGuard(
            NAME, "GET /api/v1/workspaces/{id}/approval-requests", "page"
        )

    # -- reading --------------------------------------------------------------------

    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        # Ranges are whole seconds: up to a minute ahead, so a change made this very
        # second (or on a clock a little ahead of ours) is not left out.
        now = self.context.now().astimezone(dt.UTC) + dt.timedelta(minutes=1)
        if since is None:
            first = dt.datetime.combine(self._history_start(now), dt.time(), dt.UTC)
            kinds: tuple[str, ...] = ("created", "updated")  # older ones changed since too
        else:
            first, kinds = since.astimezone(dt.UTC), ("created", "updated", "deleted")
        for kind in kinds:
            for docs in self._changes(kind, first, now):
                records = [self._record(doc, deleted=kind == "deleted") for doc in docs]
                kept = [r for r in records if r is not None]
                if kept:
                    yield Page(kept)

    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        # A day either side in UTC covers every zone; each entry's own work day decides.
        found: set[str] = set()
        day = dt.timedelta(days=1)
        for rows in self._report(start - day, end + day):
            for row in rows:
                began = moment(_obj(row, "timeInterval").get("start"))
                if began is None:
                    continue
                try:
                    tz = zone(self._zone_of(row) or "UTC")
                except BadField:  # an odd row is quarantined by the sync, not here
                    tz = None
                local = began.astimezone(tz).date() if tz else began.date()
                if start <= local <= end:
                    found.add(self._id(row))
        return found

    def fetch(self, external_id: str) -> VendorRecord | None:
        path = f"/api/v1/workspaces/{self.workspace}/time-entries/{external_id}"
        response = self.http.request(
            "GET", path, params={"hydrated": "true"}, ok=frozenset({400, 404})
        )
        if response.status_code == 404:
            return None
        if response.status_code == 400:
            # A deleted or unknown entry is a 400: "Time entry doesn't belong to Workspace"
            # (code 501); any other 400 is an error.
            said = _said(response)
            if GONE.search(said):
                return None
            raise VendorError(NAME, f"GET {path}", 400, self.http.detail(response))
        entry = self.http.decode(response, f"GET {path}")
        if not isinstance(entry, dict) or not entry.get("id"):
            raise VendorError(NAME, f"GET {path}", response.status_code, "not a time entry")
        return VendorRecord(str(entry["id"]), entry, None)  # an entry carries no stamp

    # -- mapping --------------------------------------------------------------------

    def fields(self, record: VendorRecord) -> dict[str, str]:
        """An entry from the entity-change API (ids, `auditMetadata`), by id or from a
        webhook (hydrated `project`/`task`/`user`), or a report row (`_id`,
        `userEmail`, `projectName`, ...): names come from the lists where the record
        carries only ids, so each maps to the same fields."""
        p = dict(record.payload)
        for name in ("project", "task", "user", "timeInterval", "hourlyRate"):
            obj(p.get(name), name)  # each an object where given: else a BadField
        project = _obj(p, "project") or (
            self._project(p.get("projectId"))
            if p.get("projectId") and "projectName" not in p
            else {}
        )
        task = _obj(p, "task") or (
            self._task(p.get("projectId"), p.get("taskId")) if "taskName" not in p else {}
        )
        interval = _obj(p, "timeInterval")
        out: dict[str, str] = {"external_id": record.external_id}
        values = {
            "person": self._person(p),
            "project": text(p.get("projectName"), "projectName")
            or text(project.get("name"), "project.name"),
            "task": text(p.get("taskName"), "taskName") or text(task.get("name"), "task.name"),
            "client": text(p.get("clientName"), "clientName")
            or text(project.get("clientName"), "project.clientName"),
            "notes": text(p.get("description"), "description"),
            "rate": _rate(p),
        }
        for name in ("start", "end"):
            at = time_of(interval.get(name), f"timeInterval.{name}")
            values[name] = at.isoformat() if at else None
        if p.get("billable") is not None:
            works = (text(p.get("type"), "type") or "REGULAR").upper() not in NOT_WORK
            values["billable"] = "true" if flag(p["billable"], "billable") and works else "false"
        values["approval"] = self._approval(p, moment(interval.get("start")))
        for name, value in values.items():
            if value:
                out[name] = str(value)
        # A revision only where the entity-change API gave the record its stamp.
        return self.finish(out, record, self._zone_of(p))

    # -- webhooks -------------------------------------------------------------------

    def verify(self, request: WebhookRequest, secret: str | None) -> bool:
        """`Clockify-Signature` carries the webhook's own token (a JWT that does not
        expire); there is no HMAC over the body. Each Clockify webhook is one event
        with its own token, so the secret may hold several, separated by spaces."""
        given = request.headers.get(SIGNATURE, "").strip()
        if not secret or not given:
            return False
        matched = False
        for known in re.split(r"[\s,]+", secret.strip()):
            if known and hmac.compare_digest(given.encode(), known.encode()):
                matched = True  # no early exit: the same work whichever token matches
        return matched

    def events(self, request: WebhookRequest) -> list[WebhookEvent]:
        """The body is the time entry itself; the event type is only in a header."""
        kind = request.headers.get(EVENT_TYPE, "").strip().upper()
        if not kind:
            raise WebhookMalformed("no Clockify-Webhook-Event-Type header")
        body = request.json()
        if kind not in UPSERT_EVENTS | DELETE_EVENTS:
            return []  # a project, user, timer start ...: not finished time
        if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
            raise WebhookMalformed(f"a {kind} body without a time entry id")
        entry_id = body["id"]
        if kind in DELETE_EVENTS:  # the id is all a deletion needs
            return [WebhookEvent(entry_id, "delete", VendorRecord(entry_id, body, None, True))]
        interval = body.get("timeInterval")
        if not isinstance(interval, dict) or not interval.get("start"):
            raise WebhookMalformed(f"a {kind} body without a timeInterval")
        if not interval.get("end"):
            return []  # still running: it arrives again when stopped
        complete = (not body.get("projectId") or isinstance(body.get("project"), dict)) and (
            not body.get("taskId") or isinstance(body.get("task"), dict)
        )
        record = VendorRecord(entry_id, body, None) if complete else None
        return [WebhookEvent(entry_id, "upsert", record)]

    # -- helpers --------------------------------------------------------------------

    def _history_start(self, now: dt.datetime) -> dt.date:
        given = self.context.date_setting("history_start")
        return given or (now.astimezone(dt.UTC) - dt.timedelta(days=HISTORY_DAYS)).date()

    @staticmethod
    def _id(row: dict[str, Any]) -> str:
        return str(row.get("_id") or row.get("id") or "")

    def _list(
        self, path: str, params: dict[str, Any], of: str = ""
    ) -> tuple[list[Any], httpx.Response]:
        """One page of a list of the regular API, and the response (its headers page)."""
        response = self.http.request("GET", path, params=params)
        items = self.http.decode(response, f"GET {path}")
        if not isinstance(items, list):
            said = f"not a list of {of}" if of else "not a list"
            raise VendorError(NAME, f"GET {path}", 200, said)
        return items, response

    def _changes(
        self, kind: str, first: dt.datetime, last: dt.datetime
    ) -> Iterator[list[dict[str, Any]]]:
        """Time entries created, updated or deleted from `first` to `last`, in windows
        of 30 days, page by page (from 0) until a page comes back empty."""
        path = f"/api/v1/workspaces/{self.workspace}/entities/{kind}"
        guard = PageGuard(NAME, f"GET /api/v1/workspaces/{{id}}/entities/{kind}", "page")
        lo = first.replace(microsecond=0)
        while lo <= last:
            hi = min(lo + CHANGES_WINDOW, last)
            page = 0
            while True:
                guard.at((lo, page))
                params = {
                    "type": "TIME_ENTRY",
                    "start": lo.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": hi.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "page": page,
                    "limit": CHANGES_PAGE_SIZE,
                }
                docs, _ = self._list(path, params, "changes")
                guard.read(docs, bool(docs))  # read until an empty page
                if not docs:
                    break
                yield docs
                page += 1
            lo = hi + dt.timedelta(seconds=1)

    def _record(self, doc: Any, deleted: bool) -> VendorRecord | None:
        """A change document as a record: None for another kind of document or a
        running timer (read when it stops); one without an id is kept to be
        quarantined."""
        if not isinstance(doc, dict):
            return VendorRecord.unreadable(doc, "time_entry", "must be an object")
        if doc.get("documentCode", "TIME_ENTRY") != "TIME_ENTRY":
            return None
        if not isinstance(doc.get("id"), str) or not doc["id"]:
            return VendorRecord.unreadable(doc, "id", "a time entry without an id")
        if not deleted and _running(doc):
            return None
        audit = _obj(doc, "auditMetadata")
        stamp = moment(audit.get("updatedAt")) or moment(audit.get("createdAt"))
        return VendorRecord(str(doc["id"]), doc, stamp, deleted)

    def _report(self, first: dt.date, last: dt.date) -> Iterator[list[dict[str, Any]]]:
        """Every row starting from `first` to `last` (UTC days), page by page, in
        windows of 31 days; a page shorter than asked for is a window's last."""
        path = f"/v1/workspaces/{self.workspace}/reports/detailed"
        guard = PageGuard(NAME, "POST /v1/workspaces/{id}/reports/detailed", "page")
        lo = first
        while lo <= last:
            hi = min(lo + WINDOW - dt.timedelta(days=1), last)
            page = 1
            while True:
                guard.at((lo, page))
                body = {
                    "dateRangeStart": _stamp(lo),
                    "dateRangeEnd": _stamp(hi, end=True),
                    "timeZone": "UTC",
                    "sortOrder": "ASCENDING",
                    "exportType": "JSON",
                    "amountShown": "EARNED",
                    "detailedFilter": {
                        "page": page,
                        "pageSize": PAGE_SIZE,
                        "sortColumn": "ID",
                        "options": {"totals": "EXCLUDE"},
                    },
                }
                response = self.reports.request("POST", path, json=body)
                data = self.reports.decode(response, f"POST {path}")
                if not isinstance(data, dict):
                    raise VendorError(NAME, f"POST {path}", 200, "not a detailed report")
                # Live responses spell it `timeentries`; the spec says `timeEntries`.
                rows = data.get("timeentries", data.get("timeEntries"))
                if not isinstance(rows, list):
                    raise VendorError(NAME, f"POST {path}", 200, "a report without entries")
                rows = [row for row in rows if isinstance(row, dict) and self._id(row)]
                guard.read(rows, len(rows) >= PAGE_SIZE)
                if rows:
                    yield rows
                if len(rows) < PAGE_SIZE:
                    break
                page += 1
            lo = hi + dt.timedelta(days=1)

    def _users(self) -> dict[str, dict[str, Any]]:
        """The workspace's members by id (e-mail and time zone), read once."""
        if self._directory is None:
            path = f"/api/v1/workspaces/{self.workspace}/users"
            self._directory = {str(u["id"]): u for u in self._listing(path)}
        return self._directory

    def _listing(self, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a paged list of the regular API (`Last-Page` header)."""
        found: list[Any] = []
        page = 1
        guard = PageGuard(NAME, f"GET {path.replace(self.workspace, '{id}', 1)}", "page")
        while True:
            query = {**(params or {}), "page": page, "page-size": USERS_PAGE_SIZE}
            items, response = self._list(path, query)
            last = response.headers.get("last-page", "").lower()
            more = last != "true" and len(items) >= USERS_PAGE_SIZE
            guard.read(items, more)
            found += [item for item in items if isinstance(item, dict) and item.get("id")]
            if not more:
                return found
            page += 1

    def _project(self, project_id: Any) -> dict[str, Any]:
        if self._projects is None:
            path = f"/api/v1/workspaces/{self.workspace}/projects"
            self._projects = {str(p["id"]): p for p in self._listing(path)}
        return self._projects.get(str(project_id or ""), {})

    def _task(self, project_id: Any, task_id: Any) -> dict[str, Any]:
        if not project_id or not task_id:
            return {}
        key = str(project_id)
        if key not in self._tasks:
            path = f"/api/v1/workspaces/{self.workspace}/projects/{key}/tasks"
            self._tasks[key] = {str(t["id"]): t for t in self._listing(path)}
        return self._tasks[key].get(str(task_id), {})

    def _user(self, payload: dict[str, Any]) -> dict[str, Any]:
        known = self._users().get(str(payload.get("userId") or ""))
        return known or {}

    def _person(self, p: dict[str, Any]) -> str | None:
        if text(p.get("userEmail"), "userEmail"):
            return str(p["userEmail"])
        user = _obj(p, "user")
        known = self._user(p)
        email = text(user.get("email"), "user.email") or text(known.get("email"), "email")
        if email:
            return email
        name = (
            text(p.get("userName"), "userName")
            or text(user.get("name"), "user.name")
            or text(known.get("name"), "name")
        )
        return name or None

    def _approval(self, p: dict[str, Any], start: dt.datetime | None) -> str:
        """`approved` when the entry's approval request is approved. An entry in a
        pending (or rejected, or withdrawn) request carries its id too, so the id alone
        says nothing: the approved requests are read, newest first, back to the week
        the entry falls in."""
        request = text(p.get("approvalRequestId"), "approvalRequestId")
        if not request:
            return "submitted"
        needed = (start or FAR) - WINDOW  # a request spans a week, or at most a month
        while self._approved_reach is not None and self._approved_reach > needed:
            self._more_approved()
        return "approved" if request in self._approved else "submitted"

    def _more_approved(self) -> None:
        path = f"/api/v1/workspaces/{self.workspace}/approval-requests"
        params = {
            "status": "APPROVED",
            "sort-column": "START",
            "sort-order": "DESCENDING",
            "page": self._approved_page,
            "page-size": APPROVALS_PAGE_SIZE,
        }
        items, response = self._list(path, params, "approval requests")
        self._approvals_guard.read(items, len(items) >= APPROVALS_PAGE_SIZE)
        oldest = self._approved_reach
        for item in items:
            request = _obj(item, "approvalRequest") if isinstance(item, dict) else {}
            if request.get("id") and _obj(request, "status").get("state") == "APPROVED":
                self._approved.add(str(request["id"]))
            began = moment(_obj(request, "dateRange").get("start"))
            if began is not None and (oldest is None or began < oldest):
                oldest = began
        self._approved_page += 1
        last = response.headers.get("last-page", "").lower() == "true"
        self._approved_reach = None if last or len(items) < APPROVALS_PAGE_SIZE else oldest

    def _zone_of(self, p: dict[str, Any]) -> str | None:
        """The entry's own zone, else its user's (profile settings), else the
        connection's."""
        interval = _obj(p, "timeInterval")
        user = _obj(p, "user")
        settings = obj(user.get("settings"), "user.settings")
        candidates = [interval.get("timeZone"), settings.get("timeZone")]
        if p.get("userId"):
            candidates.append(_obj(self._user(p), "settings").get("timeZone"))
        for name in candidates:
            if isinstance(name, str) and name and zone(name) is not None:
                return name
        return self.context.connection.timezone


PLATFORM = register(
    Platform(
        name=NAME,
        title="Clockify",
        base_url=BASE_URL,
        client=client,
        source=ClockifySource,
        credentials=("api_key",),
        settings=("workspace_id",),
        options=("reports_url", "history_start"),
        webhooks=True,
    )
)
