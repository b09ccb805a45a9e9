"""Xero emulator: the Projects API (time), the Accounting API (invoices, contacts), the
identity server (OAuth2 authorize and token), `GET /connections` and webhooks, in the
formats Xero documents (XeroAPI/Xero-OpenAPI: xero-projects.yaml, xero_accounting.yaml,
xero-identity.yaml, xero-webhooks.yaml).

    sandbox = XeroSandbox(seed=7, size=500)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)     # settings {tenant_id, auth_url}, client id/secret, token
        GET {url}/projects.xro/2.0/Projects/{projectId}/Time?page=1&pageSize=500
            Authorization: Bearer ...   xero-tenant-id: ...

Every API call needs a live bearer token (else 401 with Xero's problem body) and the
connected tenant's `xero-tenant-id` (else 403). Lists page as Xero pages them
(`pagination` {page, pageSize, pageCount, itemCount}; Projects API pageSize 1..500,
default 50). Xero's limits per tenant by default: 60 calls a minute, 5,000 a day and 5
at once, answered over a limit with 429, `Retry-After` and `X-Rate-Limit-Problem`
(`minute`, `day`, `concurrent`). Creates honour `Idempotency-Key`: a
repeated key gets the first answer again. Invoice and contact changes are sent to
subscribed webhooks, signed `x-xero-signature: base64(HMAC-SHA256(webhook key, body))`;
Xero sends no webhooks for project time, and neither does this sandbox.

Time entries are kept by id and, per project, in `dateUtc` order (sorted again only
after a change, never per request), so a page is a slice.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import string
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse

from ..base import AccountingSandbox, RateLimit, Setup, TimeSandbox, token
from ..oauth import Grants, client_credentials
from ..registry import register
from ..seed import WorkItem

PROJECTS = "/projects.xro/2.0"
ACCOUNTING = "/api.xro/2.0"
ACCESS_SECONDS = 1800  # Xero access tokens live 30 minutes
REFRESH_GRACE = 1800  # a used refresh token may be used again for 30 minutes
INVOICES_PER_PAGE = 100
CONTACTS_PER_PAGE = 100
CENT = Decimal("0.01")
ENTRY_STATES = ("ACTIVE", "LOCKED", "INVOICED")
SCOPES = "offline_access projects projects.read accounting.invoices accounting.contacts"
DEFAULT_TAX_RATES = {  # Demo Company (NZ): GST on income 15 %
    "OUTPUT2": Decimal("15"),
    "NONE": Decimal("0"),
    "ZERORATEDOUTPUT": Decimal("0"),
    "EXEMPTOUTPUT": Decimal("0"),
}
ACCOUNTS = {"200": "OUTPUT2", "260": "OUTPUT2", "270": "NONE"}  # revenue accounts, default tax
_DOCUMENTED = RateLimit(limit=60, window=60.0)  # marker: "Xero's own limit"


# -- JSON in Xero's shapes ---------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON with Decimal amounts as exact numbers."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def reply(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(value), status, dict(headers or {}), media_type="application/json")


def ms_date(stamp: dt.datetime) -> str:
    """Xero's Microsoft JSON date: /Date(1552327126117+0000)/."""
    return f"/Date({int(stamp.timestamp() * 1000)}+0000)/"


def iso_z(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_z_fraction(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<offset>[+-]\d{4})?\)/$")


def xero_date(text: str) -> dt.date | None:
    """A date as Xero takes one: 2026-11-02, 2026-11-02T00:00:00, or /Date(ms+0000)/."""
    match = MS_DATE.match(text.strip())
    if match:
        return dt.datetime.fromtimestamp(int(match["ms"]) / 1000, dt.UTC).date()
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None


