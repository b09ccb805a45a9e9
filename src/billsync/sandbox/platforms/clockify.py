"""A Clockify emulator: the regular API v1 (under /api/v1), the Reports API's detailed
report (under /v1, as on reports.api.clockify.me, and /report/v1, as on a regional
host), webhooks, in Clockify's wire format.

    sandbox = ClockifySandbox(seed=7, size=500)
    with serve(sandbox) as url:
        GET  {url}/api/v1/workspaces/{ws}/users?page=1&page-size=50      X-Api-Key: ...
        GET  {url}/api/v1/workspaces/{ws}/user/{userId}/time-entries?start=...&page=1
        GET  {url}/api/v1/workspaces/{ws}/time-entries/{id}?hydrated=true
        GET  {url}/api/v1/workspaces/{ws}/entities/updated?type=TIME_ENTRY&start=...
        POST {url}/v1/workspaces/{ws}/reports/detailed   {"dateRangeStart": ..., ...}

What it follows (docs.clockify.me and live probes recorded with the corrected spec):
lists are bare JSON arrays paged by `page`/`page-size` with a `Last-Page` header; the
entity-change API pages from 0 by `limit` and stamps each document's `auditMetadata`
(an entry created in the range is only among the created, one created and deleted in
it among neither); the
detailed report pages inside `detailedFilter` and answers `{"timeentries": [...],
"totals": [...]}` with times in the request's `timeZone` and durations in seconds;
report ranges are wall clocks in that zone; errors are `{"message": ..., "code": n}`
with a numeric code (401 `Api key does not exist`, 4003; a missing entry is a 400
`Time entry doesn't belong to Workspace`, 501); over 50 requests a second per key is a
429 `Too many requests` (Clockify sends no Retry-After). Webhooks: one event per
webhook, POSTed with the entry as the body, its `authToken` in `Clockify-Signature`
and the event in `Clockify-Webhook-Event-Type`.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import hmac
import itertools
import json
import secrets
import threading
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request, Response
from starlette.exceptions import HTTPException

from ..base import RateLimit, Setup, TimeSandbox, token
from ..registry import register
from ..seed import WorkItem

JSON = "application/json"
EVENTS = ("NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED")
WEBHOOK_EVENTS = frozenset(
    {
        "NEW_PROJECT", "NEW_TASK", "NEW_CLIENT", "NEW_TIMER_STARTED", "TIMER_STOPPED",
        "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED", "TIME_ENTRY_SPLIT", "NEW_TIME_ENTRY",
        "TIME_ENTRY_RESTORED", "NEW_TAG", "USER_DELETED_FROM_WORKSPACE",
        "USER_JOINED_WORKSPACE", "USER_DEACTIVATED_ON_WORKSPACE",
        "USER_ACTIVATED_ON_WORKSPACE", "USER_EMAIL_CHANGED", "USER_UPDATED", "NEW_INVOICE",
        "INVOICE_UPDATED", "NEW_APPROVAL_REQUEST", "APPROVAL_REQUEST_STATUS_UPDATED",
        "TAG_UPDATED", "TAG_DELETED", "TASK_UPDATED", "CLIENT_UPDATED", "TASK_DELETED",
        "CLIENT_DELETED", "PROJECT_UPDATED", "PROJECT_DELETED",
    }
)  # fmt: skip
TRIGGER_SOURCES = frozenset(
    {"PROJECT_ID", "USER_ID", "TAG_ID", "TASK_ID", "WORKSPACE_ID", "ASSIGNMENT_ID", "EXPENSE_ID"}
)
# The detailed report's request, as the corrected spec has it (no other key accepted).
REPORT_KEYS = frozenset(
    {
        "amountShown", "amounts", "approvalState", "archived", "billable", "clients",
        "currency", "customFields", "dateFormat", "dateRangeEnd", "dateRangeStart",
        "dateRangeType", "description", "detailedFilter", "exportType", "invoicingState",
        "projects", "rounding", "sortOrder", "tags", "tasks", "timeFormat", "timeZone",
        "userCustomFields", "userGroups", "userLocale", "users", "weekStart",
        "withoutDescription", "zoomLevel",
    }
)  # fmt: skip
FILTER_KEYS = frozenset({"auditFilter", "options", "page", "pageSize", "sortColumn"})
SORT_COLUMNS = frozenset(
    {"ID", "DESCRIPTION", "USER", "DURATION", "DATE", "ZONED_DATE", "NATURAL", "USER_DATE"}
)
RATES = (14500, 13000, 16500, 12000)  # project hourly rates, cents
CURRENCY = "EUR"
FAR = dt.datetime.max.replace(tzinfo=dt.UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def iso_duration(seconds: int) -> str:
    """Seconds as Clockify writes a duration: PT2H54M, PT45M, PT0S."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    return "PT" + (text or "0S")


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zoned_text(moment: dt.datetime, tz: dt.tzinfo) -> str:
    local = moment.astimezone(tz).isoformat(timespec="seconds")
    return local[:-6] + "Z" if local.endswith("+00:00") else local


