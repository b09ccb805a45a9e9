"""Xero: time from the Projects API, invoices to the Accounting API.

Time (Projects API, https://api.xero.com/projects.xro/2.0):
    GET /Projects?states=INPROGRESS,CLOSED&page=N&pageSize=500     every project
    GET /Projects/{projectId}/Time?dateAfterUtc=...&page=N&pageSize=500
    GET /Projects/{projectId}/Time/{timeEntryId}                    one entry
    GET /Projects/{projectId}/Tasks, GET /ProjectsUsers             names and rates
    GET /api.xro/2.0/Contacts?IDs=...                               client names
    -> {"pagination": {"page", "pageSize", "pageCount", "itemCount"}, "items": [...]}

A Xero time entry carries no change stamp (only `dateEnteredUtc`, when it was
created) and the API has no updated-since filter and no time-entry webhooks. An
incremental pull therefore re-reads every entry whose work date (`dateUtc`) lies
within `reconcile_days` before the watermark; changes to older entries are found by
a full pull, deletions by the reconcile sweep (`listed_ids`). Entries carry no
revision: what arrives later wins.

A record's payload is the entry, verbatim, with the objects it names (their own fields
as Xero sent them, without running totals):
    {"timeEntry": {...}, "user": {...}, "project": {...}, "task": {...}, "contact": {...}}

Invoices (Accounting API, https://api.xero.com/api.xro/2.0):
    GET /Invoices?InvoiceNumbers=N     preflight: is it there already?
    GET /Contacts?where=Name=="..."    the client, or PUT /Contacts to create it
    PUT /Invoices {"Invoices": [...]}  create (Idempotency-Key), ACCREC
    GET /Invoices/{InvoiceID}          status read back

Every call sends `Authorization: Bearer` (OAuth2, refreshed) and `xero-tenant-id`.

billsync takes no webhooks from Xero: they carry invoice, contact, credit note and
subscription events, never project time, and an invoice's status is read back when
billsync pushes (`invoice_status`). Its receiver answers a Xero delivery 404.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from ..auth import OAuth2, OAuth2Endpoints
from ..base import (
    Context,
    OutgoingInvoice,
    OutgoingLine,
    Page,
    RemoteInvoice,
    Sink,
    Source,
    VendorRecord,
)
from ..fields import BadField, decimal_of, kind, moment, obj, stamp, text, time_of, whole
from ..http import VendorClient, VendorError, retry_after_header
from ..paging import PageGuard
from ..registry import Platform, register

NAME = "xero"
BASE_URL = "https://api.xero.com"
PROJECTS = "/projects.xro/2.0"
ACCOUNTING = "/api.xro/2.0"
PAGE_SIZE = 500  # the Projects API's largest page: fewer calls against 60 a minute
IDS_PER_CALL = 50  # contact ids in one `IDs=` filter, to keep the URL short
IDEMPOTENCY_KEY_MAX = 128  # characters, as Xero documents
APPROVALS = frozenset({"draft", "submitted", "approved", "rejected"})
INVOICE_STATUSES = frozenset({"DRAFT", "SUBMITTED", "AUTHORISED"})

# Apps created on or after 2 March 2026 get granular scopes only: accounting.invoices
# replaces accounting.transactions for invoices (developer.xero.com/faq/granular-scopes).
OAUTH = OAuth2Endpoints(
    "https://login.xero.com/identity/connect/authorize",
    "https://identity.xero.com/connect/token",
    scopes=("offline_access", "projects.read", "accounting.invoices", "accounting.contacts"),
)


# -- the HTTP core: auth, headers, errors, waits ----------------------------------------


def client(context: Context) -> VendorClient:
    return context.client(
        NAME,
        BASE_URL,
        headers={"xero-tenant-id": context.setting("tenant_id"), "Accept": "application/json"},
        auth=OAuth2(NAME, context, OAUTH),
        wait_of=wait_of,
        detail_of=detail_of,
    )


def detail_of(response: httpx.Response) -> str:
    """What Xero said, from whichever of its error formats the response is in:
    Accounting `{"Type", "Message", "Elements": [{"ValidationErrors": [{"Message"}]}]}`
    (each element echoes the whole submitted object: only the messages are kept),
    Projects `{"message", "modelState": {field: [messages]}}`, the identity layer's
    `{"Title", "Status", "Detail"}` (401/403), or the rate limiter's plain text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    if not isinstance(body, dict):
        return response.text
    if "Elements" in body or "ErrorNumber" in body:
        said = [str(body.get("Message") or body.get("Type") or "")]
        for element in body.get("Elements") or []:
            for error in element.get("ValidationErrors") or []:
                said.append(str(error.get("Message", "")))
        return "; ".join(s for s in said if s)
    if "message" in body:
        said = [str(body["message"])]
        for field, messages in (body.get("modelState") or {}).items():
            for message in messages if isinstance(messages, list) else [messages]:
                said.append(f"{field}: {message}")
        return "; ".join(said)
    if "Detail" in body or "Title" in body:
        return ": ".join(str(body[k]) for k in ("Title", "Detail") if body.get(k))
    if "Message" in body:
        return str(body["Message"])
    return response.text


