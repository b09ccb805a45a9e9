"""Toggl Track emulator: the v9 time entry endpoints, the Reports API v3 detailed
search (paged by X-Next-ID / X-Next-Row-Number headers) and the Webhooks API v1
(subscriptions, the PING validation handshake, HMAC-SHA256 signed events).

    sandbox = TogglSandbox(seed=7, size=500)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)     # workspace_id, api_token (Basic <token>:api_token)
        httpx.post(f"{url}/reports/api/v3/workspace/{wid}/search/time_entries",
                   auth=(token, "api_token"), json={"start_date": "2026-10-01", ...})

Served paths (all behind Basic auth with the API token, except `validate`):
    GET    /api/v9/me
    GET    /api/v9/me/time_entries                    since, before, start_date/end_date, meta
    GET    /api/v9/me/time_entries/{id}               meta
    GET    /api/v9/workspaces/{wid}/users
    POST   /api/v9/workspaces/{wid}/time_entries
    PUT    /api/v9/workspaces/{wid}/time_entries/{id}
    DELETE /api/v9/workspaces/{wid}/time_entries/{id}
    POST   /reports/api/v3/workspace/{wid}/search/time_entries
    GET    /webhooks/api/v1/event_filters
    GET    /webhooks/api/v1/subscriptions/{wid}
    POST   /webhooks/api/v1/subscriptions/{wid}
    PUT    /webhooks/api/v1/subscriptions/{wid}/{sid}
    PATCH  /webhooks/api/v1/subscriptions/{wid}/{sid}     {"enabled": bool}
    DELETE /webhooks/api/v1/subscriptions/{wid}/{sid}
    POST   /webhooks/api/v1/ping/{wid}/{sid}
    GET    /webhooks/api/v1/validate/{wid}/{sid}/{code}

Rate limit: Toggl's quota is per user per hour (600 requests on Premium); over it the
sandbox answers 429 with `X-Toggl-Quota-Remaining: 0` and `X-Toggl-Quota-Resets-In`.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import hmac
import json
import math
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import Request, Response

from ..base import CONTROL, Delivery, RateLimit, Setup, TimeSandbox
from ..registry import register
from ..seed import WorkItem

DEFAULT_LIMIT = RateLimit(limit=600, window=3600.0)  # Premium plan, per user per hour
MAX_PAGE_SIZE = 1000
EVENT_FILTERS = {
    "client": ["created", "deleted", "updated"],
    "project": ["created", "deleted", "updated"],
    "tag": ["created", "deleted", "updated"],
    "task": ["created", "deleted", "updated"],
    "time_entry": ["created", "deleted", "updated"],
}
COLORS = ("#0b83d9", "#9e5bd9", "#d94182", "#e36a00", "#bf7000", "#2da608")


def _iso(moment: dt.datetime) -> str:
    """Toggl's v9 form: UTC with an explicit +00:00 offset."""
    return moment.astimezone(dt.UTC).isoformat()


def _text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Toggl's error body: the message as a JSON string."""
    return Response(
        json.dumps(message), status_code=status, media_type="application/json", headers=headers
    )


