"""QuickBooks Online (Accounting API v3): time activities in, invoices out.

Time comes from TimeActivity through the query language, page by page in the order of
MetaData.LastUpdatedTime; invoices go out as Invoice with SalesItemLine lines, the
customer and the service items found by name or created. Webhooks carry only ids.

    GET  /v3/company/{realm}/query?query=select * from TimeActivity where
         MetaData.LastUpdatedTime >= '2026-11-01T00:00:00+00:00'
         orderby MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 1000&minorversion=75
    GET  /v3/company/{realm}/timeactivity/{id}
    POST /v3/company/{realm}/invoice?requestid=<key>      (also customer, item, timeactivity)

Every call carries minorversion 75 (Intuit's floor and default since 2025-08-01). Auth is
OAuth2 (authorization code, refresh tokens rotate); the connection gives `realm_id`.
Details and the field mapping: docs/connectors/quickbooks.md.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import httpx

from billsync.domain.canonical import zone

from ..auth import OAuth2, OAuth2Endpoints
from ..base import (
    Context,
    OutgoingInvoice,
    Page,
    RemoteInvoice,
    Sink,
    Source,
    VendorRecord,
    WebhookEvent,
    WebhookMalformed,
    WebhookRequest,
)
from ..fields import BadField, kind, number, obj, text, time_of, whole
from ..http import AuthFailed, VendorClient, VendorError, redacted, window_wait
from ..paging import PageGuard
from ..registry import Platform, register

NAME = "quickbooks"
MINOR_VERSION = "75"
PAGE_SIZE = 1000  # MAXRESULTS: the most one query returns
ID_CHUNK = 200  # ids in one `Id in (...)` query
THROTTLE_WINDOW = 60.0  # Intuit counts 500 requests a minute per realm
NOT_FOUND = "610"  # "Object Not Found": deleted, or never there
BASE_URL = "https://quickbooks.api.intuit.com"
REQUEST_ID_LIMIT = 50  # characters Intuit accepts in `requestid`
ENDPOINTS = OAuth2Endpoints(
    "https://appcenter.intuit.com/connect/oauth2",
    "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    scopes=("com.intuit.quickbooks.accounting",),
)
WEBHOOK_OPERATIONS = {"create": "upsert", "update": "upsert", "merge": "upsert", "delete": "delete"}
BILLABLE_STATUSES = frozenset({"Billable", "NotBillable", "HasBeenBilled"})
CLOUD_EVENT_OPERATIONS = {"created": "upsert", "updated": "upsert", "deleted": "delete"}


# -- the HTTP core with Intuit's ways ---------------------------------------------------


def detail_of(response: httpx.Response) -> str:
    """Intuit's message, with any piece of our bearer token taken out (the gateway's
    "Token expired: ..." detail can quote it); also used outside the HTTP core's errors."""
    return redacted(intuit_message(response), response.request)


def intuit_message(response: httpx.Response) -> str:
    """The message of Intuit's Fault: `{"Fault": {"Error": [{"Message", "Detail", "code"}]}}`
    from the data services, `{"fault": {"error": [{"message", "detail", "code"}]}}` from
    the gateway (401, 403, 429), or the same as XML when the gateway ignores Accept."""
    errors: list[tuple[str, str, str]] = []
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        envelope = body.get("Fault") or body.get("fault") or {}
        for error in envelope.get("Error") or envelope.get("error") or []:
            errors.append(
                (
                    str(error.get("code") or ""),
                    str(error.get("Message") or error.get("message") or ""),
                    str(error.get("Detail") or error.get("detail") or ""),
                )
            )
        if not errors and body.get("error"):
            return str(body["error"])
    elif response.content.lstrip().startswith(b"<"):
        try:
            root = ElementTree.fromstring(response.content)
        except ElementTree.ParseError:
            return response.text
        for error in root.iter():
            if error.tag.endswith("Error"):
                texts = {child.tag.rsplit("}", 1)[-1]: child.text or "" for child in error}
                errors.append(
                    (error.get("code", ""), texts.get("Message", ""), texts.get("Detail", ""))
                )
    if not errors:
        return response.text
    said = []
    for code, message, detail in errors:
        text = message if not detail or detail.startswith(message) else f"{message}: {detail}"
        said.append(f"{text} (code {code})" if code else text)
    return "; ".join(said)