def wait_of(response: httpx.Response) -> float | None:
    """Retry-After (Xero sends it on every 429); without it, the window the
    `X-Rate-Limit-Problem` header names: a minute for the minute and app limits, a
    second for the concurrency limit. A daily limit waits hours: the HTTP core's
    budget turns that into an error, not a sleep."""
    wait = retry_after_header(response)
    if wait is not None:
        return wait
    problem = response.headers.get("x-rate-limit-problem", "").lower()
    if "concurrent" in problem:
        return 1.0
    if "day" in problem or "daily" in problem:
        return 24 * 3600.0
    if "min" in problem:  # minute, appminute, "Minute limit"
        return 60.0
    return None


# -- small helpers ------------------------------------------------------------------------


def utc_stamp(value: str) -> dt.datetime:
    """A Projects API time (`2020-02-28T03:24:29.2215641Z`) as an aware datetime."""
    moment = stamp(value)
    if moment is None:
        raise ValueError("no time")
    return moment.astimezone(dt.UTC)


def iso_utc(stamp: dt.datetime) -> str:
    return stamp.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_bytes(value: Any) -> bytes:
    """JSON with Decimals written as exact numbers (json.dumps would refuse them)."""

    def encode(item: Any) -> str:
        if isinstance(item, Decimal):
            return format(item, "f")
        if isinstance(item, Mapping):
            return (
                "{" + ",".join(f"{json.dumps(str(k))}:{encode(v)}" for k, v in item.items()) + "}"
            )
        if isinstance(item, (list, tuple)):
            return "[" + ",".join(encode(v) for v in item) + "]"
        return json.dumps(item)

    return encode(value).encode()


def paged(http: VendorClient, path: str, params: Mapping[str, str]) -> Iterator[list[Any]]:
    """Every page of a Projects API list, by `page` until `pagination.pageCount` (or
    an empty page: the count is taken when asked, and entries deleted meanwhile
    shorten the list), never a page that repeats the previous one (PageGuard)."""
    page = 1
    guard = PageGuard(NAME, f"GET {path}", "page")
    while True:
        body = http.json(
            "GET", path, params={**params, "page": str(page), "pageSize": str(PAGE_SIZE)}
        )
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise VendorError(NAME, f"GET {path}", 200, "not a paged list of items")
        items: list[Any] = body["items"]
        count = (body.get("pagination") or {}).get("pageCount") or 0
        if not isinstance(count, int) or isinstance(count, bool):
            raise VendorError(NAME, f"GET {path}", 200, f"pageCount is {kind(count)}")
        guard.read(items, bool(items) and page < count)
        if items:
            yield items
        if page >= count or not items:
            return
        page += 1