def _json(data: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


@register
class TogglSandbox(TimeSandbox):
    platform = "toggl"
    page_size = 50  # the Reports API's default page, which the connector asks for

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None = DEFAULT_LIMIT,
        timezone: str = "UTC",
    ) -> None:
        self._rng = random.Random(seed * 7919 + 1)
        self._lock = threading.RLock()
        self.workspace_id = self._rng.randint(1_000_000, 9_999_999)
        self.api_token = secrets.token_hex(16)
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.currency = "EUR"
        self._ids = self._rng.randint(3_000_000_000, 3_100_000_000)
        self._object_ids = self._rng.randint(10_000_000, 20_000_000)
        self._objects: dict[int, dict[str, Any]] = {}  # users, projects, tasks by id
        self.owner = self._user("Sandbox Admin", "admin@example.com")
        self.users: dict[str, dict[str, Any]] = {self.owner["email"]: self.owner}
        self.clients: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[tuple[int, str], dict[str, Any]] = {}
        self.tags: dict[str, int] = {}
        self.entries: dict[int, dict[str, Any]] = {}
        self.deleted: dict[int, dict[str, Any]] = {}
        self._by_start: list[tuple[int, int]] = []  # (start epoch, id), sorted lazily
        self._sorted = True
        self._version = 0
        self._queries: dict[tuple[Any, ...], list[int]] = {}
        self.subscriptions: dict[int, dict[str, Any]] = {}
        default_limit = rate_limit is DEFAULT_LIMIT
        super().__init__(
            seed=seed,
            size=size,
            items=items,
            rate_limit=RateLimit(600, 3600.0) if default_limit else rate_limit,
        )
        self.app.middleware("http")(self._quota_headers)
        self._routes()

    # -- the data ------------------------------------------------------------------

    def _next_id(self) -> int:
        self._object_ids += self._rng.randint(1, 97)
        return self._object_ids

    def _user(self, name: str, email: str) -> dict[str, Any]:
        uid = self._next_id()
        user: dict[str, Any] = {"id": uid, "fullname": name, "email": email}
        self._objects[uid] = user
        return user

    def _person(self, item: WorkItem) -> dict[str, Any]:
        user = self.users.get(item.email)
        if user is None:
            user = self.users[item.email] = self._user(item.person, item.email)
        return user

    def _project(self, item: WorkItem) -> tuple[dict[str, Any], dict[str, Any] | None]:
        client = self.clients.get(item.client)
        if client is None and item.client:
            client = self.clients[item.client] = {
                "id": self._next_id(),
                "name": item.client,
                "wid": self.workspace_id,
            }
        project = self.projects.get(item.project)
        if project is None:
            cents = 9000 + 500 * (len(self.projects) % 7)  # 90.00 .. 120.00 an hour
            project = self.projects[item.project] = {
                "id": self._next_id(),
                "name": item.project,
                "client_id": client["id"] if client else None,
                "client_name": client["name"] if client else None,
                "billable": True,
                "rate_cents": cents,
                "color": COLORS[len(self.projects) % len(COLORS)],
            }
            self._objects[project["id"]] = project
        task = None
        if item.task:
            task = self.tasks.get((project["id"], item.task))
            if task is None:
                task = self.tasks[(project["id"], item.task)] = {
                    "id": self._next_id(),
                    "name": item.task,
                    "project_id": project["id"],
                }
                self._objects[task["id"]] = task
        return project, task

    def _tag(self, name: str) -> int:
        if name not in self.tags:
            self.tags[name] = self._next_id()
        return self.tags[name]

    def _changed(self) -> None:
        self._version += 1
        self._queries.clear()

    def _store(self, entry: dict[str, Any]) -> None:
        self.entries[entry["id"]] = entry
        self._by_start.append((entry["_start"], entry["id"]))
        if len(self._by_start) > 1 and self._by_start[-2] > self._by_start[-1]:
            self._sorted = False
        self._changed()

    def _unindex(self, entry: dict[str, Any]) -> None:
        self._ensure_sorted()
        key = (entry["_start"], entry["id"])
        at = bisect.bisect_left(self._by_start, key)
        if at < len(self._by_start) and self._by_start[at] == key:
            del self._by_start[at]

    def _ensure_sorted(self) -> None:
        if not self._sorted:
            self._by_start.sort()
            self._sorted = True

    def _entry(
        self,
        *,
        user: dict[str, Any],
        project: dict[str, Any] | None,
        task: dict[str, Any] | None,
        start: dt.datetime,
        seconds: int,
        description: str,
        billable: bool,
        tags: list[str],
        at: dt.datetime,
        entry_id: int | None = None,
    ) -> dict[str, Any]:
        if entry_id is None:
            self._ids += 1 + self._rng.randint(0, 9)
            entry_id = self._ids
        running = seconds < 0
        stop = None if running else _iso(start + dt.timedelta(seconds=seconds))
        return {
            "id": entry_id,
            "workspace_id": self.workspace_id,
            "project_id": project["id"] if project else None,
            "task_id": task["id"] if task else None,
            "billable": billable,
            "start": _iso(start),
            "stop": stop,
            "duration": -1 if running else seconds,
            "description": description or None,
            "tags": list(tags),
            "tag_ids": [self._tag(t) for t in tags] or None,
            "duronly": True,
            "at": _iso(at),
            "server_deleted_at": None,
            "user_id": user["id"],
            "uid": user["id"],
            "wid": self.workspace_id,
            "pid": project["id"] if project else None,
            "tid": task["id"] if task else None,
            "permissions": [],
            "_start": int(start.timestamp()),
            "_at": at,
        }

    # -- the remote control (TimeSandbox) -------------------------------------------

    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        with self._lock:
            project, task = self._project(item)
            entry = self._entry(
                user=self._person(item),
                project=project,
                task=task,
                start=item.start,
                seconds=item.seconds,
                description=item.notes,
                billable=item.billable,
                tags=["approved"] if item.approved else [],
                at=at or dt.datetime.now(dt.UTC),
            )
            self._store(entry)
        if notify:
            self._notify(entry, "created", "POST")
        return str(entry["id"])

    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        with self._lock:
            entry = self.entries[int(external_id)]
            start = dt.datetime.fromisoformat(entry["start"])
            entry["duration"] = seconds
            entry["stop"] = _iso(start + dt.timedelta(seconds=seconds))
            entry["_at"] = at or dt.datetime.now(dt.UTC)
            entry["at"] = _iso(entry["_at"])
            self._changed()
        if notify:
            self._notify(entry, "updated", "PUT")

    def remove(self, external_id: str, *, notify: bool = True) -> None:
        with self._lock:
            entry = self.entries.pop(int(external_id))
            self._unindex(entry)
            now = dt.datetime.now(dt.UTC)
            entry["server_deleted_at"] = _iso(now)
            entry["_at"], entry["at"] = now, _iso(now)
            self.deleted[entry["id"]] = entry
            self._changed()
        if notify:
            self._notify(entry, "deleted", "DELETE")

    def ids(self) -> set[str]:
        with self._lock:
            return {str(i) for i in self.entries}

    def credentials(self) -> dict[str, str]:
        return {"api_token": self.api_token, "workspace_id": str(self.workspace_id)}

    def setup(self, base_url: str) -> Setup:
        self._base_url = base_url.rstrip("/")  # where validation_code_url points
        return Setup(
            settings={"workspace_id": str(self.workspace_id), "approved_tag": "approved"},
            credentials={"api_token": self.api_token},
        )

    def subscribe(self, url: str) -> str | None:
        """Create a subscription as POST /subscriptions would, then validate it the
        way Toggl does: a signed PING with a validation_code the receiver echoes."""
        with self._lock:
            subscription = self._subscription(
                {
                    "url_callback": url,
                    "event_filters": [{"entity": "time_entry", "action": "*"}],
                    "enabled": True,
                    "description": f"billsync {len(self.subscriptions) + 1}",
                }
            )
        self._ping(subscription)
        return str(subscription["secret"])

    # -- webhooks ------------------------------------------------------------------

    def _subscription(self, body: Mapping[str, Any]) -> dict[str, Any]:
        now = _iso(dt.datetime.now(dt.UTC))
        sid = self._next_id()
        subscription = {
            "subscription_id": sid,
            "workspace_id": self.workspace_id,
            "user_id": self.owner["id"],
            "enabled": bool(body.get("enabled", True)),
            "description": body["description"],
            "event_filters": list(body["event_filters"]),
            "url_callback": body["url_callback"],
            "secret": body.get("secret") or secrets.token_urlsafe(15),
            "validated_at": None,
            "has_pending_events": False,
            "created_at": now,
            "updated_at": None,
            "deleted_at": None,
            "_code": secrets.token_hex(16),
        }
        self.subscriptions[sid] = subscription
        return subscription

    @staticmethod
    def _public(subscription: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in subscription.items() if not k.startswith("_")}

    @staticmethod
    def _signed(
        subscription: Mapping[str, Any], event: Mapping[str, Any]
    ) -> tuple[bytes, dict[str, str]]:
        """The raw body, unformatted as Toggl sends it, and its HMAC-SHA256 signature
        keyed with the subscription's secret: `X-Webhook-Signature-256: sha256=<hex>`."""
        body = json.dumps(event, separators=(",", ":")).encode()
        digest = hmac.new(str(subscription["secret"]).encode(), body, hashlib.sha256).hexdigest()
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "Toggl-Webhooks-Sandbox",
            "X-Webhook-Signature-256": f"sha256={digest}",
        }

    def _send(self, subscription: Mapping[str, Any], event: Mapping[str, Any]) -> None:
        body, headers = self._signed(subscription, event)
        self.deliver(str(subscription["url_callback"]), body, headers)

    def _envelope(self, subscription: Mapping[str, Any], **more: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "event_id": more.pop("event_id", 0),
            "created_at": now,
            "creator_id": self.owner["id"],
            "metadata": more.pop("metadata"),
            "payload": more.pop("payload"),
            "subscription_id": subscription["subscription_id"],
            "timestamp": now,
            "url_callback": subscription["url_callback"],
            **more,
        }

    def _ping(self, subscription: dict[str, Any]) -> None:
        """The PING. For a subscription not yet validated it carries a
        `validation_code`: answering 2xx with {"validation_code": <the code>}
        validates it at once; otherwise the receiver may GET the validation_code_url
        later. (Sent directly, not through `deliver`: the answer's body matters
        here, and a handshake is not dropped or doubled.)"""
        code = subscription["_code"]
        validating = subscription["validated_at"] is None
        more: dict[str, Any] = {}
        if validating:
            more["validation_code"] = code
            more["validation_code_url"] = (
                f"{self._base_url}/webhooks/api/v1/validate/"
                f"{self.workspace_id}/{subscription['subscription_id']}/{code}"
            )
        event = self._envelope(
            subscription,
            metadata={"request_type": "POST", "event_user_id": self.owner["id"]},
            payload="ping",
            **more,
        )
        body, headers = self._signed(subscription, event)
        url = str(subscription["url_callback"])
        try:
            reply = httpx.post(url, content=body, headers=headers, timeout=10)
        except httpx.HTTPError:
            self.deliveries.append(Delivery(url, body, headers, None))
            return
        self.deliveries.append(Delivery(url, body, headers, reply.status_code))
        try:
            echoed = json.loads(reply.content).get("validation_code")
        except (ValueError, AttributeError):
            echoed = None
        if validating and 200 <= reply.status_code < 300 and echoed == code:
            with self._lock:
                if subscription["validated_at"] is None:
                    subscription["validated_at"] = _iso(dt.datetime.now(dt.UTC))

    def _notify(self, entry: Mapping[str, Any], action: str, method: str) -> None:
        for subscription in list(self.subscriptions.values()):
            if not subscription["enabled"] or subscription["validated_at"] is None:
                continue
            if not any(
                f.get("entity") in ("time_entry", "*") and f.get("action") in (action, "*")
                for f in subscription["event_filters"]
            ):
                continue
            payload = self._public_entry(entry)
            path = f"/api/v9/workspaces/{self.workspace_id}/time_entries/{entry['id']}"
            metadata = {
                "action": action,
                "event_user_id": str(self.owner["id"]),
                "model": "time_entry",
                "model_owner_id": str(entry["user_id"]),
                "path": path if action != "created" else path.rsplit("/", 1)[0],
                "request_body": json.dumps({"duration": entry["duration"]}),
                "request_type": method,
                "time_entry_id": str(entry["id"]),
                "workspace_id": str(self.workspace_id),
            }
            event_id = int(dt.datetime.now(dt.UTC).timestamp() * 1e6) * 10 + self.random.randint(
                0, 9
            )
            self._send(
                subscription,
                self._envelope(subscription, event_id=event_id, metadata=metadata, payload=payload),
            )

    # -- serving -------------------------------------------------------------------

    _base_url = "http://127.0.0.1"

    def _authorized(self, request: Request) -> bool:
        self._base_url = f"{request.url.scheme}://{request.url.netloc}"
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return password == "api_token" and hmac.compare_digest(user, self.api_token)

    async def _quota_headers(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Toggl's quota headers on every answer: what is left of the hour's requests
        and the seconds until the oldest one leaves the sliding window."""
        response = await call_next(request)
        limit = self.rate_limit
        if limit is None or "x-toggl-quota-remaining" in response.headers:
            return response
        if request.url.path.startswith(CONTROL):
            return response
        key, now = self.credential_key(request), time.monotonic()
        with limit._lock:  # the base RateLimit keeps its hits per key
            hits = list(limit._hits.get(key, ()))
        live = [hit for hit in hits if hit > now - limit.window]
        resets = live[0] + limit.window - now if live else limit.window
        response.headers["X-Toggl-Quota-Remaining"] = str(max(limit.limit - len(live), 0))
        response.headers["X-Toggl-Quota-Resets-In"] = str(max(1, math.ceil(resets)))
        return response

    def throttled(self, retry_after: float) -> Response:
        resets = str(max(1, math.ceil(retry_after)))
        return _text(
            429,
            "Too Many Requests",
            {"X-Toggl-Quota-Remaining": "0", "X-Toggl-Quota-Resets-In": resets},
        )

    def server_error(self, status: int) -> Response:
        return _text(status, "Internal Server Error")

    def _public_entry(self, entry: Mapping[str, Any], meta: bool = False) -> dict[str, Any]:
        # the legacy pid/tid are left out when empty, as Toggl's own payloads show
        out = {
            k: v
            for k, v in entry.items()
            if not k.startswith("_") and not (k in ("pid", "tid") and v is None)
        }
        if meta:
            project = self._project_by_id(entry["project_id"])
            user = self._user_by_id(entry["user_id"])
            if project is not None:
                out.update(
                    client_name=project["client_name"],
                    project_name=project["name"],
                    project_color=project["color"],
                    project_active=True,
                    project_billable=project["billable"],
                )
            task = self._task_by_id(entry["task_id"])
            if task is not None:
                out["task_name"] = task["name"]
            if user is not None:
                out["user_name"] = user["fullname"]
        return out

    def _project_by_id(self, pid: int | None) -> dict[str, Any] | None:
        found = self._objects.get(pid) if pid else None
        return found if found is not None and "client_id" in found else None

    def _task_by_id(self, tid: int | None) -> dict[str, Any] | None:
        found = self._objects.get(tid) if tid else None
        return found if found is not None and "project_id" in found else None

    def _user_by_id(self, uid: int | None) -> dict[str, Any] | None:
        found = self._objects.get(uid) if uid else None
        return found if found is not None and "email" in found else None

    def _row(self, entry: Mapping[str, Any], row_number: int, hide: bool) -> dict[str, Any]:
        """One ungrouped detailed-report row (detailed.GroupedTimeEntry)."""
        project = self._project_by_id(entry["project_id"])
        task = self._task_by_id(entry["task_id"])
        user = self._user_by_id(entry["user_id"]) or {}
        seconds = entry["duration"]
        rate = project["rate_cents"] if project else 0
        start = dt.datetime.fromisoformat(entry["start"]).astimezone(self.zone)
        stop = dt.datetime.fromisoformat(entry["stop"]).astimezone(self.zone)
        # Every field is always there, as Toggl's report rows have them (no nulls):
        # an absent project or task is 0 and "", a non-billable entry earns 0.
        row: dict[str, Any] = {
            "user_id": entry["user_id"],
            "username": user.get("fullname", ""),
            "email": user.get("email", ""),
            "project_id": project["id"] if project else 0,
            "project_name": project["name"] if project else "",
            "project_color": project["color"] if project else "",
            "project_hex": project["color"] if project else "",
            "client_name": (project["client_name"] or "") if project else "",
            "task_id": task["id"] if task else 0,
            "task_name": task["name"] if task else "",
            "description": entry["description"] or "",
            "billable": entry["billable"],
            "tag_ids": entry["tag_ids"] or [],
            "tag_names": entry["tags"],
            "row_number": row_number,
            "time_entries": [
                {
                    "id": entry["id"],
                    "seconds": seconds,
                    "start": start.isoformat(),
                    "stop": stop.isoformat(),
                    "at": entry["at"],
                    "at_tz": entry["_at"].astimezone(self.zone).isoformat(),
                }
            ],
        }
        if not hide:
            row["currency"] = self.currency
            row["hourly_rate_in_cents"] = rate
            row["billable_amount_in_cents"] = (
                int((Decimal(rate) * seconds / 3600).to_integral_value())
                if entry["billable"]
                else 0
            )
        return row

    def _day_bounds(self, first: dt.date, last: dt.date) -> tuple[int, int]:
        lo = dt.datetime.combine(first, dt.time(), self.zone)
        hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), self.zone)
        return int(lo.timestamp()), int(hi.timestamp())

    def _search(self, body: Mapping[str, Any]) -> list[int] | str:
        """The ordered ids of one detailed search (cached until the data changes)."""
        try:
            first = dt.date.fromisoformat(str(body.get("start_date") or ""))
        except ValueError:
            return "Invalid 'start_date' value"
        end = body.get("end_date")
        try:
            last = dt.date.fromisoformat(str(end)) if end else first + dt.timedelta(days=6)
        except ValueError:
            return "Invalid 'end_date' value"
        if last < first:
            return "end_date must not be earlier than start_date"
        if (last - first).days >= 366:
            return "The maximum date range is one year"
        order_by = body.get("order_by") or "date"
        if order_by not in ("date", "user", "duration", "description", "last_update"):
            return (
                "Invalid 'order_by' value, allowed values are: "
                "'date', 'user', 'duration', 'description', 'last_update'"
            )
        order_dir = str(body.get("order_dir") or "ASC").upper()
        if order_dir not in ("ASC", "DESC"):
            return "Invalid 'order_dir' value, allowed values are: 'ASC', 'DESC'"
        filters = tuple(
            (name, tuple(body[name]) if isinstance(body[name], list) else body[name])
            for name in ("time_entry_ids", "user_ids", "project_ids", "billable", "description")
            if body.get(name) is not None
        )
        key = (first, last, order_by, order_dir, filters)
        cached = self._queries.get(key)
        if cached is not None:
            return cached
        self._ensure_sorted()
        lo, hi = self._day_bounds(first, last)
        window = self._by_start[
            bisect.bisect_left(self._by_start, (lo, -1)) : bisect.bisect_left(
                self._by_start, (hi, -1)
            )
        ]
        wanted = dict(filters)
        found = [
            self.entries[i]
            for _, i in window
            if self.entries[i]["duration"] >= 0 and self._matches(self.entries[i], wanted)
        ]
        if order_by == "last_update":
            found.sort(key=lambda e: (e["_at"], e["id"]))
        elif order_by == "user":
            found.sort(key=lambda e: (self._user_by_id(e["user_id"]) or {}).get("fullname", ""))
        elif order_by == "duration":
            found.sort(key=lambda e: e["duration"])
        elif order_by == "description":
            found.sort(key=lambda e: e["description"] or "")
        ids = [e["id"] for e in found]
        if order_dir == "DESC":
            ids.reverse()
        self._queries[key] = ids
        return ids

    @staticmethod
    def _matches(entry: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
        if "time_entry_ids" in wanted and entry["id"] not in wanted["time_entry_ids"]:
            return False
        if "user_ids" in wanted and entry["user_id"] not in wanted["user_ids"]:
            return False
        if "project_ids" in wanted and entry["project_id"] not in wanted["project_ids"]:
            return False
        if "billable" in wanted and entry["billable"] != wanted["billable"]:
            return False
        return not (
            "description" in wanted
            and str(wanted["description"]).lower() not in (entry["description"] or "").lower()
        )

    def _routes(self) -> None:
        app, wid_ok = self.app, self._workspace

        @app.get("/api/v9/me")
        async def me(request: Request) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            return _json(self._me())

        @app.get("/api/v9/me/time_entries")
        async def my_entries(request: Request) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            q = request.query_params
            meta = q.get("meta") == "true"
            with self._lock:
                chosen = self._mine(q)
                if isinstance(chosen, str):
                    return _text(400, chosen)
                return _json([self._public_entry(e, meta) for e in chosen])

        @app.get("/api/v9/me/time_entries/{entry_id}")
        async def my_entry(request: Request, entry_id: str) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            entry = self.entries.get(int(entry_id)) if entry_id.isdigit() else None
            if entry is None:
                return _text(404, "Resource can not be found")
            return _json(self._public_entry(entry, request.query_params.get("meta") == "true"))

        @app.get("/api/v9/workspaces/{wid}/users")
        async def users(request: Request, wid: str) -> Response:
            if (denied := wid_ok(request, wid)) is not None:
                return denied
            return _json(
                [
                    {"id": u["id"], "email": u["email"], "fullname": u["fullname"]}
                    for u in self.users.values()
                ]
            )

        @app.post("/api/v9/workspaces/{wid}/time_entries")
        async def create(request: Request, wid: str) -> Response:
            body = await self._workspace_body(request, wid)
            if isinstance(body, Response):
                return body
            made = self._create(body)
            if isinstance(made, str):
                return _text(400, made)
            self._background(made, "created", "POST")
            return _json(self._public_entry(made))

        @app.put("/api/v9/workspaces/{wid}/time_entries/{entry_id}")
        async def update(request: Request, wid: str, entry_id: str) -> Response:
            body = await self._workspace_body(request, wid)
            if isinstance(body, Response):
                return body
            with self._lock:
                entry = self.entries.get(int(entry_id)) if entry_id.isdigit() else None
                if entry is None:
                    return _text(404, "Time entry not found")
                changed = self._update(entry, body)
                if isinstance(changed, str):
                    return _text(400, changed)
            self._background(entry, "updated", "PUT")
            return _json(self._public_entry(entry))

        @app.delete("/api/v9/workspaces/{wid}/time_entries/{entry_id}")
        async def delete(request: Request, wid: str, entry_id: str) -> Response:
            if (denied := wid_ok(request, wid)) is not None:
                return denied
            entry = self.entries.get(int(entry_id)) if entry_id.isdigit() else None
            if entry is None:
                return _text(404, "Time entry not found")
            self.remove(entry_id, notify=False)
            self._background(entry, "deleted", "DELETE")
            return Response(status_code=200)

        @app.post("/reports/api/v3/workspace/{wid}/search/time_entries")
        async def detailed(request: Request, wid: str) -> Response:
            body = await self._workspace_body(request, wid)
            if isinstance(body, Response):
                return body
            return self._detailed(body)

        @app.get("/webhooks/api/v1/event_filters")
        async def event_filters(request: Request) -> Response:
            if not self._authorized(request):
                return self._unauthorized()
            return _json(EVENT_FILTERS)

        @app.get("/webhooks/api/v1/subscriptions/{wid}")
        async def list_subscriptions(request: Request, wid: str) -> Response:
            if (denied := self._hooks(request, wid)) is not None:
                return denied
            return _json([self._public(s) for s in self.subscriptions.values()])

        @app.post("/webhooks/api/v1/subscriptions/{wid}")
        async def create_subscription(request: Request, wid: str) -> Response:
            if (denied := self._hooks(request, wid)) is not None:
                return denied
            body = await self._body(request)
            if isinstance(body, Response):
                return body
            problem = self._subscription_problem(body)
            if problem:
                return _text(400, problem)
            with self._lock:
                subscription = self._subscription(body)
            threading.Thread(target=self._ping, args=(subscription,), daemon=True).start()
            return _json(self._public(subscription))

        @app.put("/webhooks/api/v1/subscriptions/{wid}/{sid}")
        async def update_subscription(request: Request, wid: str, sid: str) -> Response:
            change = await self._subscription_change(request, wid, sid)
            if isinstance(change, Response):
                return change
            subscription, body = change
            with self._lock:
                others = {k: v for k, v in self.subscriptions.items() if k != int(sid)}
                problem = self._subscription_problem(body, others.values())
                if problem:
                    return _text(400, problem)
                if body["url_callback"] != subscription["url_callback"]:
                    subscription["validated_at"] = None  # a new URL is validated again
                for name in ("url_callback", "event_filters", "description"):
                    subscription[name] = body[name]
                subscription["enabled"] = bool(body.get("enabled", subscription["enabled"]))
                if body.get("secret"):
                    subscription["secret"] = body["secret"]
                subscription["updated_at"] = _iso(dt.datetime.now(dt.UTC))
            return _json(self._public(subscription))

        @app.patch("/webhooks/api/v1/subscriptions/{wid}/{sid}")
        async def toggle_subscription(request: Request, wid: str, sid: str) -> Response:
            change = await self._subscription_change(request, wid, sid)
            if isinstance(change, Response):
                return change
            subscription, body = change
            if not isinstance(body.get("enabled"), bool):
                return _text(400, "enabled is required")
            subscription["enabled"] = body["enabled"]
            subscription["updated_at"] = _iso(dt.datetime.now(dt.UTC))
            return _json(self._public(subscription))

        @app.delete("/webhooks/api/v1/subscriptions/{wid}/{sid}")
        async def delete_subscription(request: Request, wid: str, sid: str) -> Response:
            subscription = self._subscription_of(request, wid, sid, remove=True)
            if isinstance(subscription, Response):
                return subscription
            subscription["deleted_at"] = _iso(dt.datetime.now(dt.UTC))
            return _json(self._public(subscription))

        @app.post("/webhooks/api/v1/ping/{wid}/{sid}")
        async def ping(request: Request, wid: str, sid: str) -> Response:
            subscription = self._subscription_of(request, wid, sid)
            if isinstance(subscription, Response):
                return subscription
            threading.Thread(target=self._ping, args=(subscription,), daemon=True).start()
            return _json("OK")

        @app.get("/webhooks/api/v1/validate/{wid}/{sid}/{code}")
        async def validate(wid: str, sid: str, code: str) -> Response:
            subscription = self.subscriptions.get(int(sid)) if sid.isdigit() else None
            if (
                subscription is None
                or wid != str(self.workspace_id)
                or not hmac.compare_digest(code, subscription["_code"])
            ):
                return _text(
                    400,
                    f"subscription {sid} for workspace {wid} and validation code "
                    f"'{code}' was not found",
                )
            if subscription["validated_at"] is not None:
                return _text(400, f"subscription {sid} has already been validated")
            subscription["validated_at"] = _iso(dt.datetime.now(dt.UTC))
            return _json("OK")

    # -- route helpers -------------------------------------------------------------

    def _unauthorized(self) -> Response:
        return _text(401, "Incorrect username and/or password")

    def _subscription_of(
        self, request: Request, wid: str, sid: str, *, remove: bool = False
    ) -> dict[str, Any] | Response:
        """A subscription by its id (with `remove`, taken out); Toggl's refusal or 404."""
        if (denied := self._hooks(request, wid)) is not None:
            return denied
        found = None
        if sid.isdigit():
            key = int(sid)
            found = self.subscriptions.pop(key, None) if remove else self.subscriptions.get(key)
        if found is None:
            return _text(404, f"subscription {sid} was not found")
        return found

    async def _subscription_change(
        self, request: Request, wid: str, sid: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        """A subscription and the change asked for it; Toggl's refusal, 404 or 400."""
        subscription = self._subscription_of(request, wid, sid)
        if isinstance(subscription, Response):
            return subscription
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        return subscription, body

    def _hooks(self, request: Request, wid: str) -> Response | None:
        """The Webhooks API's checks: its 403 words it differently from v9's."""
        if not self._authorized(request):
            return self._unauthorized()
        if wid != str(self.workspace_id):
            return _text(403, "User not found/accessible for workspace")
        return None

    def _workspace(self, request: Request, wid: str) -> Response | None:
        if not self._authorized(request):
            return self._unauthorized()
        if wid != str(self.workspace_id):
            return _text(403, "Workspace not found/accessible")
        return None

    async def _workspace_body(self, request: Request, wid: str) -> dict[str, Any] | Response:
        """A call's JSON object, for the caller's own workspace; else Toggl's refusal."""
        denied = self._workspace(request, wid)
        return denied if denied is not None else await self._body(request)

    @staticmethod
    async def _body(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _text(400, "Invalid JSON input")
        if not isinstance(body, dict):
            return _text(400, "Invalid JSON input")
        return body

    def _background(self, entry: Mapping[str, Any], action: str, method: str) -> None:
        """Webhooks go out after the answer, as Toggl's do (never from the event loop)."""
        threading.Thread(target=self._notify, args=(entry, action, method), daemon=True).start()

    def _me(self) -> dict[str, Any]:
        created = "2024-01-08T09:12:44.123456Z"
        return {
            "id": self.owner["id"],
            "api_token": self.api_token,
            "email": self.owner["email"],
            "fullname": self.owner["fullname"],
            "timezone": self.timezone,
            "toggl_accounts_id": base64.urlsafe_b64encode(
                hashlib.sha256(self.api_token.encode()).digest()[:16]
            )
            .decode()
            .rstrip("="),
            "default_workspace_id": self.workspace_id,
            "beginning_of_week": 1,
            "image_url": "https://assets.track.toggl.com/images/profile.png",
            "created_at": created,
            "updated_at": created,
            "openid_email": None,
            "openid_enabled": False,
            "country_id": None,
            "has_password": True,
            "at": created,
            "intercom_hash": hashlib.sha256(str(self.owner["id"]).encode()).hexdigest(),
            "oauth_providers": [],
            "authorization_updated_at": created,
        }

    def _mine(self, q: Mapping[str, str]) -> list[dict[str, Any]] | str:
        """GET /me/time_entries: the token owner's entries; `since` includes deleted."""
        own = self.owner["id"]
        if q.get("since"):
            if not q["since"].isdigit():
                return "Invalid since"
            since = dt.datetime.fromtimestamp(int(q["since"]), dt.UTC)
            pool = [*self.entries.values(), *self.deleted.values()]
            chosen = [e for e in pool if e["user_id"] == own and e["_at"] >= since]
        else:
            chosen = [e for e in self.entries.values() if e["user_id"] == own]
            if q.get("start_date") and q.get("end_date"):
                try:
                    lo = self._moment(q["start_date"])
                    hi = self._moment(q["end_date"])
                except ValueError:
                    return "Invalid start_date or end_date"
                chosen = [e for e in chosen if lo <= e["_start"] < hi]
            elif q.get("start_date") or q.get("end_date"):
                return "At least one parameter must be set: start_date and end_date go together"
            if q.get("before"):
                try:
                    before = self._moment(q["before"])
                except ValueError:
                    return "Invalid before"
                chosen = [e for e in chosen if e["_start"] < before]
        chosen.sort(key=lambda e: e["_start"], reverse=True)
        return chosen[:1000]

    def _moment(self, text: str) -> int:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return int(dt.datetime.combine(day, dt.time(), self.zone).timestamp())
        return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())

    def _create(self, body: Mapping[str, Any]) -> dict[str, Any] | str:
        if body.get("workspace_id", body.get("wid")) not in (None, self.workspace_id):
            return "Workspace ID in the body does not match the path"
        if not isinstance(body.get("created_with"), str) or not body["created_with"]:
            return "created_with needs to be provided an a valid string"
        try:
            start = dt.datetime.fromisoformat(str(body["start"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            return "Invalid start time"
        if start.tzinfo is None:
            return "Invalid start time"
        seconds = body.get("duration")
        if body.get("stop"):
            stop = dt.datetime.fromisoformat(str(body["stop"]).replace("Z", "+00:00"))
            seconds = int((stop - start).total_seconds())
        if not isinstance(seconds, int):
            return "duration or stop is required"
        with self._lock:
            project = self._project_by_id(body.get("project_id", body.get("pid")))
            user = self._user_by_id(body.get("user_id")) or self.owner
            task = self._task_by_id(body.get("task_id", body.get("tid")))
            entry = self._entry(
                user=user,
                project=project,
                task=task,
                start=start,
                seconds=seconds,
                description=str(body.get("description") or ""),
                billable=bool(body.get("billable", False)),
                tags=[str(t) for t in body.get("tags") or []],
                at=dt.datetime.now(dt.UTC),
            )
            self._store(entry)
        return entry

    def _update(self, entry: dict[str, Any], body: Mapping[str, Any]) -> bool | str:
        if "description" in body:
            entry["description"] = body["description"] or None
        if "billable" in body:
            entry["billable"] = bool(body["billable"])
        if "tags" in body:
            entry["tags"] = [str(t) for t in body["tags"] or []]
            entry["tag_ids"] = [self._tag(t) for t in entry["tags"]] or None
        if "start" in body or "duration" in body or "stop" in body:
            self._unindex(entry)
            start = dt.datetime.fromisoformat(
                str(body.get("start", entry["start"])).replace("Z", "+00:00")
            )
            seconds = body.get("duration", entry["duration"])
            if body.get("stop"):
                stop = dt.datetime.fromisoformat(str(body["stop"]).replace("Z", "+00:00"))
                seconds = int((stop - start).total_seconds())
            if not isinstance(seconds, int):
                return "Invalid duration"
            entry["start"], entry["_start"] = _iso(start), int(start.timestamp())
            entry["duration"] = seconds if seconds >= 0 else -1
            entry["stop"] = _iso(start + dt.timedelta(seconds=seconds)) if seconds >= 0 else None
            self._by_start.append((entry["_start"], entry["id"]))
            self._sorted = False
        entry["_at"] = dt.datetime.now(dt.UTC)
        entry["at"] = _iso(entry["_at"])
        self._changed()
        return True

    def _subscription_problem(
        self, body: Mapping[str, Any], others: Iterable[Mapping[str, Any]] | None = None
    ) -> str | None:
        url = body.get("url_callback")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return "url_callback must be a valid URL"
        if not isinstance(body.get("description"), str) or not body["description"]:
            return "description is required"
        existing = self.subscriptions.values() if others is None else others
        if any(s["description"] == body["description"] for s in existing):
            return "a subscription with this description already exists in the workspace"
        filters = body.get("event_filters")
        if not isinstance(filters, list) or not filters:
            return "at least one event filter is required"
        for f in filters:
            entity, action = (f.get("entity"), f.get("action")) if isinstance(f, dict) else (0, 0)
            if entity != "*" and entity not in EVENT_FILTERS:
                return f"invalid event filter entity {entity!r}"
            if action != "*" and action not in ("created", "updated", "deleted"):
                return f"invalid event filter action {action!r}"
        return None

    def _detailed(self, body: Mapping[str, Any]) -> Response:
        size = body.get("page_size", 50)
        if not isinstance(size, int) or size < 1:
            return _text(400, "Invalid 'page_size' value")
        size = min(size, MAX_PAGE_SIZE)
        first_row = body.get("first_row_number") or 1
        if not isinstance(first_row, int) or first_row < 1:
            return _text(400, "Invalid 'first_row_number' value")
        hide = bool(body.get("hide_amounts"))
        with self._lock:
            found = self._search(body)
            if isinstance(found, str):
                return _text(400, found)
            chosen = found[first_row - 1 : first_row - 1 + size]
            rows = [self._row(self.entries[i], first_row + n, hide) for n, i in enumerate(chosen)]
            headers = {}
            following = first_row - 1 + size
            if following < len(found):
                headers["X-Next-ID"] = str(found[following])
                headers["X-Next-Row-Number"] = str(following + 1)
        first, last = body.get("start_date"), body.get("end_date") or body.get("start_date")
        headers["X-Range-Start"], headers["X-Range-End"] = str(first), str(last)
        return _json(rows, headers=headers)