def parse_utc(text: str) -> str | None:
    """A dateAfterUtc/dateBeforeUtc value in the stored form, or None if it is not one."""
    try:
        stamp = dt.datetime.fromisoformat(text.strip().replace(" ", "+"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return iso_z(stamp)


def projects_error(
    message: str, status: int = 400, model: Mapping[str, list[str]] | None = None
) -> Response:
    """The Projects API's error: {"message", "modelState"}."""
    return reply({"message": message, "modelState": dict(model or {})}, status)


def problem(status: int, title: str, detail: str) -> Response:
    """The API gateway's answer to a bad token or tenant (what Xero sends on 401/403)."""
    body: dict[str, Any] = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return reply(body, status)


def validation_error(elements: list[dict[str, Any]]) -> Response:
    """The Accounting API's 400: an ApiException with the failing elements."""
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": elements,
    }
    return reply(body, 400)


def accounting_error(status: int, kind: str, message: str) -> Response:
    number = {400: 10, 404: 20, 500: 500}.get(status, status)
    return reply({"ErrorNumber": number, "Type": kind, "Message": message}, status)


def decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def listed(query: Mapping[str, str], name: str, case: Callable[[str], str] = str.strip) -> set[str]:
    """A comma-separated filter parameter (`IDs=a,b`) as a set, each value in `case`."""
    return {case(v.strip()) for v in query.get(name, "").split(",") if v.strip()}


def int_param(request: Request, name: str, default: int) -> int | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return None


def pagination(total: int, page: int, size: int) -> dict[str, int]:
    return {
        "page": page,
        "pageSize": size,
        "pageCount": (total + size - 1) // size,
        "itemCount": total,
    }


def accounting_page(
    request: Request, chosen: list[dict[str, Any]], per_page: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """An Accounting API list: all of it, or with `page` its page and its `pagination`."""
    page = int_param(request, "page", 0)
    if not page:
        return chosen, {}
    size = int_param(request, "pageSize", per_page) or per_page
    extra = {"pagination": pagination(len(chosen), page, size)}
    return chosen[(page - 1) * size : page * size], extra


WHERE = re.compile(
    r'^\s*(?P<field>Name|AccountNumber|ContactStatus|EmailAddress)\s*==?\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*$'
)


@register
class XeroSandbox(TimeSandbox, AccountingSandbox):
    platform = "xero"
    page_size = 500  # what the connector asks for: the Projects API's largest page

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None = _DOCUMENTED,
        day_limit: RateLimit | None = _DOCUMENTED,
        concurrent_limit: int | None = 5,
        currency: str = "NZD",
        tax_rates: Mapping[str, Decimal] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.currency = currency
        self.tax_rates = dict(tax_rates or DEFAULT_TAX_RATES)
        # Projects API
        self.users: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}  # project -> task id -> task
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed: dict[str, dt.datetime] = {}  # entry -> when it last changed (not served)
        self._in_project: dict[str, set[str]] = {}
        self._order: dict[str, tuple[list[str], list[str]] | None] = {}  # (dateUtc keys, ids)
        self._user_by_email: dict[str, str] = {}
        self._project_by_name: dict[tuple[str, str], str] = {}
        self._task_by_key: dict[tuple[str, str, str], str] = {}
        # Accounting API
        self.contacts: dict[str, dict[str, Any]] = {}
        self._invoices: dict[str, dict[str, Any]] = {}
        self._replies: dict[tuple[str, str], tuple[int, str]] = {}  # idempotency key -> answer
        # identity
        self.grants = Grants()  # refresh tokens noted with when first used (None: unused)
        self._webhooks: list[str] = []
        self._sequence = 0
        if rate_limit is _DOCUMENTED:
            rate_limit = RateLimit(limit=60, window=60.0)
        self.day_limit = RateLimit(5000, 86400.0) if day_limit is _DOCUMENTED else day_limit
        self.concurrent_limit = concurrent_limit
        self._in_flight: dict[str, int] = {}
        self._calls: dict[str, deque[float]] = {}  # per tenant: when, over the last day
        super().__init__(seed=seed, size=size, items=items, rate_limit=rate_limit)
        self.tenant_id = self._uuid()
        self.tenant_name = "Demo Company (Global)"
        self.connection_id = self._uuid()
        self.client_id = "".join(self.random.choice("0123456789ABCDEF") for _ in range(32))
        self.client_secret = token()
        self.webhook_key = base64.b64encode(self.random.randbytes(64)).decode()
        self._routes()
        self.app.middleware("http")(self._daily_and_concurrent)

    # -- ids and small parts -----------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    async def _daily_and_concurrent(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Xero's other two limits per tenant: 5,000 calls a day, 5 at once."""
        path = request.url.path.lower()
        if not path.startswith((PROJECTS.lower(), ACCOUNTING.lower())):
            return await call_next(request)
        tenant = self.credential_key(request)
        if self.day_limit is not None:
            wait = self.day_limit.check(tenant, time.monotonic())
            if wait is not None:
                return self._over("day", wait)
        with self._lock:
            busy = self._in_flight.get(tenant, 0)
            if self.concurrent_limit is not None and busy >= self.concurrent_limit:
                return self._over("concurrent", 1.0)
            self._in_flight[tenant] = busy + 1
        try:
            response = await call_next(request)
        finally:
            with self._lock:
                self._in_flight[tenant] -= 1
        if response.status_code != 429:
            response.headers.update(self._remaining(tenant))
        return response

    def _remaining(self, tenant: str) -> dict[str, str]:
        """The headers on every answer: calls left this minute, today, and for the app."""
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(tenant, deque())
            calls.append(now)
            while calls[0] <= now - 86400:
                calls.popleft()
            minute = 0
            for at in reversed(calls):
                if at <= now - 60:
                    break
                minute += 1
            day = len(calls)
        per_minute = self.rate_limit.limit if self.rate_limit is not None else 60
        per_day = self.day_limit.limit if self.day_limit is not None else 5000
        return {
            "X-MinLimit-Remaining": str(max(per_minute - minute, 0)),
            "X-DayLimit-Remaining": str(max(per_day - day, 0)),
            "X-AppMinLimit-Remaining": str(max(10000 - minute, 0)),
        }

    def credential_key(self, request: Request) -> str:
        """Xero counts calls per app per tenant."""
        return request.headers.get("xero-tenant-id") or super().credential_key(request)

    def throttled(self, retry_after: float) -> Response:
        return self._over("minute", retry_after)

    def _over(self, problem: str, retry_after: float) -> Response:
        seconds = str(max(1, round(retry_after)))
        return PlainTextResponse(
            "oauth_problem=rate%20limit%20exceeded&oauth_problem_advice="
            "please%20wait%20before%20retrying%20the%20xero%20api",
            status_code=429,
            headers={
                "Retry-After": seconds,
                "X-Rate-Limit-Problem": problem,
            },
        )

    def server_error(self, status: int) -> Response:
        detail = (
            "An error occurred in Xero. Check the API Status page "
            "http://status.developer.xero.com for current service status."
        )
        titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        return problem(status, titles.get(status, "Server Error"), detail)

    def credentials(self) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "tenant_id": self.tenant_id,
            "webhook_key": self.webhook_key,
        }

    # -- the remote control --------------------------------------------------------------

    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        stamp = at or dt.datetime.now(dt.UTC)
        with self._lock:
            user_id = self._user_for(item.person, item.email)
            project_id = self._project_for(item.client, item.project)
            task_id = self._task_for(project_id, item.task, item.billable)
            entry_id = self._uuid()
            self._store_entry(
                {
                    "timeEntryId": entry_id,
                    "userId": user_id,
                    "projectId": project_id,
                    "taskId": task_id,
                    "dateUtc": iso_z(item.start),
                    "dateEnteredUtc": iso_z_fraction(stamp),
                    "duration": max(1, (item.seconds + 30) // 60),
                    "description": item.notes,
                    "status": "ACTIVE",
                },
                stamp,
            )
        return entry_id  # Xero sends no webhooks for project time

    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        with self._lock:
            entry = self.entries[external_id]
            self._count(entry, -1)
            entry["duration"] = max(1, (seconds + 30) // 60)
            self._count(entry, +1)
            self.changed[external_id] = at or dt.datetime.now(dt.UTC)

    def remove(self, external_id: str, *, notify: bool = True) -> None:
        with self._lock:
            entry = self.entries.pop(external_id)
            self.changed.pop(external_id, None)
            self._count(entry, -1)
            self._in_project[entry["projectId"]].discard(external_id)
            self._order[entry["projectId"]] = None

    def set_status(self, external_id: str, status: str) -> None:
        """ACTIVE, LOCKED (being invoiced) or INVOICED (invoiced from Xero Projects)."""
        if status not in ENTRY_STATES:
            raise ValueError(f"status must be one of {ENTRY_STATES}")
        with self._lock:
            self.entries[external_id]["status"] = status
            self.changed[external_id] = dt.datetime.now(dt.UTC)

    def ids(self) -> set[str]:
        with self._lock:
            return set(self.entries)

    def setup(self, base_url: str) -> Setup:
        access, refresh = self._grant()
        return Setup(
            settings={
                "tenant_id": self.tenant_id,
                "auth_url": base_url,
                "tax_types": ",".join(f"{rate}={code}" for code, rate in self.tax_rates.items()),
            },
            credentials={"client_id": self.client_id, "client_secret": self.client_secret},
            token={
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": ACCESS_SECONDS,
                "expires_at": int(time.time()) + ACCESS_SECONDS,
                "scope": SCOPES,
            },
        )

    def subscribe(self, url: str) -> str | None:
        """Intent to receive, as Xero runs it before a webhook is enabled: empty event
        lists, two signed with the webhook key and two not; the receiver must answer 200
        with an empty body to the first and 401 to the others."""
        for good in (True, False, True, False):
            body = json.dumps(
                {
                    "events": [],
                    "lastEventSequence": 0,
                    "firstEventSequence": 0,
                    "entropy": self._entropy(),
                }
            ).encode()
            signature = self._sign(body) if good else self._sign(body + b"x")
            answer = httpx.post(
                url,
                content=body,
                headers={"x-xero-signature": signature, "Content-Type": "application/json"},
            )
            expected = 200 if good else 401
            if answer.status_code != expected or (good and answer.content):
                raise RuntimeError(
                    f"Intent to receive failed: a {'correctly' if good else 'incorrectly'} "
                    f"signed payload got {answer.status_code}"
                    + (" with a body" if good and answer.content else "")
                    + f", expected {expected}"
                )
        with self._lock:
            self._webhooks.append(url)
        return self.webhook_key

    def invoices(self) -> list[dict[str, object]]:
        with self._lock:
            return [json.loads(dumps(inv), parse_float=Decimal) for inv in self._invoices.values()]

    def revoke(self) -> None:
        self.grants.revoke()

    def expire_tokens(self) -> None:
        self.grants.expire()

    # -- the data ------------------------------------------------------------------------

    def _user_for(self, name: str, email: str) -> str:
        key = email.lower() or name
        if key not in self._user_by_email:
            user_id = self._uuid()
            self.users[user_id] = {"userId": user_id, "name": name, "email": email}
            self._user_by_email[key] = user_id
        return self._user_by_email[key]

    def _contact_for(self, name: str) -> str:
        for contact in self.contacts.values():
            if contact["Name"].lower() == name.lower() and contact["ContactStatus"] == "ACTIVE":
                return str(contact["ContactID"])
        return str(self._new_contact({"Name": name})["ContactID"])

    def _new_contact(self, given: Mapping[str, Any]) -> dict[str, Any]:
        contact_id = self._uuid()
        contact = {
            "ContactID": contact_id,
            "ContactStatus": "ACTIVE",
            "Name": str(given["Name"]).strip(),
            "FirstName": str(given.get("FirstName") or ""),
            "LastName": str(given.get("LastName") or ""),
            "EmailAddress": str(given.get("EmailAddress") or ""),
            "Addresses": [],
            "Phones": [],
            "UpdatedDateUTC": ms_date(dt.datetime.now(dt.UTC)),
            "ContactGroups": [],
            "IsSupplier": False,
            "IsCustomer": False,
            "ContactPersons": [],
            "HasAttachments": False,
            "HasValidationErrors": False,
        }
        if given.get("AccountNumber"):
            contact["AccountNumber"] = str(given["AccountNumber"])
        self.contacts[contact_id] = contact
        return contact

    def _project_for(self, client: str, name: str) -> str:
        contact_id = self._contact_for(client)
        key = (contact_id, name)
        if key not in self._project_by_name:
            project_id = self._uuid()
            self.projects[project_id] = {
                "projectId": project_id,
                "contactId": contact_id,
                "name": name,
                "currencyCode": self.currency,
                "status": "INPROGRESS",
                "minutesLogged": 0,
            }
            self.tasks[project_id] = {}
            self._in_project[project_id] = set()
            self._order[project_id] = None
            self._project_by_name[key] = project_id
        return self._project_by_name[key]

    def _task_for(self, project_id: str, name: str, billable: bool) -> str:
        charge = "TIME" if billable else "NON_CHARGEABLE"
        key = (project_id, name, charge)
        if key not in self._task_by_key:
            task_id = self._uuid()
            rate = Decimal(140 + zlib.crc32(name.encode()) % 8 * 10) if billable else Decimal(0)
            self.tasks[project_id][task_id] = {
                "taskId": task_id,
                "name": name,
                "rate": {"currency": self.currency, "value": rate},
                "chargeType": charge,
                "estimateMinutes": 0,
                "projectId": project_id,
                "totalMinutes": 0,
                "minutesInvoiced": 0,
                "minutesToBeInvoiced": 0,
                "fixedMinutes": 0,
                "nonChargeableMinutes": 0,
                "status": "ACTIVE",
            }
            self._task_by_key[key] = task_id
        return self._task_by_key[key]

    def _store_entry(self, entry: dict[str, Any], stamp: dt.datetime) -> None:
        entry_id = entry["timeEntryId"]
        self.entries[entry_id] = entry
        self.changed[entry_id] = stamp
        self._in_project[entry["projectId"]].add(entry_id)
        self._order[entry["projectId"]] = None
        self._count(entry, +1)

    def _count(self, entry: Mapping[str, Any], sign: int) -> None:
        minutes = sign * int(entry["duration"])
        self.projects[entry["projectId"]]["minutesLogged"] += minutes
        task = self.tasks[entry["projectId"]][entry["taskId"]]
        task["totalMinutes"] += minutes
        if task["chargeType"] == "NON_CHARGEABLE":
            task["nonChargeableMinutes"] += minutes
        elif entry["status"] == "INVOICED":
            task["minutesInvoiced"] += minutes
        else:
            task["minutesToBeInvoiced"] += minutes

    def _ordered(self, project_id: str) -> tuple[list[str], list[str]]:
        """The project's entries by (dateUtc, id): sorted once after a change."""
        order = self._order.get(project_id)
        if order is None:
            rows = sorted(
                (self.entries[i]["dateUtc"], i) for i in self._in_project.get(project_id, ())
            )
            order = ([r[0] for r in rows], [r[1] for r in rows])
            self._order[project_id] = order
        return order

    def _amount(self, value: Decimal) -> dict[str, Any]:
        return {"currency": self.currency, "value": value.quantize(CENT, ROUND_HALF_UP)}

    def _task_out(self, task: Mapping[str, Any]) -> dict[str, Any]:
        rate = task["rate"]["value"]
        out = dict(task)
        out["totalAmount"] = self._amount(rate * task["totalMinutes"] / 60)
        out["amountToBeInvoiced"] = self._amount(rate * task["minutesToBeInvoiced"] / 60)
        out["amountInvoiced"] = self._amount(rate * task["minutesInvoiced"] / 60)
        return out

    def _project_out(self, project: Mapping[str, Any]) -> dict[str, Any]:
        tasks = [self._task_out(t) for t in self.tasks[project["projectId"]].values()]
        total = sum((t["totalAmount"]["value"] for t in tasks), Decimal(0))
        due = sum((t["amountToBeInvoiced"]["value"] for t in tasks), Decimal(0))
        done = sum((t["amountInvoiced"]["value"] for t in tasks), Decimal(0))
        zero = self._amount(Decimal(0))
        out = dict(project)
        out.update(
            {
                "minutesToBeInvoiced": sum(t["minutesToBeInvoiced"] for t in tasks),
                "totalTaskAmount": self._amount(total),
                "totalExpenseAmount": zero,
                "taskAmountToBeInvoiced": self._amount(due),
                "taskAmountInvoiced": self._amount(done),
                "expenseAmountToBeInvoiced": zero,
                "expenseAmountInvoiced": zero,
                "projectAmountInvoiced": self._amount(done),
                "deposit": zero,
                "depositApplied": zero,
                "creditNoteAmount": zero,
                "totalInvoiced": self._amount(done),
                "totalToBeInvoiced": self._amount(due),
            }
        )
        return out

    # -- identity ------------------------------------------------------------------------

    def _grant(self) -> tuple[str, str]:
        return self.grants.grant("xa_", "xr_", ACCESS_SECONDS, None)

    def _denied(self, request: Request, tenant: bool = True) -> Response | None:
        header = request.headers.get("authorization", "")
        scheme, _, bearer = header.partition(" ")
        expires = self.grants.expiry(bearer) if scheme.lower() == "bearer" else None
        if expires is None:
            return problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        if expires <= time.time():
            when = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%m/%d/%Y %H:%M:%S")
            return problem(401, "Unauthorized", f"TokenExpired: token expired at {when}")
        if tenant and request.headers.get("xero-tenant-id", "").lower() != self.tenant_id:
            return problem(403, "Forbidden", "AuthenticationUnsuccessful")
        return None

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            return PlainTextResponse("unauthorized_client", status_code=400)
        redirect = query.get("redirect_uri", "")
        if not redirect:
            return PlainTextResponse("invalid_request: redirect_uri", status_code=400)
        code = self.grants.code("", redirect)
        answer = {"code": code, "scope": query.get("scope", SCOPES)}
        if "state" in query:
            answer["state"] = query["state"]
        answer["session_state"] = secrets.token_urlsafe(16)
        separator = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{separator}{urlencode(answer)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        client_id, secret = client_credentials(request, form)
        if client_id != self.client_id or not hmac.compare_digest(secret, self.client_secret):
            return reply({"error": "invalid_client"}, 400)
        grant = form.get("grant_type")
        with self.grants.lock:
            if grant == "authorization_code":
                redirect = self.grants.redeem(form.get("code", ""))
                if redirect is None or redirect != form.get("redirect_uri", redirect):
                    return reply({"error": "invalid_grant"}, 400)
            elif grant == "refresh_token":
                presented = form.get("refresh_token", "")
                if presented not in self.grants.refresh:
                    return reply({"error": "invalid_grant"}, 400)
                used = self.grants.refresh[presented]
                if used is not None and time.time() - used > REFRESH_GRACE:
                    return reply({"error": "invalid_grant"}, 400)
                self.grants.refresh[presented] = used or time.time()
            else:
                return reply({"error": "unsupported_grant_type"}, 400)
        access, refresh = self._grant()
        return reply(
            {
                "access_token": access,
                "expires_in": ACCESS_SECONDS,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": SCOPES,
            }
        )

    async def _connections(self, request: Request) -> Response:
        denied = self._denied(request, tenant=False)
        if denied is not None:
            return denied
        created = iso_z_fraction(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        return reply(
            [
                {
                    "id": self.connection_id,
                    "authEventId": self.connection_id,
                    "tenantId": self.tenant_id,
                    "tenantType": "ORGANISATION",
                    "tenantName": self.tenant_name,
                    "createdDateUtc": created,
                    "updatedDateUtc": created,
                }
            ]
        )

    # -- Projects API --------------------------------------------------------------------

    def _page_of(self, request: Request) -> tuple[int, int] | Response:
        """The page a Projects API list asks for; Xero's refusal of the caller or page."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        page = int_param(request, "page", 1)
        size = int_param(request, "pageSize", 50)
        if page is None or page < 1:
            return projects_error(
                "The request is invalid.", model={"page": ["Must be a number greater than 0."]}
            )
        if size is None or not 1 <= size <= 500:
            return projects_error(
                "The request is invalid.",
                model={"pageSize": ["Must be a number between 1 and 500."]},
            )
        return page, size

    def _page(
        self,
        chosen: list[dict[str, Any]],
        page: int,
        size: int,
        out: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Page `page` of `chosen`, each item as `out` writes it, with its pagination."""
        items = chosen[(page - 1) * size : page * size]
        return self._paged([out(i) for i in items] if out else items, len(chosen), page, size)

    @staticmethod
    def _paged(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
        return {"pagination": pagination(total, page, size), "items": items}

    async def _projects(self, request: Request) -> Response:
        paging = self._page_of(request)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        query = request.query_params
        wanted_ids = listed(query, "projectIds", str.lower)
        states = listed(query, "states", str.upper)
        contact = query.get("contactID", "").lower()
        with self._lock:
            chosen = [
                p
                for p in self.projects.values()
                if (not wanted_ids or p["projectId"] in wanted_ids)
                and (not states or p["status"] in states)
                and (not contact or p["contactId"] == contact)
            ]
            body = self._page(chosen, page, size, self._project_out)
        return reply(body)

    async def _project(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        with self._lock:
            project = self.projects.get(request.path_params["project_id"].lower())
            if project is None:
                return projects_error("Project not found.", 404)
            return reply(self._project_out(project))

    async def _users(self, request: Request) -> Response:
        paging = self._page_of(request)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        with self._lock:
            users = list(self.users.values())
        return reply(self._page(users, page, size))

    async def _tasks(self, request: Request) -> Response:
        paging = self._page_of(request)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        query = request.query_params
        wanted = listed(query, "taskIds", str.lower)
        charge = query.get("chargeType", "").upper()
        with self._lock:
            tasks = self.tasks.get(request.path_params["project_id"].lower())
            if tasks is None:
                return projects_error("Project not found.", 404)
            chosen = [
                t
                for t in tasks.values()
                if (not wanted or t["taskId"] in wanted)
                and (not charge or t["chargeType"] == charge)
            ]
            body = self._page(chosen, page, size, self._task_out)
        return reply(body)

    async def _time(self, request: Request) -> Response:
        paging = self._page_of(request)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        query = request.query_params
        bounds: list[str | None] = []
        for name in ("dateAfterUtc", "dateBeforeUtc"):
            text = query.get(name)
            value = parse_utc(text) if text else None
            if text and value is None:
                return projects_error("The request is invalid.", model={name: ["Invalid date."]})
            bounds.append(value)
        after, before = bounds
        user = query.get("userId", "").lower()
        task = query.get("taskId", "").lower()
        states = listed(query, "states", str.upper)
        chargeable = query.get("isChargeable", "").lower()
        project_id = request.path_params["project_id"].lower()
        with self._lock:
            if project_id not in self.projects:
                return projects_error("Project not found.", 404)
            keys, ids = self._ordered(project_id)
            lo = bisect.bisect_left(keys, after) if after else 0
            hi = bisect.bisect_right(keys, before) if before else len(keys)
            tasks = self.tasks[project_id]
            if user or task or states or chargeable:
                chosen = [
                    e
                    for e in (self.entries[i] for i in ids[lo:hi])
                    if (not user or e["userId"] == user)
                    and (not task or e["taskId"] == task)
                    and (not states or e["status"] in states)
                    and (
                        not chargeable
                        or (tasks[e["taskId"]]["chargeType"] != "NON_CHARGEABLE")
                        == (chargeable == "true")
                    )
                ]
                total, items = len(chosen), chosen[(page - 1) * size : page * size]
            else:
                start = lo + (page - 1) * size
                total = max(hi - lo, 0)
                items = [self.entries[i] for i in ids[start : min(hi, start + size)]]
            body = json.dumps(self._paged(items, total, page, size))
        return Response(body, 200, media_type="application/json")

    async def _entry(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        project_id = request.path_params["project_id"].lower()
        entry_id = request.path_params["entry_id"].lower()
        with self._lock:
            entry = self.entries.get(entry_id)
            if entry is None or entry["projectId"] != project_id:
                return projects_error("Time entry not found.", 404)
            if request.method == "GET":
                return reply(entry)
            if entry["status"] != "ACTIVE":
                return projects_error(f"Time entry is {entry['status']} and cannot be modified.")
            if request.method == "DELETE":
                self.remove(entry_id)
                return Response(status_code=204)
        given = await self._time_body(request, project_id)
        if isinstance(given, Response):
            return given
        with self._lock:
            self._count(entry, -1)
            entry.update(given)
            self._count(entry, +1)
            self._order[project_id] = None
            self.changed[entry_id] = dt.datetime.now(dt.UTC)
        return Response(status_code=204)

    async def _create_time(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        project_id = request.path_params["project_id"].lower()
        key = request.headers.get("idempotency-key")
        cached = self._replayed(key)
        if cached is not None:
            return cached
        with self._lock:
            if project_id not in self.projects:
                return projects_error("Project not found.", 404)
        given = await self._time_body(request, project_id)
        if isinstance(given, Response):
            return given
        now = dt.datetime.now(dt.UTC)
        entry = {
            "timeEntryId": self._uuid(),
            "userId": given["userId"],
            "projectId": project_id,
            "taskId": given["taskId"],
            "dateUtc": given["dateUtc"],
            "dateEnteredUtc": iso_z_fraction(now),
            "duration": given["duration"],
            "description": given["description"],
            "status": "ACTIVE",
        }
        with self._lock:
            self._store_entry(entry, now)
        return self._remember(key, 200, dumps(entry))

    async def _time_body(self, request: Request, project_id: str) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return projects_error("The request is invalid.", model={"body": ["Not valid JSON."]})
        if not isinstance(body, dict):
            return projects_error("The request is invalid.", model={"body": ["Not a time entry."]})
        errors: dict[str, list[str]] = {}
        user = str(body.get("userId") or "").lower()
        task = str(body.get("taskId") or "").lower()
        date = parse_utc(str(body.get("dateUtc") or ""))
        duration = body.get("duration")
        with self._lock:
            if user not in self.users:
                errors["userId"] = ["The user does not exist."]
            if task not in self.tasks.get(project_id, {}):
                errors["taskId"] = ["The task does not exist in this project."]
        if date is None:
            errors["dateUtc"] = ["A valid UTC date is required."]
        if (
            not isinstance(duration, int)
            or isinstance(duration, bool)
            or not 1 <= duration <= 59940
        ):
            errors["duration"] = ["Duration must be between 1 and 59940 minutes."]
        if errors:
            return projects_error("The request is invalid.", model=errors)
        return {
            "userId": user,
            "taskId": task,
            "dateUtc": date,
            "duration": duration,
            "description": str(body.get("description") or ""),
        }

    # -- idempotency ---------------------------------------------------------------------

    def _replayed(self, key: str | None) -> Response | None:
        if key is None:
            return None
        if len(key) > 128:
            return accounting_error(
                400, "ValidationException", "Idempotency-Key must be 128 characters or fewer"
            )
        with self._lock:
            first = self._replies.get((self.tenant_id, key))
        if first is None:
            return None
        return Response(first[1], first[0], media_type="application/json")

    def _remember(self, key: str | None, status: int, body: str) -> Response:
        if key is not None:
            with self._lock:
                self._replies.setdefault((self.tenant_id, key), (status, body))
                status, body = self._replies[(self.tenant_id, key)]
        return Response(body, status, media_type="application/json")

    # -- Accounting API ------------------------------------------------------------------

    def _envelope(self, name: str, items: list[Any], **extra: Any) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        return {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "billsync",
            "DateTimeUTC": f"/Date({int(now.timestamp() * 1000)})/",
            **extra,
            name: items,
        }

    async def _write(
        self, request: Request, name: str
    ) -> tuple[str | None, list[dict[str, Any]]] | Response:
        """An Accounting API write: its idempotency key and its documents ({name: [...]}
        or one object); else Xero's refusal, the answer to the key's first use, or 400."""
        denied = self._denied(request)
        if denied is not None:
            return denied
        key = request.headers.get("idempotency-key")
        cached = self._replayed(key)
        if cached is not None:
            return cached
        body = await self._json_body(request)
        given = body.get(name) if isinstance(body, dict) and name in body else [body]
        if not isinstance(given, list) or not all(isinstance(d, dict) for d in given):
            return accounting_error(400, "ValidationException", "The request body is not valid")
        return key, given

    async def _json_body(self, request: Request) -> Any:
        try:
            return json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return None

    async def _list_contacts(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        query = request.query_params
        where = query.get("where", "")
        match = WHERE.match(where) if where else None
        if where and match is None:
            return accounting_error(
                400, "QueryParseException", f"The where clause is not supported: {where}"
            )
        ids = listed(query, "IDs", str.lower)
        term = query.get("searchTerm", "").lower()
        archived = query.get("includeArchived", "").lower() == "true"
        with self._lock:
            chosen = []
            for contact in self.contacts.values():
                if contact["ContactStatus"] == "ARCHIVED" and not archived and not ids:
                    continue
                if ids and contact["ContactID"] not in ids:
                    continue
                if term and term not in f"{contact['Name']} {contact['EmailAddress']}".lower():
                    continue
                if match is not None:
                    wanted = re.sub(r"\\(.)", r"\1", match["value"])
                    if str(contact.get(match["field"], "")).lower() != wanted.lower():
                        continue
                chosen.append(dict(contact))
        chosen, extra = accounting_page(request, chosen, CONTACTS_PER_PAGE)
        return reply(self._envelope("Contacts", chosen, **extra))

    async def _create_contacts(self, request: Request) -> Response:
        write = await self._write(request, "Contacts")
        if isinstance(write, Response):
            return write
        key, given = write
        elements, created = [], []
        with self._lock:
            names = {
                c["Name"].lower() for c in self.contacts.values() if c["ContactStatus"] == "ACTIVE"
            }
            for contact in given:
                name = str(contact.get("Name") or "").strip()
                errors = []
                if not name:
                    errors.append("The contact name must be specified.")
                elif name.lower() in names:
                    errors.append(
                        f"The contact name {name} is already assigned to another contact. "
                        "The contact name must be unique across all active contacts."
                    )
                if errors:
                    elements.append(
                        {**contact, "ValidationErrors": [{"Message": m} for m in errors]}
                    )
                names.add(name.lower())
            if elements:
                response = validation_error(elements)
                return self._remember(key, 400, bytes(response.body).decode())
            for contact in given:
                created.append(self._new_contact(contact))
        await asyncio.to_thread(
            self._notify, "CONTACT", "CREATE", [c["ContactID"] for c in created]
        )
        return self._remember(key, 200, dumps(self._envelope("Contacts", created)))

    async def _list_invoices(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        query = request.query_params
        if query.get("where"):  # not emulated: refused rather than answered unfiltered
            return accounting_error(
                400, "QueryParseException", f"The where clause is not supported: {query['where']}"
            )
        ids = listed(query, "IDs", str.lower)
        numbers = listed(query, "InvoiceNumbers")
        contacts = listed(query, "ContactIDs", str.lower)
        statuses = listed(query, "Statuses", str.upper)
        summary = query.get("summaryOnly", "").lower() == "true"
        with self._lock:
            chosen = [
                inv
                for inv in self._invoices.values()
                if (not ids or inv["InvoiceID"] in ids)
                and (not numbers or inv["InvoiceNumber"] in numbers)
                and (not contacts or inv["Contact"]["ContactID"] in contacts)
                and (not statuses or inv["Status"] in statuses)
            ]
            chosen, extra = accounting_page(request, chosen, INVOICES_PER_PAGE)
            items = [self._invoice_out(inv, summary) for inv in chosen]
            body = dumps(self._envelope("Invoices", items, **extra))
        return Response(body, 200, media_type="application/json")

    async def _get_invoice(self, request: Request) -> Response:
        denied = self._denied(request)
        if denied is not None:
            return denied
        wanted = request.path_params["invoice_id"]
        with self._lock:
            invoice = self._invoices.get(wanted.lower())
            if invoice is None:  # Xero also takes the invoice number here
                invoice = next(
                    (i for i in self._invoices.values() if i["InvoiceNumber"] == wanted), None
                )
            if invoice is None:
                return PlainTextResponse(
                    "The resource you're looking for cannot be found", status_code=404
                )
            body = dumps(self._envelope("Invoices", [self._invoice_out(invoice, False)]))
        return Response(body, 200, media_type="application/json")

    def _invoice_out(self, invoice: Mapping[str, Any], summary: bool) -> dict[str, Any]:
        out = dict(invoice)
        if summary:
            out.pop("LineItems", None)
        return out

    async def _put_invoices(self, request: Request) -> Response:
        return await self._save_invoices(request, update=False)

    async def _post_invoices(self, request: Request) -> Response:
        return await self._save_invoices(request, update=True)

    async def _save_invoices(self, request: Request, update: bool) -> Response:
        write = await self._write(request, "Invoices")
        if isinstance(write, Response):
            return write
        key, given = write
        summarize = request.query_params.get("summarizeErrors", "true").lower() != "false"
        unitdp = 4 if request.query_params.get("unitdp") == "4" else 2
        results: list[tuple[dict[str, Any], list[str], str | None]] = []
        with self._lock:
            numbers = {
                i["InvoiceNumber"]
                for i in self._invoices.values()
                if i["Type"] == "ACCREC" and i["Status"] not in ("DELETED", "VOIDED")
            }
            for document in given:
                existing = self._matching(document) if update else None
                built, errors = self._build(document, existing, numbers, unitdp)
                results.append((built, errors, existing["InvoiceID"] if existing else None))
                if not errors and built.get("Type") == "ACCREC":
                    numbers.add(built["InvoiceNumber"])
            failed = [(doc, errs) for doc, errs, _ in results if errs]
            if failed and summarize:
                elements = [
                    {**doc, "ValidationErrors": [{"Message": m} for m in errs]}
                    for doc, errs in failed
                ]
                response = validation_error(elements)
                return self._remember(key, 400, bytes(response.body).decode())
            out, events = [], []
            for doc, errs, existed in results:
                if errs:
                    out.append(
                        {
                            **doc,
                            "HasErrors": True,
                            "StatusAttributeString": "ERROR",
                            "ValidationErrors": [{"Message": m} for m in errs],
                        }
                    )
                    continue
                self._invoices[doc["InvoiceID"]] = doc
                self.contacts[doc["Contact"]["ContactID"]]["IsCustomer"] = True
                events.append((doc["InvoiceID"], "UPDATE" if existed else "CREATE"))
                out.append({**doc, "StatusAttributeString": "OK"})
            text = dumps(self._envelope("Invoices", out))
        for invoice_id, kind in events:
            await asyncio.to_thread(self._notify, "INVOICE", kind, [invoice_id])
        return self._remember(key, 200, text)

    def _matching(self, document: Mapping[str, Any]) -> dict[str, Any] | None:
        wanted = str(document.get("InvoiceID") or "").lower()
        if wanted:
            return self._invoices.get(wanted)
        number = document.get("InvoiceNumber")
        if number:
            return next((i for i in self._invoices.values() if i["InvoiceNumber"] == number), None)
        return None

    def _build(
        self,
        document: Mapping[str, Any],
        existing: Mapping[str, Any] | None,
        numbers: set[str],
        unitdp: int,
    ) -> tuple[dict[str, Any], list[str]]:
        """The invoice as Xero would keep it, or the validation messages Xero gives."""
        errors: list[str] = []
        merged: dict[str, Any] = {**(existing or {}), **document}
        kind = str(merged.get("Type") or "")
        if kind not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be specified" if not kind else f"Invalid Type {kind}")
        status = str(merged.get("Status") or "DRAFT").upper()
        before = existing["Status"] if existing else None
        allowed = {
            None: {"DRAFT", "SUBMITTED", "AUTHORISED"},
            "DRAFT": {"DRAFT", "SUBMITTED", "AUTHORISED", "DELETED"},
            "SUBMITTED": {"SUBMITTED", "AUTHORISED", "DRAFT", "DELETED"},
            "AUTHORISED": {"AUTHORISED", "VOIDED"},
        }.get(before, {before})
        if status not in allowed:
            errors.append(f"Invoice status cannot be changed from {before or 'new'} to {status}.")
        contact = self._invoice_contact(merged.get("Contact"), errors)
        number = str(merged.get("InvoiceNumber") or "")
        if kind == "ACCREC":
            if not number:
                number = f"INV-{len(self._invoices) + 1:04d}"
            elif number in numbers and (existing is None or existing["InvoiceNumber"] != number):
                errors.append("Invoice # must be unique.")
        dates: dict[str, dt.date | None] = {}
        for name in ("Date", "DueDate"):
            text = merged.get(f"{name}String") if existing and name not in document else None
            value = str(document.get(name) or text or "")
            dates[name] = xero_date(value) if value else None
            if value and dates[name] is None:
                errors.append(f"{name} is not a valid date")
        issued = dates["Date"] or dt.datetime.now(dt.UTC).date()
        amounts = str(merged.get("LineAmountTypes") or "Exclusive")
        if amounts not in ("Exclusive", "Inclusive", "NoTax"):
            errors.append(f"LineAmountTypes {amounts} is not valid")
        if existing is not None and "LineItems" not in document:
            lines = [dict(line) for line in existing["LineItems"]]  # kept as they are
        else:
            lines = [
                self._line(given, amounts, status, unitdp, errors)
                for given in merged.get("LineItems") or []
            ]
        if status in ("SUBMITTED", "AUTHORISED") and not lines:
            errors.append("Invoice must have at least one line item to be approved.")
        currency = str(merged.get("CurrencyCode") or self.currency)
        if not re.fullmatch(r"[A-Z]{3}", currency):
            errors.append(f"The currency code {currency} is not valid.")
        subtotal = sum((ln["LineAmount"] for ln in lines), Decimal(0))
        tax = sum((ln["TaxAmount"] for ln in lines), Decimal(0))
        if amounts == "Inclusive":
            subtotal -= tax
        total = subtotal + tax
        now = dt.datetime.now(dt.UTC)
        midnight = dt.datetime.combine(issued, dt.time(), dt.UTC)
        invoice: dict[str, Any] = {
            "Type": kind,
            "InvoiceID": existing["InvoiceID"] if existing else self._uuid(),
            "InvoiceNumber": number,
            "Reference": str(merged.get("Reference") or ""),
            "Prepayments": [],
            "Overpayments": [],
            "AmountDue": total if status in ("AUTHORISED", "SUBMITTED", "DRAFT") else Decimal(0),
            "AmountPaid": Decimal("0.00"),
            "AmountCredited": Decimal("0.00"),
            "SentToContact": bool(merged.get("SentToContact") or False),
            "CurrencyRate": Decimal("1.000000"),
            "IsDiscounted": False,
            "HasAttachments": False,
            "HasErrors": False,
            "Contact": contact,
            "DateString": midnight.strftime("%Y-%m-%dT%H:%M:%S"),
            "Date": ms_date(midnight),
            "Status": status,
            "LineAmountTypes": amounts,
            "LineItems": lines,
            "SubTotal": subtotal.quantize(CENT),
            "TotalTax": tax.quantize(CENT),
            "Total": total.quantize(CENT),
            "UpdatedDateUTC": ms_date(now),
            "CurrencyCode": currency,
        }
        due = dates["DueDate"]
        if due is not None:
            due_midnight = dt.datetime.combine(due, dt.time(), dt.UTC)
            invoice["DueDateString"] = due_midnight.strftime("%Y-%m-%dT%H:%M:%S")
            invoice["DueDate"] = ms_date(due_midnight)
        return invoice, errors

    def _invoice_contact(self, given: Any, errors: list[str]) -> dict[str, Any]:
        if not isinstance(given, dict) or not (given.get("ContactID") or given.get("Name")):
            errors.append("A Contact must be specified for this type of transaction")
            return {"ContactID": "00000000-0000-0000-0000-000000000000", "Name": ""}
        if given.get("ContactID"):
            contact = self.contacts.get(str(given["ContactID"]).lower())
            if contact is None:
                errors.append(
                    f"The contact with ContactID {given['ContactID']} could not be found."
                )
                return {"ContactID": str(given["ContactID"]), "Name": ""}
        else:  # a name: the active contact with it, or a new one (as Xero does)
            contact = self.contacts[self._contact_for(str(given["Name"]))]
        return {k: contact[k] for k in ("ContactID", "ContactStatus", "Name") if k in contact}

    def _line(
        self, given: Any, amounts: str, status: str, unitdp: int, errors: list[str]
    ) -> dict[str, Any]:
        if not isinstance(given, dict):
            errors.append("A line item is not valid.")
            given = {}
        quantity = decimal(given.get("Quantity", 1)) or Decimal(0)
        unit = decimal(given.get("UnitAmount")) or Decimal(0)
        unit = unit.quantize(Decimal(1).scaleb(-unitdp), ROUND_HALF_UP)
        quantity = quantity.quantize(Decimal("0.0001"), ROUND_HALF_UP)
        expected = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
        stated = decimal(given.get("LineAmount"))
        if stated is not None and stated.quantize(CENT) != expected:
            errors.append(
                f"The line total {stated} does not match the expected line total {expected}"
            )
        description = str(given.get("Description") or "")
        if not description and not given.get("ItemCode"):
            errors.append("Description needs to be at least 1 char long")
        account = str(given.get("AccountCode") or "")
        if account and account not in ACCOUNTS:
            errors.append(f"Account code '{account}' is not a valid code for this document.")
        elif not account and status in ("SUBMITTED", "AUTHORISED"):
            errors.append("Account code '' is not a valid code for this document.")
        tax_type = str(given.get("TaxType") or ACCOUNTS.get(account, "NONE"))
        if amounts == "NoTax":
            tax_type = "NONE"
        rate = self.tax_rates.get(tax_type)
        if rate is None:
            errors.append(
                f"The TaxType code '{tax_type}' does not exist or cannot be used for this "
                "type of transaction."
            )
            rate = Decimal(0)
        if amounts == "Inclusive":
            tax = (expected * rate / (100 + rate)).quantize(CENT, ROUND_HALF_UP)
        else:
            tax = (expected * rate / 100).quantize(CENT, ROUND_HALF_UP)
        return {
            "Description": description,
            "UnitAmount": unit,
            "TaxType": tax_type,
            "TaxAmount": tax,
            "LineAmount": expected,
            "AccountCode": account,
            "Tracking": [],
            "Quantity": quantity,
            "LineItemID": str(given.get("LineItemID") or self._uuid()),
        }

    # -- webhooks ------------------------------------------------------------------------

    def _sign(self, body: bytes) -> str:
        digest = hmac.new(self.webhook_key.encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _entropy(self) -> str:
        return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))

    def _notify(self, category: str, kind: str, resource_ids: list[str]) -> None:
        """Xero's delivery of invoice and contact changes to each subscribed URL."""
        with self._lock:
            urls = list(self._webhooks)
            if not urls or not resource_ids:
                return
            first = self._sequence + 1
            self._sequence += len(resource_ids)
            last = self._sequence
        path = "Invoices" if category == "INVOICE" else "Contacts"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        events = [
            {
                "resourceUrl": f"https://api.xero.com{ACCOUNTING}/{path}/{resource_id}",
                "resourceId": resource_id,
                "eventDateUtc": stamp,
                "eventType": kind,
                "eventCategory": category,
                "tenantId": self.tenant_id,
                "tenantType": "ORGANISATION",
            }
            for resource_id in resource_ids
        ]
        body = json.dumps(
            {
                "events": events,
                "firstEventSequence": first,
                "lastEventSequence": last,
                "entropy": self._entropy(),
            }
        ).encode()
        headers = {"x-xero-signature": self._sign(body), "Content-Type": "application/json"}
        for url in urls:
            self.deliver(url, body, headers)

    # -- routes --------------------------------------------------------------------------

    def _routes(self) -> None:
        """Xero's paths are not case-sensitive (its SDKs write /Connections, its docs
        /connections): every route matches in any case, its ids as given."""

        def route(path: str, handler: Any, methods: list[str]) -> None:
            self.app.add_api_route(path, handler, methods=methods)
            added = self.app.router.routes[-1]
            pattern = added.path_regex.pattern  # type: ignore[attr-defined]
            added.path_regex = re.compile(pattern, re.IGNORECASE)  # type: ignore[attr-defined]

        route("/identity/connect/authorize", self._authorize, ["GET"])
        route("/connect/token", self._token, ["POST"])
        route("/connections", self._connections, ["GET"])
        route(f"{PROJECTS}/Projects", self._projects, ["GET"])
        route(f"{PROJECTS}/Projects/{{project_id}}", self._project, ["GET"])
        route(f"{PROJECTS}/ProjectsUsers", self._users, ["GET"])
        route(f"{PROJECTS}/Projects/{{project_id}}/Tasks", self._tasks, ["GET"])
        route(f"{PROJECTS}/Projects/{{project_id}}/Time", self._time, ["GET"])
        route(f"{PROJECTS}/Projects/{{project_id}}/Time", self._create_time, ["POST"])
        route(
            f"{PROJECTS}/Projects/{{project_id}}/Time/{{entry_id}}",
            self._entry,
            ["GET", "PUT", "DELETE"],
        )
        route(f"{ACCOUNTING}/Contacts", self._list_contacts, ["GET"])
        route(f"{ACCOUNTING}/Contacts", self._create_contacts, ["PUT", "POST"])
        route(f"{ACCOUNTING}/Invoices", self._list_invoices, ["GET"])
        route(f"{ACCOUNTING}/Invoices", self._put_invoices, ["PUT"])
        route(f"{ACCOUNTING}/Invoices", self._post_invoices, ["POST"])
        route(f"{ACCOUNTING}/Invoices/{{invoice_id}}", self._get_invoice, ["GET"])