class Names:
    """Users, tasks and contacts by id, read once per pull and kept for it."""

    def __init__(self, http: VendorClient):
        self.http = http
        self._users: dict[str, dict[str, Any]] | None = None
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}

    def users(self) -> dict[str, dict[str, Any]]:
        if self._users is None:
            self._users = {}
            for items in paged(self.http, f"{PROJECTS}/ProjectsUsers", {}):
                self._users.update(
                    {u["userId"]: u for u in items if isinstance(u, dict) and u.get("userId")}
                )
        return self._users

    def project_tasks(self, project_id: str) -> dict[str, dict[str, Any]]:
        if project_id not in self.tasks:
            found: dict[str, dict[str, Any]] = {}
            for items in paged(self.http, f"{PROJECTS}/Projects/{project_id}/Tasks", {}):
                found.update(
                    {t["taskId"]: t for t in items if isinstance(t, dict) and t.get("taskId")}
                )
            self.tasks[project_id] = found
        return self.tasks[project_id]

    def load_contacts(self, contact_ids: Sequence[str]) -> None:
        wanted = sorted({c for c in contact_ids if c and c not in self.contacts})
        for i in range(0, len(wanted), IDS_PER_CALL):
            chunk = wanted[i : i + IDS_PER_CALL]
            body = self.http.json("GET", f"{ACCOUNTING}/Contacts", params={"IDs": ",".join(chunk)})
            for contact in (body or {}).get("Contacts") or []:
                self.contacts[contact["ContactID"]] = contact

    def record(self, entry: Any, project: Mapping[str, Any]) -> VendorRecord:
        """The entry with what it names; one without a timeEntryId is kept to be
        quarantined (the rest of the page goes on)."""
        if not isinstance(entry, Mapping):
            return VendorRecord.unreadable(entry, "timeEntry", "must be an object")
        if not entry_id(entry):
            return VendorRecord.unreadable(
                {"timeEntry": dict(entry)}, "timeEntryId", "a time entry without a timeEntryId"
            )
        project_id = str(entry.get("projectId") or project.get("projectId") or "")
        payload = {
            "timeEntry": dict(entry),
            "user": only(self.users().get(str(entry.get("userId"))), USER_KEYS),
            "project": only(project, PROJECT_KEYS),
            "task": only(self.project_tasks(project_id).get(str(entry.get("taskId"))), TASK_KEYS),
            "contact": only(self.contacts.get(str(project.get("contactId"))), CONTACT_KEYS),
        }
        return VendorRecord(entry_id(entry), payload, None)


def entry_id(entry: Any) -> str:
    """A time entry's id; "" where it has none."""
    ident = entry.get("timeEntryId") if isinstance(entry, Mapping) else None
    return ident if isinstance(ident, str) else ""


# What a record keeps of the objects an entry names: their own fields as Xero sent
# them, without the running totals (minutes logged, amounts) that change whenever any
# other entry does, so an unchanged entry reads as the same raw record every time.
USER_KEYS = ("userId", "name", "email")
PROJECT_KEYS = ("projectId", "contactId", "name", "currencyCode", "status")
TASK_KEYS = ("taskId", "projectId", "name", "rate", "chargeType", "status")
CONTACT_KEYS = ("ContactID", "Name", "AccountNumber", "ContactStatus")


def only(found: Mapping[str, Any] | None, keys: Sequence[str]) -> dict[str, Any] | None:
    if found is None:
        return None
    return {k: found[k] for k in keys if k in found}


# -- time ---------------------------------------------------------------------------------