# Retry-After where it is given; a throttled answer without one waits out Intuit's
# one-minute window; a 5xx gets the core's back-off.
wait_of = window_wait(THROTTLE_WINDOW)


def client(context: Context) -> VendorClient:
    return context.client(
        NAME,
        BASE_URL,
        headers={"Accept": "application/json"},
        auth=OAuth2(NAME, context, ENDPOINTS),
        wait_of=wait_of,
        detail_of=detail_of,
    )


def quoted(value: str) -> str:
    """A string literal of Intuit's query language (apostrophes escaped with a backslash)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal_time(moment: dt.datetime) -> str:
    """A date-time literal: whole seconds (Intuit's stamps have no fractions), UTC offset."""
    if moment.tzinfo is None:
        raise ValueError("a watermark must be aware")
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def _moment(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


class _Api:
    """Requests to one company (realm) with minorversion on every call."""

    def __init__(self, context: Context, http: VendorClient):
        self.http = http
        self.realm = context.setting("realm_id")

    def path(self, *parts: str) -> str:
        return "/".join(("/v3/company", self.realm, *parts))

    def params(self, **more: str) -> dict[str, str]:
        return {**more, "minorversion": MINOR_VERSION}

    def query(self, statement: str) -> dict[str, Any]:
        response = self.http.request("GET", self.path("query"), params=self.params(query=statement))
        body = self.http.decode(response)
        found = body.get("QueryResponse") if isinstance(body, dict) else None
        if not isinstance(found, dict):
            raise VendorError(NAME, "GET /query", response.status_code, "no QueryResponse")
        return found

    def read(self, entity: str, ident: str) -> dict[str, Any] | None:
        """One object; None when Intuit says it is not there (400/404 with code 610)."""
        response = self.http.request(
            "GET", self.path(entity.lower(), ident), params=self.params(), ok=frozenset({400, 404})
        )
        call = f"GET /{entity.lower()}/{{id}}"
        if response.status_code == 404:
            return None
        if response.status_code == 400:
            try:
                errors = json.loads(response.content)["Fault"]["Error"]
            except (ValueError, KeyError, TypeError):
                errors = []
            if any(str(error.get("code")) == NOT_FOUND for error in errors):
                return None
            raise VendorError(NAME, call, response.status_code, detail_of(response))
        found = self.http.decode(response).get(entity)
        if not isinstance(found, dict):
            raise VendorError(NAME, call, response.status_code, f"no {entity} in the answer")
        return found

    def write(self, entity: str, body: dict[str, Any], request_id: str | None = None) -> Any:
        params = self.params(requestid=request_id) if request_id else self.params()
        response = self.http.request(
            "POST",
            self.path(entity.lower()),
            params=params,
            content=dumps(body),
            headers={"Content-Type": "application/json"},
        )
        found = self.http.decode(response).get(entity)
        if not isinstance(found, dict):
            raise VendorError(NAME, f"POST /{entity.lower()}", response.status_code, "no object")
        return found


_NUMBER = re.compile(r'"\\u0000N([-0-9.]+)\\u0000"')


def _exact(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return "\x00N" + format(value, "f") + "\x00"
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(body: object) -> bytes:
    """JSON with every Decimal written as the exact number it is (never via a float)."""
    return _NUMBER.sub(r"\1", json.dumps(body, default=_exact)).encode()


# -- time in -----------------------------------------------------------------------------


class QuickBooksSource(Source):
    """TimeActivity. Intuit's CDC operation does not cover TimeActivity, so changes come
    from the LastUpdatedTime query (no look-back limit) and deletions from webhooks
    and the reconcile sweep (`listed_ids`)."""

    change_window = None
    page_size = PAGE_SIZE

    def __init__(self, context: Context, http: VendorClient):
        super().__init__(context, http)
        self.api = _Api(context, http)

    def _scan(self, conditions: Sequence[str], since: dt.datetime | None) -> Iterator[list[Any]]:
        """Every match, in pages, ordered by LastUpdatedTime. The position is kept as the
        last stamp seen plus how many of that stamp were read, so an entry edited during
        the scan (it moves to the end) never shifts an unread one out of reach."""
        floor: str | None = literal_time(since) if since is not None else None
        seen_at_floor = 0
        guard = PageGuard(NAME, "GET /query", "STARTPOSITION")
        while True:
            guard.at((floor, seen_at_floor))
            where = list(conditions)
            if floor is not None:
                where.append(f"MetaData.LastUpdatedTime >= '{floor}'")
            statement = "select * from TimeActivity"
            if where:
                statement += " where " + " and ".join(where)
            statement += (
                f" orderby MetaData.LastUpdatedTime STARTPOSITION {seen_at_floor + 1}"
                f" MAXRESULTS {self.page_size}"
            )
            found = self.api.query(statement).get("TimeActivity") or []
            if not isinstance(found, list):
                raise VendorError(NAME, "GET /query", 200, "TimeActivity is not a list")
            guard.read(found, len(found) >= self.page_size)
            if found:
                yield found
            if len(found) < self.page_size:
                return
            last = _updated(found[-1])
            if last is None:
                raise VendorError(NAME, "GET /query", 200, "a TimeActivity without LastUpdatedTime")
            last_literal = literal_time(last)
            same = sum(
                1 for record in found if (m := _updated(record)) and literal_time(m) == last_literal
            )
            if last_literal == floor:
                seen_at_floor += same
            else:
                floor, seen_at_floor = last_literal, same

    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        seen: set[str] = set()
        for found in self._scan((), since):
            records = []
            for payload in found:
                record = self.record(payload)
                if record.problems:  # no id to tell it by: quarantined each time
                    records.append(record)
                elif record.external_id not in seen:
                    seen.add(record.external_id)
                    records.append(record)
            if records:
                yield Page(records)

    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        conditions = (f"TxnDate >= '{start.isoformat()}'", f"TxnDate <= '{end.isoformat()}'")
        return {
            str(p["Id"])
            for found in self._scan(conditions, None)
            for p in found
            if isinstance(p, dict) and p.get("Id") is not None
        }

    def fetch(self, external_id: str) -> VendorRecord | None:
        found = self.api.read("TimeActivity", external_id)
        return self.record(found) if found is not None else None

    @staticmethod
    def record(payload: Any) -> VendorRecord:
        """The TimeActivity as a record; one without an Id, or whose MetaData is not
        an object, is kept to be quarantined (the rest of the page goes on)."""
        if not isinstance(payload, dict):
            return VendorRecord.unreadable(payload, "TimeActivity", "must be an object")
        ident = payload.get("Id")
        if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
            return VendorRecord.unreadable(payload, "Id", "a TimeActivity without an Id")
        if not isinstance(payload.get("MetaData") or {}, dict):
            reason = f"must be an object, not {kind(payload['MetaData'])}"
            return VendorRecord(str(ident), payload, None, problems=(("MetaData", reason),))
        return VendorRecord(
            external_id=str(ident),
            payload=payload,
            updated_at=_updated(payload),
            deleted=str(payload.get("status", "")).lower() == "deleted",
        )

    def fields(self, record: VendorRecord) -> dict[str, str]:
        p = record.payload
        out: dict[str, str] = {"external_id": record.external_id}
        for name in ("EmployeeRef", "VendorRef", "OtherNameRef", "CustomerRef", "ItemRef"):
            obj(p.get(name), name)  # Intuit's references are objects: else a BadField
        who = p.get("EmployeeRef") or p.get("VendorRef") or p.get("OtherNameRef") or {}
        if who.get("name") or who.get("value"):
            # Refs carry the person's display name (no e-mail); the id where it is missing.
            out["person"] = text(who.get("name"), "EmployeeRef.name") or str(who["value"])
        customer = text((p.get("CustomerRef") or {}).get("name"), "CustomerRef.name")
        if customer:
            # A job's reference names it fully, "Customer:Job"; the job is the project.
            parts = [part.strip() for part in customer.split(":")]
            out["project"] = parts[-1]
            out["client"] = parts[0]
        task = text((p.get("ItemRef") or {}).get("name"), "ItemRef.name")
        if task:
            out["task"] = task
        own_zone = text(p.get("TimeZone"), "TimeZone")
        timezone = own_zone if own_zone and zone(own_zone) else None
        start, end = _time(p, "StartTime"), _time(p, "EndTime")
        # Intuit documents Hours, Minutes, Seconds and the breaks as integers: a
        # fraction is a bad record, never truncated.
        breaks = whole(p.get("BreakHours"), "BreakHours") * 3600
        breaks += whole(p.get("BreakMinutes"), "BreakMinutes") * 60
        breaks += whole(p.get("BreakSeconds"), "BreakSeconds")
        if start and end and not breaks:
            # The work day is the local day of the start in `timezone` (the parser's rule);
            # TxnDate is not sent beside it, as it may be the day in another zone.
            out["start"], out["end"] = start.isoformat(), end.isoformat()
        else:
            if text(p.get("TxnDate"), "TxnDate"):
                out["date"] = p["TxnDate"]
            if start and end:
                seconds = int((end - start).total_seconds()) - breaks
            else:
                seconds = whole(p.get("Hours"), "Hours") * 3600
                seconds += whole(p.get("Minutes"), "Minutes") * 60
                seconds += whole(p.get("Seconds"), "Seconds")
            if seconds % 60:
                out["minutes"] = str(Decimal(seconds) / 60)
            else:
                out["minutes"] = str(seconds // 60)
        if text(p.get("Description"), "Description"):
            out["notes"] = p["Description"]
        out["approval"] = "approved"  # QuickBooks has no approval on time activities
        status = p.get("BillableStatus")
        if status is not None:
            if status not in BILLABLE_STATUSES:
                raise BadField("BillableStatus", f"is not one of Intuit's, but {kind(status)}")
            out["billable"] = "false" if status == "NotBillable" else "true"
        rate = number(p.get("HourlyRate"), "HourlyRate")
        if rate is not None and status != "NotBillable":
            out["rate"] = rate
        return self.finish(out, record, timezone)

    # -- webhooks ------------------------------------------------------------------

    def verify(self, request: WebhookRequest, secret: str | None) -> bool:
        """intuit-signature = base64(HMAC-SHA256(verifier token, raw body))."""
        signature = request.headers.get("intuit-signature", "")
        if not secret or not signature:
            return False
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).digest()
        # As bytes: a str compare raises on a non-ASCII header (a forger's, answered 401).
        return hmac.compare_digest(base64.b64encode(digest), signature.strip().encode())

    def events(self, request: WebhookRequest) -> list[WebhookEvent]:
        """TimeActivity changes of this connection's company, from the eventNotifications
        body or the CloudEvents array; Intuit sends ids only, so record is None."""
        body = request.json()
        realm = self.context.setting("realm_id")
        changes: list[tuple[str, str, str, str]] = []  # realm, entity, id, kind
        try:
            if isinstance(body, list):
                for event in body:
                    _, entity, operation, _ = str(event["type"]).split(".", 3)
                    kind = CLOUD_EVENT_OPERATIONS.get(operation.lower())
                    if kind:
                        changes.append(
                            (
                                str(event["intuitaccountid"]),
                                entity,
                                str(event["intuitentityid"]),
                                kind,
                            )
                        )
            elif isinstance(body, dict) and isinstance(body.get("eventNotifications"), list):
                for notification in body["eventNotifications"]:
                    for entity in notification["dataChangeEvent"]["entities"]:
                        kind = WEBHOOK_OPERATIONS.get(str(entity["operation"]).lower())
                        if kind:
                            changes.append(
                                (
                                    str(notification["realmId"]),
                                    str(entity["name"]),
                                    str(entity["id"]),
                                    kind,
                                )
                            )
            else:
                raise WebhookMalformed("neither eventNotifications nor a CloudEvents array")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WebhookMalformed(f"not an Intuit notification ({type(exc).__name__})") from exc
        events = []
        for event_realm, entity, ident, kind in changes:
            if event_realm == realm and entity.lower() == "timeactivity":
                events.append(WebhookEvent(ident, "delete" if kind == "delete" else "upsert", None))
        return events


def _updated(payload: Any) -> dt.datetime | None:
    """MetaData.LastUpdatedTime, None where there is none readable."""
    meta = payload.get("MetaData") if isinstance(payload, dict) else None
    return _moment(meta.get("LastUpdatedTime")) if isinstance(meta, dict) else None


def _time(payload: Mapping[str, Any], name: str) -> dt.datetime | None:
    """StartTime or EndTime: Intuit writes them with their offset; one without, or
    one that is not a time, is a BadField (never silently left out)."""
    moment = time_of(payload.get(name), name)
    if moment is not None and not _moment(payload[name]):
        raise BadField(name, f"has no UTC offset: {kind(payload[name])}")
    return moment


# -- invoices out --------------------------------------------------------------------


def request_id(key: str, purpose: str = "") -> str:
    """Intuit's `requestid` for an idempotency key: the key itself when it fits, else a
    UUID derived from it (the same key always gives the same id)."""
    text = f"{key}:{purpose}" if purpose else key
    if len(text) <= REQUEST_ID_LIMIT and text.isascii():
        return text
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "billsync:" + text))


def invoice_status(invoice: dict[str, Any]) -> str:
    """QuickBooks has no status field: paid when the balance is zero, partly paid when it
    is below the total, void when QuickBooks zeroed it, sent when e-mailed, else open."""
    total = Decimal(str(invoice.get("TotalAmt", 0)))
    balance = Decimal(str(invoice.get("Balance", total)))
    if "Voided" in str(invoice.get("PrivateNote", "")) and total == 0:
        return "void"
    if total > 0 and balance == 0:
        return "paid"
    if 0 < balance < total:
        return "partially_paid"
    if invoice.get("EmailStatus") == "EmailSent":
        return "sent"
    return "open"


def _remote(invoice: dict[str, Any]) -> RemoteInvoice:
    return RemoteInvoice(
        remote_id=str(invoice["Id"]),
        number=str(invoice.get("DocNumber") or ""),
        status=invoice_status(invoice),
        total=Decimal(str(invoice["TotalAmt"])) if invoice.get("TotalAmt") is not None else None,
    )


class QuickBooksSink(Sink):
    """Invoice. Settings: `income_account` (Account Id for new service items; default the
    first Income account), `tax_code` / `tax_code_exempt` (TaxCodeRef of taxed and untaxed
    lines; default TAX / NON, the US codes)."""

    def __init__(self, context: Context, http: VendorClient):
        super().__init__(context, http)
        self.api = _Api(context, http)
        self._items: dict[str, str] = {}

    def find_invoice(self, number: str) -> RemoteInvoice | None:
        found = self.api.query(f"select * from Invoice where DocNumber = {quoted(number)}")
        invoices = found.get("Invoice") or []
        return _remote(invoices[0]) if invoices else None

    def create_invoice(self, invoice: OutgoingInvoice, idempotency_key: str) -> RemoteInvoice:
        existing = self.find_invoice(invoice.number)
        if existing is not None:
            return existing
        customer = self._customer(invoice.client_name, idempotency_key)
        settings = self.context.connection.settings
        taxed = settings.get("tax_code") or "TAX"
        untaxed = settings.get("tax_code_exempt") or "NON"
        lines = []
        for line in invoice.lines:
            lines.append(
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": line.amount,
                    "Description": line.description,
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": self._item(line.item, idempotency_key)},
                        "Qty": line.quantity,
                        "UnitPrice": line.unit_price,
                        "TaxCodeRef": {"value": taxed if line.tax_percent > 0 else untaxed},
                    },
                }
            )
        body: dict[str, Any] = {
            "DocNumber": invoice.number,
            "TxnDate": invoice.issue_date.isoformat(),
            "CustomerRef": {"value": customer},
            "CurrencyRef": {"value": invoice.currency},
            "GlobalTaxCalculation": "TaxExcluded",
            "Line": lines,
            "TxnTaxDetail": {"TotalTax": invoice.tax},
        }
        if invoice.due_date is not None:
            body["DueDate"] = invoice.due_date.isoformat()
        if invoice.memo:
            body["PrivateNote"] = invoice.memo[:4000]
        if invoice.po_number:
            body["CustomerMemo"] = {"value": f"PO {invoice.po_number}"}
        created = self.api.write("Invoice", body, request_id(idempotency_key))
        return _remote(created)

    def invoice_status(self, remote_id: str) -> RemoteInvoice:
        found = self.api.read("Invoice", remote_id)
        if found is None:
            raise VendorError(NAME, "GET /invoice/{id}", 400, f"invoice {remote_id} not found")
        return _remote(found)

    def mark_billed(self, external_ids: Sequence[str], remote: RemoteInvoice) -> int:
        """Set each billed TimeActivity still Billable to HasBeenBilled, so nobody bills
        the hours again from QuickBooks; entries gone or not billable are left. They are
        read 200 at a time (`Id in (...)`)."""
        marked = 0
        wanted = list(dict.fromkeys(str(ident) for ident in external_ids))
        for chunk in range(0, len(wanted), ID_CHUNK):
            ids = ", ".join(quoted(ident) for ident in wanted[chunk : chunk + ID_CHUNK])
            found = self.api.query(
                f"select * from TimeActivity where Id in ({ids}) MAXRESULTS {PAGE_SIZE}"
            )
            for activity in found.get("TimeActivity") or []:
                if activity.get("BillableStatus") == "Billable":
                    self._mark(activity)
                    marked += 1
        return marked

    def _mark(self, activity: dict[str, Any]) -> None:
        """A full update with the current SyncToken, as Intuit's update requires."""
        ident = activity["Id"]
        update = {k: v for k, v in activity.items() if k not in ("MetaData", "domain")}
        update["BillableStatus"] = "HasBeenBilled"
        try:
            self.api.write("TimeActivity", update)
        except AuthFailed:
            raise
        except VendorError as exc:  # the invoice stands; say which entry was refused
            detail = f"TimeActivity {ident} not marked billed: {exc.detail}"
            raise VendorError(NAME, exc.call, exc.status, detail) from exc

    # -- references --------------------------------------------------------------

    def _customer(self, name: str, key: str) -> str:
        found = self.api.query(f"select * from Customer where DisplayName = {quoted(name)}")
        customers = found.get("Customer") or []
        if customers:
            return str(customers[0]["Id"])
        created = self.api.write("Customer", {"DisplayName": name}, request_id(key, "customer"))
        return str(created["Id"])

    def _item(self, name: str, key: str) -> str:
        if name in self._items:
            return self._items[name]
        found = self.api.query(f"select * from Item where Name = {quoted(name)}")
        items = found.get("Item") or []
        if items:
            ident = str(items[0]["Id"])
        else:
            body = {
                "Name": name,
                "Type": "Service",
                "IncomeAccountRef": {"value": self._income_account()},
            }
            ident = str(self.api.write("Item", body, request_id(key, "item:" + name))["Id"])
        self._items[name] = ident
        return ident

    def _income_account(self) -> str:
        configured = self.context.connection.settings.get("income_account")
        if configured:
            return configured
        found = self.api.query("select * from Account where AccountType = 'Income' MAXRESULTS 1")
        accounts = found.get("Account") or []
        if not accounts:
            raise VendorError(
                NAME,
                "GET /query",
                None,
                "the company has no Income account for new service items; "
                "set `income_account` on the connection",
            )
        return str(accounts[0]["Id"])


PLATFORM = register(
    Platform(
        name=NAME,
        title="QuickBooks Online",
        base_url=BASE_URL,
        client=client,
        source=QuickBooksSource,
        sink=QuickBooksSink,
        oauth=ENDPOINTS,
        credentials=("client_id", "client_secret"),
        settings=("realm_id",),
        options=("income_account", "tax_code", "tax_code_exempt", "auth_url"),
        webhooks=True,
    )
)