def error(status: int, message: str, code: int) -> Response:
    body = json.dumps({"message": message, "code": code})
    return Response(body, status_code=status, media_type=JSON)


@register
class ClockifySandbox(TimeSandbox):
    platform = "clockify"
    page_size = 200  # the connector's page size (entity changes and detailed report)

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None = None,
        api_key: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._stamp = 0x65000000  # ObjectId time prefix: ids sort by creation
        self._machine = seed & 0xFFFFFFFFFF
        self.api_key = api_key or token()
        self._signing_key = secrets.token_bytes(32)
        self.workspace_id = self._new_id()
        self.owner = self._new_user("Billing Admin", "admin@example.com", "Europe/Oslo")
        self.users: dict[str, dict[str, Any]] = {self.owner["id"]: self.owner}
        self._users_by_email: dict[str, str] = {}
        self.clients: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self._projects_by_name: dict[tuple[str, str], str] = {}
        self._tasks_by_name: dict[tuple[str, str], str] = {}
        self._approvals: dict[tuple[str, int, int], str] = {}  # (user, ISO week) -> id
        self.approvals: dict[str, dict[str, Any]] = {}  # approval requests by id
        self._approval_entries: dict[str, set[str]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self._index: list[tuple[dt.datetime, str]] = []  # (start, id), sorted when clean
        self._index_dirty = False
        self._by_user: dict[str, set[str]] = {}
        self._version = 0
        self._window: tuple[tuple[Any, ...], list[str]] | None = None
        self._rows: dict[str, dict[str, str]] = {}  # report rows as JSON, by id and zone
        self._deleted: list[dict[str, Any]] = []  # removed entries, with when
        self._changes: tuple[tuple[Any, ...], list[dict[str, Any]]] | None = None
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.report_requests: list[dict[str, Any]] = []  # bodies, for tests to inspect
        self.change_requests: list[tuple[str, int, int]] = []  # (kind, page, documents)
        super().__init__(
            seed=seed,
            size=size,
            items=items,
            rate_limit=rate_limit if rate_limit is not None else RateLimit(50, 1.0),
        )
        api = "/api/v1/workspaces/{workspace_id}"
        routes: list[tuple[str, str, Any]] = [
            ("GET", "/api/v1/user", self._current_user),
            ("GET", "/api/v1/workspaces", self._workspaces),
            ("GET", api + "/users", self._list_users),
            ("GET", api + "/user/{user_id}/time-entries", self._user_entries),
            ("GET", api + "/time-entries/{entry_id}", self._get_entry),
            ("GET", api + "/approval-requests", self._approval_requests),
            ("GET", api + "/projects", self._list_projects),
            ("GET", api + "/projects/{project_id}/tasks", self._list_tasks),
            ("GET", api + "/entities/{kind}", self._entity_changes),
            ("GET", api + "/webhooks", self._list_webhooks),
            ("POST", api + "/webhooks", self._create_webhook),
            ("GET", api + "/webhooks/{webhook_id}", self._get_webhook),
            ("DELETE", api + "/webhooks/{webhook_id}", self._delete_webhook),
            ("POST", "/v1/workspaces/{workspace_id}/reports/detailed", self._detailed),
            ("POST", "/report/v1/workspaces/{workspace_id}/reports/detailed", self._detailed),
        ]
        for method, path, endpoint in routes:
            self.app.add_api_route(path, endpoint, methods=[method])
        self.app.add_exception_handler(HTTPException, self._unrouted)

    # -- Clockify's answers ------------------------------------------------------------

    def credential_key(self, request: Request) -> str:
        return request.headers.get("x-api-key", "") or (
            request.client.host if request.client else ""
        )

    def throttled(self, retry_after: float) -> Response:
        # Documented: 50 requests a second, then "Too many requests"; no Retry-After.
        return error(429, "Too many requests", 429)

    def server_error(self, status: int) -> Response:
        return error(status, "Internal server error", status)

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "workspace_id": self.workspace_id}

    def setup(self, base_url: str) -> Setup:
        return Setup(
            settings={"workspace_id": self.workspace_id, "reports_url": base_url},
            credentials={"api_key": self.api_key},
        )

    # -- the remote control ------------------------------------------------------------

    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        stamp = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        with self._lock:
            user_id = self._user_for(item)
            project_id = self._project_for(item)
            task_id = self._task_for(project_id, item.task) if item.task else None
            start = item.start.astimezone(dt.UTC)
            entry_id = self._new_id()
            approval = self._request_for(user_id, start, "APPROVED") if item.approved else None
            self.entries[entry_id] = {
                "id": entry_id,
                "userId": user_id,
                "projectId": project_id,
                "taskId": task_id,
                "description": item.notes,
                "billable": item.billable,
                "start": start,
                "end": start + dt.timedelta(seconds=item.seconds),
                "approvalRequestId": approval,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            self._index.append((start, entry_id))
            self._index_dirty = True
            self._by_user.setdefault(user_id, set()).add(entry_id)
            if approval is not None:
                self._approval_entries[approval].add(entry_id)
            self._version += 1
        if notify:
            self._notify("NEW_TIME_ENTRY", entry_id)
        return entry_id

    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        with self._lock:
            entry = self.entries[external_id]
            entry["end"] = entry["start"] + dt.timedelta(seconds=seconds)
            entry["updatedAt"] = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
            self._rows.pop(external_id, None)
            self._version += 1
        if notify:
            self._notify("TIME_ENTRY_UPDATED", external_id)

    def remove(self, external_id: str, *, notify: bool = True) -> None:
        with self._lock:
            body = self._webhook_body(self.entries[external_id])
            entry = self.entries.pop(external_id)
            self._deleted.append({**entry, "deletedAt": dt.datetime.now(dt.UTC)})
            self._rows.pop(external_id, None)
            if entry["approvalRequestId"]:
                self._approval_entries[entry["approvalRequestId"]].discard(external_id)
            self._by_user[entry["userId"]].discard(external_id)
            self._index_dirty = True  # the stale index key is dropped at the next sort
            self._version += 1
        if notify:
            self._send("TIME_ENTRY_DELETED", body)

    def set_approval(self, external_id: str, state: str) -> str:
        """Put the entry's week into an approval request in `state` (PENDING, APPROVED,
        REJECTED, WITHDRAWN_SUBMISSION, WITHDRAWN_APPROVAL), as submitting, approving
        or rejecting a timesheet in Clockify does; the request's id."""
        with self._lock:
            entry = self.entries[external_id]
            request_id = self._request_for(entry["userId"], entry["start"], state)
            self.approvals[request_id]["status"]["state"] = state
            self.approvals[request_id]["status"]["updatedAt"] = utc_text(dt.datetime.now(dt.UTC))
            for other in self._approval_entries[request_id] | {external_id}:
                self.entries[other]["approvalRequestId"] = request_id
                self._rows.pop(other, None)
            self._approval_entries[request_id].add(external_id)
            self._version += 1
        return request_id

    def ids(self) -> set[str]:
        with self._lock:
            return set(self.entries)

    def subscribe(self, url: str) -> str | None:
        """One webhook per time-entry event, as Clockify has it; the secret is their
        tokens, separated by spaces."""
        tokens = []
        for event in EVENTS:
            hook = self._new_webhook(
                {
                    "name": f"billsync {event.lower()}"[:30],
                    "url": url,
                    "webhookEvent": event,
                    "triggerSourceType": "WORKSPACE_ID",
                    "triggerSource": [self.workspace_id],
                }
            )
            tokens.append(hook["authToken"])
        return " ".join(tokens)

    def entry(self, external_id: str) -> dict[str, Any]:
        """An entry as GET /time-entries/{id}?hydrated=true answers it."""
        with self._lock:
            return self._entry_json(self.entries[external_id], hydrated=True)

    # -- data ----------------------------------------------------------------------

    def _new_id(self) -> str:
        """A 24-hex ObjectId; later ones sort after earlier ones."""
        return f"{self._stamp:08x}{self._machine:010x}{next(self._ids):06x}"

    def _new_user(self, name: str, email: str, tz: str) -> dict[str, Any]:
        return {
            "id": self._new_id(),
            "email": email,
            "name": name,
            "status": "ACTIVE",
            "activeWorkspace": self.workspace_id,
            "defaultWorkspace": self.workspace_id,
            "memberships": [],
            "profilePicture": "",
            "customFields": [],
            "settings": {
                "timeZone": tz,
                "weekStart": "MONDAY",
                "timeFormat": "HOUR24",
                "dateFormat": "yyyy-MM-dd",
                "summaryReportSettings": {"group": "PROJECT", "subgroup": "CLIENT"},
            },
        }

    def _user_for(self, item: WorkItem) -> str:
        found = self._users_by_email.get(item.email)
        if found is None:
            tz = getattr(item.start.tzinfo, "key", None) or "Etc/UTC"
            user = self._new_user(item.person, item.email, tz)
            self.users[user["id"]] = user
            found = self._users_by_email[item.email] = user["id"]
        return found

    def _project_for(self, item: WorkItem) -> str:
        key = (item.client, item.project)
        found = self._projects_by_name.get(key)
        if found is None:
            client = self.clients.get(item.client)
            if client is None:
                client = {"id": self._new_id(), "name": item.client, "archived": False}
                client["workspaceId"] = self.workspace_id
                self.clients[item.client] = client
            found = self._new_id()
            self.projects[found] = {
                "id": found,
                "name": item.project,
                "clientId": client["id"],
                "clientName": client["name"],
                "workspaceId": self.workspace_id,
                "billable": True,
                "color": "#03A9F4",
                "archived": False,
                "public": True,
                "template": False,
                "note": "",
                "hourlyRate": {
                    "amount": RATES[len(self.projects) % len(RATES)],
                    "currency": CURRENCY,
                },
            }
            self._projects_by_name[key] = found
        return found

    def _task_for(self, project_id: str, name: str) -> str:
        found = self._tasks_by_name.get((project_id, name))
        if found is None:
            found = self._new_id()
            self.tasks[found] = {
                "id": found,
                "name": name,
                "projectId": project_id,
                "assigneeIds": [],
                "status": "ACTIVE",
                "billable": True,
                "duration": "PT0S",
                "estimate": "PT0S",
            }
            self._tasks_by_name[(project_id, name)] = found
        return found

    def _request_for(self, user_id: str, start: dt.datetime, state: str) -> str:
        """The approval request of the user's week (Monday to Sunday in their zone)."""
        zone = self._user_zone(user_id)
        local = start.astimezone(zone)
        year, week, weekday = local.isocalendar()
        found = self._approvals.get((user_id, year, week))
        if found is None:
            monday = dt.datetime.combine(local.date() - dt.timedelta(days=weekday - 1), dt.time())
            first = monday.replace(tzinfo=zone)
            last = first + dt.timedelta(days=7) - dt.timedelta(seconds=1)
            user = self.users[user_id]
            found = self._new_id()
            self.approvals[found] = {
                "id": found,
                "workspaceId": self.workspace_id,
                "type": "TIMESHEET",
                "dateRange": {"start": utc_text(first), "end": utc_text(last)},
                "owner": {
                    "userId": user_id,
                    "userName": user["name"],
                    "timeZone": str(zone),
                    "startOfWeek": "MONDAY",
                },
                "creator": {
                    "userId": user_id,
                    "userName": user["name"],
                    "userEmail": user["email"],
                },
                "status": {
                    "state": state,
                    "note": "",
                    "updatedAt": utc_text(last),
                    "updatedBy": self.owner["id"],
                    "updatedByUserName": self.owner["name"],
                },
            }
            self._approvals[(user_id, year, week)] = found
            self._approval_entries[found] = set()
        return found

    def _locked(self, entry: dict[str, Any]) -> bool:
        request = self.approvals.get(entry["approvalRequestId"] or "")
        return request is not None and request["status"]["state"] == "APPROVED"

    def _rate(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        project = self.projects.get(entry["projectId"] or "")
        return dict(project["hourlyRate"]) if project else None

    def _entry_json(self, entry: dict[str, Any], *, hydrated: bool = False) -> dict[str, Any]:
        seconds = int((entry["end"] - entry["start"]).total_seconds())
        body: dict[str, Any] = {
            "id": entry["id"],
            "description": entry["description"],
            "tagIds": [],
            "userId": entry["userId"],
            "billable": entry["billable"],
            "taskId": entry["taskId"],
            "projectId": entry["projectId"],
            "workspaceId": self.workspace_id,
            "timeInterval": {
                "start": utc_text(entry["start"]),
                "end": utc_text(entry["end"]),
                "duration": iso_duration(seconds),
            },
            "customFieldValues": [],
            "type": "REGULAR",
            "kioskId": None,
            "hourlyRate": self._rate(entry),
            "costRate": {"amount": 0, "currency": CURRENCY},
            "isLocked": self._locked(entry),
            "approvalRequestId": entry["approvalRequestId"],
        }
        if hydrated:
            body["project"] = self.projects.get(entry["projectId"] or "")
            body["task"] = self.tasks.get(entry["taskId"] or "")
            body["tags"] = []
        return body

    def _webhook_body(self, entry: dict[str, Any]) -> dict[str, Any]:
        body = self._entry_json(entry, hydrated=True)
        user = self.users[entry["userId"]]
        body["user"] = {"id": user["id"], "name": user["name"], "status": user["status"]}
        body["currentlyRunning"] = False
        return body

    def _report_row(self, entry: dict[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
        user = self.users[entry["userId"]]
        project = self.projects.get(entry["projectId"] or "") or {}
        task = self.tasks.get(entry["taskId"] or "") or {}
        seconds = int((entry["end"] - entry["start"]).total_seconds())
        rate = self._rate(entry)
        cents = rate["amount"] if rate else 0
        amount = (Decimal(cents) * seconds / 3600).quantize(Decimal(1), ROUND_HALF_UP)
        row: dict[str, Any] = {
            "_id": entry["id"],
            "description": entry["description"],
            "userId": user["id"],
            "userName": user["name"],
            "userEmail": user["email"],
            "billable": entry["billable"],
            "projectId": entry["projectId"],
            "projectName": project.get("name", ""),
            "projectColor": project.get("color", ""),
            "clientId": project.get("clientId", ""),
            "clientName": project.get("clientName", ""),
            "taskId": entry["taskId"] or "",
            "taskName": task.get("name", ""),
            "tags": [],
            "timeInterval": {
                "start": zoned_text(entry["start"], tz),
                "end": zoned_text(entry["end"], tz),
                "duration": seconds,
            },
            "locked": self._locked(entry),
            "type": "REGULAR",
            "hourlyRate": rate,
            "rate": cents,
            "amount": int(amount),
        }
        if entry["approvalRequestId"]:  # the report's schema has no null here
            row["approvalRequestId"] = entry["approvalRequestId"]
        return row

    # -- webhooks ------------------------------------------------------------------

    def _new_webhook(self, request: dict[str, Any]) -> dict[str, Any]:
        hook_id = self._new_id()
        claims = {"iss": "clockify", "sub": hook_id, "workspaceId": self.workspace_id}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        hook = {
            "id": hook_id,
            "name": request["name"],
            "url": request["url"],
            "webhookEvent": request["webhookEvent"],
            "triggerSourceType": request["triggerSourceType"],
            "triggerSource": list(request["triggerSource"]),
            "authToken": f"{head}.{body}.{_b64(sig)}",
            "enabled": True,
            "deliveryEnabled": True,
            "planEnabled": True,
            "userId": self.owner["id"],
            "workspaceId": self.workspace_id,
        }
        with self._lock:
            self.webhooks[hook_id] = hook
        return hook

    def _notify(self, event: str, entry_id: str) -> None:
        with self._lock:
            body = self._webhook_body(self.entries[entry_id])
        self._send(event, body)

    def _send(self, event: str, body: dict[str, Any]) -> None:
        with self._lock:
            hooks = [h for h in self.webhooks.values() if h["webhookEvent"] == event]
        content = json.dumps(body).encode()
        for hook in hooks:
            if not hook["enabled"]:
                continue
            headers = {
                "Content-Type": JSON,
                "Clockify-Signature": hook["authToken"],
                "Clockify-Webhook-Event-Type": event,
            }
            self.deliver(hook["url"], content, headers)

    # -- the HTTP side -------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        """Clockify's 401s, and a workspace that is not this one."""
        key = request.headers.get("x-api-key")
        addon = request.headers.get("x-addon-token")
        if not key or addon:
            return error(401, "Multiple or none auth tokens present", 1000)
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            return error(401, "Api key does not exist", 4003)
        workspace = request.path_params.get("workspace_id")
        if workspace is not None and workspace != self.workspace_id:
            return error(403, "Access Denied", 1003)  # body not verified against live
        return None

    @staticmethod
    async def _unrouted(request: Request, exc: Exception) -> Response:
        """Clockify's answer for a path or method it has no route for."""
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return error(405, f"Request method '{request.method}' is not supported", 3000)
        if status == 404:
            return error(404, f"No static resource {request.url.path.lstrip('/')}.", 3000)
        return error(status, "Internal server error", status)

    @staticmethod
    def _json(value: Any, headers: dict[str, str] | None = None, status: int = 200) -> Response:
        content = json.dumps(value, separators=(",", ":"))
        return Response(content, status_code=status, media_type=JSON, headers=headers)

    def _paging(self, request: Request, default: int = 50) -> tuple[int, int] | Response:
        """The page a list call asks for; Clockify's refusal of the caller or the page."""
        refused = self._refused(request)
        if refused:
            return refused
        try:
            page = int(request.query_params.get("page", "1"))
            size = int(request.query_params.get("page-size", str(default)))
        except ValueError:
            return error(400, "Failed to convert value of type 'java.lang.String'", 3000)
        if page < 1 or size < 1:
            return error(400, "page and page-size must be positive", 501)
        return page, size

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        """A call's JSON object; Clockify's refusal of the caller or the body."""
        refused = self._refused(request)
        if refused:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error(400, "Malformed JSON request", 3000)
        if not isinstance(body, dict):
            return error(400, "Malformed JSON request", 3000)
        return body

    def _paged(self, items: list[Any], page: int, size: int) -> Response:
        return self._page(items[(page - 1) * size : page * size], page, size, len(items))

    def _page(self, body: list[Any], page: int, size: int, total: int) -> Response:
        """One page of a list of `total` items, with Clockify's `Last-Page` header."""
        last = page * size >= total
        return self._json(body, {"Last-Page": "true" if last else "false"})

    async def _current_user(self, request: Request) -> Response:
        return self._refused(request) or self._json(self.owner)

    async def _workspaces(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        workspace = {
            "id": self.workspace_id,
            "name": "Marine Engineering",
            "hourlyRate": {"amount": 0, "currency": CURRENCY},
            "memberships": [],
            "imageUrl": "",
            "featureSubscriptionType": "PRO",
        }
        return self._json([workspace])

    async def _list_users(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        with self._lock:
            users = list(self.users.values())
        return self._paged(users, *paging)

    async def _user_entries(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        user_id = request.path_params["user_id"]
        query = request.query_params
        try:
            lo = self._instant(query.get("start"), self._user_zone(user_id))
            hi = self._instant(query.get("end"), self._user_zone(user_id))
        except ValueError:
            return error(400, "Failed to convert value of type 'java.lang.String'", 3000)
        hydrated = query.get("hydrated", "false").lower() == "true"
        with self._lock:
            if user_id not in self.users:
                return error(400, "User doesn't belong to Workspace", 501)
            chosen = [
                self.entries[i]
                for i in self._by_user.get(user_id, ())
                if (lo is None or self.entries[i]["start"] >= lo)
                and (hi is None or self.entries[i]["start"] <= hi)
            ]
            chosen.sort(key=lambda e: (e["start"], e["id"]), reverse=True)  # newest first
            page, size = paging
            window = chosen[(page - 1) * size : page * size]
            body = [self._entry_json(e, hydrated=hydrated) for e in window]
        return self._page(body, page, size, len(chosen))

    async def _get_entry(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        hydrated = request.query_params.get("hydrated", "false").lower() == "true"
        with self._lock:
            entry = self.entries.get(request.path_params["entry_id"])
            if entry is None:
                return error(400, "Time entry doesn't belong to Workspace", 501)
            return self._json(self._entry_json(entry, hydrated=hydrated))

    async def _approval_requests(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        query = request.query_params
        state = query.get("status")
        if state is not None and state not in ("PENDING", "APPROVED", "WITHDRAWN_APPROVAL"):
            return error(400, "Failed to convert value of type 'java.lang.String'", 3000)
        column = query.get("sort-column", "START")
        keys = {
            "ID": lambda r: r["id"],
            "USER_ID": lambda r: r["owner"]["userId"],
            "START": lambda r: r["dateRange"]["start"],
            "UPDATED_AT": lambda r: r["status"]["updatedAt"],
        }
        if column not in keys:
            return error(400, "Failed to convert value of type 'java.lang.String'", 3000)
        descending = query.get("sort-order", "DESCENDING") != "ASCENDING"
        page, size = paging
        with self._lock:
            chosen = [r for r in self.approvals.values() if state in (None, r["status"]["state"])]
            chosen.sort(key=keys[column], reverse=descending)
            body = [self._approval_item(r) for r in chosen[(page - 1) * size : page * size]]
        return self._page(body, page, size, len(chosen))

    def _approval_item(self, request: dict[str, Any]) -> dict[str, Any]:
        entries = [self.entries[i] for i in sorted(self._approval_entries[request["id"]])]
        tracked = sum(int((e["end"] - e["start"]).total_seconds()) for e in entries)
        billable = [e for e in entries if e["billable"]]
        billable_seconds = sum(int((e["end"] - e["start"]).total_seconds()) for e in billable)
        amount = sum(
            Decimal((self._rate(e) or {"amount": 0})["amount"])
            * int((e["end"] - e["start"]).total_seconds())
            / 3600
            for e in billable
        )
        approved = request["status"]["state"] == "APPROVED"
        info = []
        for e in entries:
            body = self._entry_json(e)
            project = self.projects.get(e["projectId"] or "")
            task = self.tasks.get(e["taskId"] or "")
            body["project"] = (
                {k: project[k] for k in ("id", "name", "clientId", "clientName", "color")}
                if project
                else None
            )
            body["task"] = {"id": task["id"], "name": task["name"]} if task else None
            body["tags"] = []
            info.append(body)
        return {
            "approvalRequest": request,
            "approvedTime": iso_duration(tracked if approved else 0),
            "billableAmount": int(Decimal(amount).quantize(Decimal(1), ROUND_HALF_UP)),
            "billableTime": iso_duration(billable_seconds),
            "breakTime": "PT0S",
            "costAmount": 0,
            "entries": info,
            "expenseTotal": 0,
            "expenses": [],
            "pendingTime": iso_duration(0 if approved else tracked),
            "trackedTime": iso_duration(tracked),
        }

    async def _list_projects(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        with self._lock:
            projects = sorted(self.projects.values(), key=lambda p: p["name"])
        return self._paged(projects, *paging)

    async def _list_tasks(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, Response):
            return paging
        project_id = request.path_params["project_id"]
        with self._lock:
            if project_id not in self.projects:
                return error(400, "Project doesn't belong to Workspace", 501)
            tasks = [t for t in self.tasks.values() if t["projectId"] == project_id]
        return self._paged(sorted(tasks, key=lambda t: t["name"]), *paging)

    async def _entity_changes(self, request: Request) -> Response:
        """The entity-change API: documents created, updated or deleted in [start, end]
        (an entry created and updated in the range is only among the created; one
        created and deleted in it is in neither list of changes), from page 0."""
        refused = self._refused(request)
        if refused:
            return refused
        kind = request.path_params["kind"]
        if kind not in ("created", "updated", "deleted"):
            return error(404, f"No static resource {request.url.path.lstrip('/')}.", 3000)
        query = request.query_params
        types = query.getlist("type")
        if not types:
            return error(400, "Required request parameter 'type' is not present", 3000)
        try:
            now = dt.datetime.now(dt.UTC)
            hi = self._instant(query.get("end"), dt.UTC) or now
            lo = self._instant(query.get("start"), dt.UTC) or hi - dt.timedelta(days=30)
            page = int(query.get("page", "0"))
            limit = int(query.get("limit", "50"))
        except ValueError:
            return error(400, "Failed to convert value of type 'java.lang.String'", 3000)
        if page < 0 or limit < 1:
            return error(400, "page and limit must not be negative", 501)
        if "TIME_ENTRY" not in types:
            return self._json([])
        with self._lock:
            docs = self._changed(kind, lo, hi)[page * limit : (page + 1) * limit]
        self.change_requests.append((kind, page, len(docs)))
        return self._json(docs)

    def _changed(self, kind: str, lo: dt.datetime, hi: dt.datetime) -> list[dict[str, Any]]:
        key = (self._version, len(self._deleted), kind, lo, hi)
        if self._changes is not None and self._changes[0] == key:
            return self._changes[1]

        def inside(moment: dt.datetime) -> bool:
            return lo <= moment <= hi

        if kind == "deleted":
            chosen = [
                e for e in self._deleted if inside(e["deletedAt"]) and not inside(e["createdAt"])
            ]
            stamp = "deletedAt"
        elif kind == "created":
            chosen = [e for e in self.entries.values() if inside(e["createdAt"])]
            stamp = "createdAt"
        else:
            chosen = [
                e
                for e in self.entries.values()
                if inside(e["updatedAt"]) and not inside(e["createdAt"])
            ]
            stamp = "updatedAt"
        chosen.sort(key=lambda e: (e[stamp], e["id"]))
        docs = []
        for e in chosen:
            doc = self._entry_json(e)
            updated = e["deletedAt"] if kind == "deleted" else e["updatedAt"]
            doc["auditMetadata"] = {
                "createdAt": utc_text(e["createdAt"]),
                "updatedAt": utc_text(updated),
            }
            doc["documentCode"] = "TIME_ENTRY"
            docs.append(doc)
        self._changes = (key, docs)
        return docs

    async def _list_webhooks(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused:
            return refused
        with self._lock:
            hooks = list(self.webhooks.values())
        return self._json({"webhooks": hooks, "workspaceWebhookCount": len(hooks)})

    async def _create_webhook(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        name = body.get("name")
        if not isinstance(name, str) or not 2 <= len(name) <= 30:
            return error(400, "You entered invalid value for field: [name].", 501)
        if not isinstance(body.get("url"), str) or not body["url"].startswith("http"):
            return error(400, "You entered invalid value for field: [url].", 501)
        if body.get("webhookEvent") not in WEBHOOK_EVENTS:
            return error(400, "You entered invalid value for field: [webhookEvent].", 501)
        if body.get("triggerSourceType") not in TRIGGER_SOURCES:
            return error(400, "You entered invalid value for field: [triggerSourceType].", 501)
        if not isinstance(body.get("triggerSource"), list):
            return error(400, "You entered invalid value for field: [triggerSource].", 501)
        return self._json(self._new_webhook(body), status=201)

    async def _get_webhook(self, request: Request) -> Response:
        return self._webhook(request, remove=False)

    async def _delete_webhook(self, request: Request) -> Response:
        return self._webhook(request, remove=True)

    def _webhook(self, request: Request, *, remove: bool) -> Response:
        """One webhook, as it is (and, with `remove`, no longer)."""
        refused = self._refused(request)
        if refused:
            return refused
        hook_id = request.path_params["webhook_id"]
        with self._lock:
            hook = self.webhooks.pop(hook_id, None) if remove else self.webhooks.get(hook_id)
        if hook is None:
            return error(400, "Webhook doesn't belong to Workspace", 501)
        return self._json(hook)

    async def _detailed(self, request: Request) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        self.report_requests.append(body)
        flt = body.get("detailedFilter")
        if not isinstance(flt, dict):
            return error(400, "You entered invalid value for field: [detailedFilter].", 501)
        unknown = sorted(set(body) - REPORT_KEYS) + sorted(set(flt) - FILTER_KEYS)
        if unknown:
            return error(400, f"Unrecognized field: [{unknown[0]}].", 501)
        if flt.get("sortColumn", "DATE") not in SORT_COLUMNS:
            return error(400, "You entered invalid value for field: [sortColumn].", 501)
        try:
            tz: dt.tzinfo = ZoneInfo(body.get("timeZone") or self.owner["settings"]["timeZone"])
        except (ZoneInfoNotFoundError, ValueError):
            return error(400, "You entered invalid value for field: [timeZone].", 501)
        try:
            lo = self._instant(body.get("dateRangeStart"), tz)
            hi = self._instant(body.get("dateRangeEnd"), tz)
        except ValueError:
            return error(400, "You entered invalid value for field: [dateRange].", 501)
        if lo is None or hi is None:
            return error(400, "dateRangeStart and dateRangeEnd can't be empty.", 501)
        page, size = flt.get("page", 1), flt.get("pageSize", 50)
        if not isinstance(page, int) or not isinstance(size, int) or page < 1 or size < 1:
            return error(400, "You entered invalid value for field: [pageSize].", 501)
        column = flt.get("sortColumn", "DATE")
        descending = body.get("sortOrder", "DESCENDING") == "DESCENDING"
        zone_key = str(tz)
        with self._lock:
            ids = self._between(lo, hi, column, descending)
            rows = []
            for i in ids[(page - 1) * size : page * size]:
                cached = self._rows.setdefault(i, {})
                row = cached.get(zone_key)
                if row is None:
                    row = cached[zone_key] = json.dumps(
                        self._report_row(self.entries[i], tz), separators=(",", ":")
                    )
                rows.append(row)
        content = '{"totals":[],"timeentries":[' + ",".join(rows) + "]}"
        return Response(content, media_type=JSON)

    # -- indexes ---------------------------------------------------------------------

    def _between(
        self, lo: dt.datetime, hi: dt.datetime, column: str, descending: bool
    ) -> list[str]:
        """Ids of the entries starting in [lo, hi], sorted for a report: one sort per
        change of the data, none per page."""
        key = (self._version, lo, hi, column, descending)
        if self._window is not None and self._window[0] == key:
            return self._window[1]
        if self._index_dirty:
            self._index = sorted(
                (self.entries[i]["start"], i) for _, i in self._index if i in self.entries
            )
            self._index_dirty = False
        first = bisect.bisect_left(self._index, (lo, ""))
        last = bisect.bisect_right(self._index, (hi, "\uffff"))
        ids = [i for _, i in self._index[first:last]]
        if column == "ID":
            ids.sort()
        if descending:
            ids.reverse()
        self._window = (key, ids)
        return ids

    def _user_zone(self, user_id: str) -> dt.tzinfo:
        user = self.users.get(user_id)
        try:
            return ZoneInfo(user["settings"]["timeZone"]) if user else dt.UTC
        except (ZoneInfoNotFoundError, ValueError):
            return dt.UTC

    @staticmethod
    def _instant(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
        """A range bound as Clockify reads it: the instant given, re-read as a wall
        clock in the zone (the request's `timeZone`, or the user's)."""
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError(value)
        stamp = dt.datetime.fromisoformat(value)
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
        return stamp.replace(tzinfo=tz).astimezone(dt.UTC)