class XeroTime(Source):
    change_stamps = False  # Xero time entries have no change stamp
    """Time entries of every project of the connected organisation."""

    def __init__(self, context: Context, http: VendorClient):
        super().__init__(context, http)
        self._project_of: dict[str, str] = {}  # entry id -> project id, as last seen

    def _zone(self) -> ZoneInfo | None:
        name = self.context.connection.timezone
        return ZoneInfo(name) if name else None

    def _projects(self, names: Names) -> list[dict[str, Any]]:
        projects: list[dict[str, Any]] = []
        for items in paged(self.http, f"{PROJECTS}/Projects", {"states": "INPROGRESS,CLOSED"}):
            projects.extend(items)
        names.load_contacts([str(p.get("contactId") or "") for p in projects])
        return projects

    def _entries(
        self, project_id: str, after: dt.datetime | None, before: dt.datetime | None
    ) -> Iterator[list[dict[str, Any]]]:
        params: dict[str, str] = {}
        if after is not None:
            params["dateAfterUtc"] = iso_utc(after)
        if before is not None:
            params["dateBeforeUtc"] = iso_utc(before)
        yield from paged(self.http, f"{PROJECTS}/Projects/{project_id}/Time", params)

    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        after = None
        if since is not None:
            after = since - dt.timedelta(days=self.context.connection.reconcile_days)
        names = Names(self.http)
        for project in self._projects(names):
            if project.get("minutesLogged") == 0:
                continue  # nothing was ever logged on it: no call for its time
            project_id = str(project["projectId"])
            for items in self._entries(project_id, after, None):
                records = []
                for entry in items:
                    if entry_id(entry):
                        self._project_of[entry_id(entry)] = project_id
                    records.append(names.record(entry, project))
                yield Page(records)

    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        zone = self._zone() or dt.UTC
        after = dt.datetime.combine(start, dt.time(), zone)
        before = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone)
        names = Names(self.http)
        found: set[str] = set()
        for project in self._projects(names):
            if project.get("minutesLogged") == 0:
                continue
            project_id = str(project["projectId"])
            for items in self._entries(project_id, after, before):
                for entry in items:
                    began = moment(entry.get("dateUtc")) if entry_id(entry) else None
                    if began is None:
                        continue  # unreadable: never listed (fetch by id tells)
                    day = began.astimezone(zone).date()
                    if start <= day <= end:
                        found.add(str(entry["timeEntryId"]))
                        self._project_of[str(entry["timeEntryId"])] = project_id
        return found

    def fetch(self, external_id: str) -> VendorRecord | None:
        """A time entry lives under its project: the project last seen for the id is
        asked first; an id never seen is looked for in every project."""
        names = Names(self.http)
        projects = {str(p["projectId"]): p for p in self._projects(names)}
        known = self._project_of.get(external_id)
        order = ([known] if known in projects else []) + [p for p in projects if p != known]
        for project_id in order:
            if project_id != known and projects[project_id].get("minutesLogged") == 0:
                continue
            response = self.http.request(
                "GET", f"{PROJECTS}/Projects/{project_id}/Time/{external_id}", ok=frozenset({404})
            )
            if response.status_code == 404:
                continue
            entry = response.json()
            self._project_of[external_id] = project_id
            return names.record(entry, projects[project_id])
        self._project_of.pop(external_id, None)
        return None

    def fields(self, record: VendorRecord) -> dict[str, str]:
        payload = record.payload
        entry = obj(payload.get("timeEntry"), "timeEntry")
        user = obj(payload.get("user"), "user")
        project = obj(payload.get("project"), "project")
        task = obj(payload.get("task"), "task")
        contact = obj(payload.get("contact"), "contact")
        out: dict[str, str] = {
            "external_id": entry_id(entry) or record.external_id,
            "person": text(user.get("email"), "user.email")
            or text(user.get("name"), "user.name")
            or text(entry.get("userId"), "userId"),
            "project": text(project.get("name"), "project.name")
            or text(entry.get("projectId"), "projectId"),
            "task": text(task.get("name"), "task.name") or text(entry.get("taskId"), "taskId"),
            "notes": text(entry.get("description"), "description"),
        }
        if text(contact.get("Name"), "contact.Name"):
            out["client"] = contact["Name"]
        start = time_of(entry.get("dateUtc"), "dateUtc")
        if start is not None and entry.get("duration") is not None:
            # Xero documents `duration` as whole minutes: "1:30" is a bad record.
            start = start.astimezone(dt.UTC)
            end = start + dt.timedelta(minutes=whole(entry["duration"], "duration"))
            out["start"], out["end"] = start.isoformat(), end.isoformat()
        approval = self.context.connection.settings.get("approval", "approved").lower()
        out["approval"] = approval if approval in APPROVALS else "approved"
        status = (text(entry.get("status"), "status") or "ACTIVE").upper()
        charge = (text(task.get("chargeType"), "task.chargeType") or "TIME").upper()
        # INVOICED: already billed from Xero Projects itself; never bill it twice.
        out["billable"] = "false" if charge == "NON_CHARGEABLE" or status == "INVOICED" else "true"
        given = obj(task.get("rate"), "task.rate").get("value")
        rate = decimal_of(given)
        if given is not None and (rate is None or isinstance(given, str)):
            raise BadField("task.rate.value", f"must be a number, not {kind(given)}")
        if charge == "TIME" and rate is not None:
            out["rate"] = str(rate)
        return self.finish(out, record)  # Xero's entries carry no zone


# -- invoices -------------------------------------------------------------------------------


class XeroInvoices(Sink):
    """Sales invoices (ACCREC) in the Accounting API."""

    def find_invoice(self, number: str) -> RemoteInvoice | None:
        body = self.http.json(
            "GET",
            f"{ACCOUNTING}/Invoices",
            params={"InvoiceNumbers": number, "summaryOnly": "true"},
        )
        candidates = [
            inv
            for inv in (body or {}).get("Invoices") or []
            if inv.get("InvoiceNumber") == number and inv.get("Type", "ACCREC") == "ACCREC"
        ]
        if not candidates:
            return None
        # A deleted or voided invoice keeps its number; a live one with it comes first.
        candidates.sort(key=lambda inv: inv.get("Status") in ("DELETED", "VOIDED"))
        return self._remote(candidates[0])

    def create_invoice(self, invoice: OutgoingInvoice, idempotency_key: str) -> RemoteInvoice:
        contact_id = self._contact(invoice, idempotency_key)
        status = self.context.connection.settings.get("invoice_status", "AUTHORISED").upper()
        if status not in INVOICE_STATUSES:
            raise self.context.bad_setting(
                "invoice_status",
                f"must be one of {', '.join(sorted(INVOICE_STATUSES))}, not {status!r}",
            )
        document: dict[str, Any] = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "InvoiceNumber": invoice.number,
            "Reference": invoice.po_number,
            "CurrencyCode": invoice.currency,
            "Date": invoice.issue_date.isoformat(),
            "LineAmountTypes": "Exclusive",
            "Status": status,
            "LineItems": [self._line(line) for line in invoice.lines],
        }
        if invoice.due_date is not None:
            document["DueDate"] = invoice.due_date.isoformat()
        body = self.http.json(
            "PUT",
            f"{ACCOUNTING}/Invoices",
            params={"unitdp": "4"},
            content=json_bytes({"Invoices": [document]}),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key_of(idempotency_key),
            },
        )
        created = (body or {}).get("Invoices") or []
        if not created:
            raise VendorError(NAME, f"PUT {ACCOUNTING}/Invoices", 200, "no invoice in the answer")
        return self._remote(created[0])

    def invoice_status(self, remote_id: str) -> RemoteInvoice:
        body = self.http.json("GET", f"{ACCOUNTING}/Invoices/{remote_id}")
        found = (body or {}).get("Invoices") or []
        if not found:
            raise VendorError(NAME, f"GET {ACCOUNTING}/Invoices/{{id}}", 200, "no invoice")
        return self._remote(found[0])

    # -- parts ---------------------------------------------------------------------------

    def _remote(self, inv: Mapping[str, Any]) -> RemoteInvoice:
        return RemoteInvoice(
            remote_id=str(inv["InvoiceID"]),
            number=str(inv.get("InvoiceNumber") or ""),
            status=str(inv.get("Status") or ""),
            total=decimal_of(inv.get("Total")),
        )

    def _contact(self, invoice: OutgoingInvoice, idempotency_key: str) -> str:
        name = invoice.client_name.strip()
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        body = self.http.json(
            "GET", f"{ACCOUNTING}/Contacts", params={"where": f'Name=="{quoted}"'}
        )
        for contact in (body or {}).get("Contacts") or []:
            if contact.get("Name", "").strip().lower() == name.lower():
                return str(contact["ContactID"])
        new = {"Name": name, "AccountNumber": invoice.client_code}
        body = self.http.json(
            "PUT",
            f"{ACCOUNTING}/Contacts",
            content=json_bytes({"Contacts": [new]}),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key_of(f"contact:{idempotency_key}"),
            },
        )
        created = (body or {}).get("Contacts") or []
        if not created:
            raise VendorError(NAME, f"PUT {ACCOUNTING}/Contacts", 200, "no contact in the answer")
        return str(created[0]["ContactID"])

    def _line(self, line: OutgoingLine) -> dict[str, Any]:
        settings = self.context.connection.settings
        item: dict[str, Any] = {
            "Description": line.description or line.item,
            "Quantity": line.quantity,
            "UnitAmount": line.unit_price,
            "LineAmount": line.amount,
            "AccountCode": settings.get("sales_account") or "200",
        }
        item["TaxType"] = tax_type_of(self.context, line.tax_percent)
        return item


def key_of(key: str) -> str:
    """The idempotency key as Xero takes it: at most 128 characters."""
    if len(key) <= IDEMPOTENCY_KEY_MAX:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def tax_type_of(context: Context, percent: Decimal) -> str:
    """Xero's tax type for a line's rate, from setting `tax_types` ("25=OUTPUT2,0=NONE").
    A taxed line needs it: the account's default tax would silently charge another rate."""
    table = context.connection.settings.get("tax_types", "").strip() or "0=NONE"
    for pair in table.split(","):
        rate, _, code = pair.partition("=")
        try:
            if Decimal(rate.strip().rstrip("%")) == percent and code.strip():
                return code.strip()
        except InvalidOperation:
            break
    raise context.bad_setting(
        "tax_types",
        f"has no Xero tax type for {percent}% "
        "(write it as PERCENT=TAXTYPE pairs, e.g. 25=OUTPUT2,0=NONE)",
    )


PLATFORM = register(
    Platform(
        name=NAME,
        title="Xero",
        base_url=BASE_URL,
        client=client,
        source=XeroTime,
        sink=XeroInvoices,
        oauth=OAUTH,
        credentials=("client_id", "client_secret"),
        settings=("tenant_id",),
        options=("approval", "invoice_status", "sales_account", "tax_types", "auth_url"),
        # Xero's webhooks cover invoices, contacts, credit notes and subscriptions, not
        # project time; billsync reads invoice statuses when it pushes (Sink.invoice_status).
        webhooks=False,
    )
)
