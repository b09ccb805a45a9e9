"""QuickBooks Online (Accounting API v3) emulator: time activities, customers, items,
accounts and invoices of one company (realm), with Intuit's OAuth2, query language,
Fault envelopes, throttling, `requestid` replay and signed webhooks.

    sandbox = QuickBooksSandbox(seed=7, size=500)
    with serve(sandbox) as url:
        setup = sandbox.setup(url)   # realm_id, auth_url, client id/secret, a granted token
        GET {url}/v3/company/{realm}/query?query=select * from TimeActivity STARTPOSITION 1
            MAXRESULTS 1000&minorversion=75      (Authorization: Bearer <access_token>)

Served (as Intuit documents them; `minorversion` is accepted on every call):
  GET  /connect/oauth2                               authorize (consents at once)
  POST /oauth2/v1/tokens/bearer                      authorization_code, refresh_token
  GET|POST /v3/company/{realm}/query                 select * | count(*) from <Entity>
  GET  /v3/company/{realm}/{entity}/{id}             timeactivity, invoice, customer, item,
                                                     account, employee
  POST /v3/company/{realm}/{entity}                  create, full or sparse update
                                                     (SyncToken checked), ?operation=delete
  webhooks                                           eventNotifications, intuit-signature
  limits                                             500 requests a minute per realm,
                                                     10 in flight: 429 ThrottleExceeded

Not served: CDC (Intuit's CDC does not cover TimeActivity), batch, reports, PDFs.
"""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from ..base import CONTROL, AccountingSandbox, RateLimit, Setup, TimeSandbox, token
from ..oauth import Grants, client_credentials
from ..registry import register
from ..seed import WorkItem, generate

# Intuit stamps MetaData and response times in US Pacific time.
PACIFIC = ZoneInfo("America/Los_Angeles")
ACCESS_SECONDS = 3600
REFRESH_SECONDS = 8_726_400  # 101 days, as Intuit's token responses say
MAX_RESULTS = 1000
DEFAULT_RESULTS = 100
ENTITIES = ("TimeActivity", "Invoice", "Customer", "Item", "Account", "Employee")
BY_LOWER = {name.lower(): name for name in ENTITIES}
RATES = {"Hull survey": Decimal("145.00"), "Stability": Decimal("160.00")}
DEFAULT_RATE = Decimal("150.00")
CENT = Decimal("0.01")
JSON_TYPE = "application/json;charset=UTF-8"
BUSINESS = "A business validation error has occurred while processing your request"


# -- wire helpers -------------------------------------------------------------------


def stamp(moment: dt.datetime) -> str:
    """A MetaData time as Intuit writes it: seconds, Pacific offset."""
    return moment.astimezone(PACIFIC).replace(microsecond=0).isoformat()


def response_time() -> str:
    now = dt.datetime.now(PACIFIC)
    return (
        now.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{now.microsecond // 1000:03d}"
        + (now.strftime("%z")[:3] + ":" + now.strftime("%z")[3:])
    )


_NUMBER = re.compile(r'"\\u0000N([-0-9.Ee+]+)\\u0000"')


def _number(value: object) -> str:
    if isinstance(value, Decimal):
        return "\x00N" + format(value, "f") + "\x00"
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(body: object) -> bytes:
    """JSON with Decimals written as exact numbers (never through a float)."""
    return _NUMBER.sub(r"\1", json.dumps(body, default=_number, separators=(",", ":"))).encode()


def reply(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    sent = {"intuit_tid": uuid.uuid4().hex, **(headers or {})}
    return Response(dumps(body), status_code=status, media_type=JSON_TYPE, headers=sent)


def fault(
    status: int, code: int, message: str, detail: str, kind: str = "ValidationFault"
) -> Response:
    """The documented Fault envelope of the data services."""
    error = {"Message": message, "Detail": detail, "code": str(code), "element": ""}
    return reply({"Fault": {"Error": [error], "type": kind}, "time": response_time()}, status)


def gateway_fault(
    status: int, code: int, message: str, detail: str | None, kind: str, **headers: str
) -> Response:
    """What Intuit's gateway answers (401, 403, 429): a lower-case `fault` inside the
    serialised IntuitResponse, as received from the real service."""
    error = {
        "message": f"message={message}; errorCode={code:06d}; statusCode={status}",
        "detail": detail,
        "code": str(code),
        "element": None,
    }
    body: dict[str, Any] = {
        "warnings": None,
        "intuitObject": None,
        "fault": {"error": [error], "type": kind},
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return reply(body, status, headers)


def ref(value: str, name: str | None = None) -> dict[str, str]:
    return {"value": value, "name": name} if name is not None else {"value": value}


# -- the query language -------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op><=|>=|<>|!=|[=<>(),*])|(?P<word>[A-Za-z0-9_.:+-]+))",
    re.S,
)


class QueryError(ValueError):
    pass


class Query:
    """`SELECT * | COUNT(*) FROM Entity [WHERE f op v [AND ...]] [ORDERBY f [ASC|DESC], ...]
    [STARTPOSITION n] [MAXRESULTS n]`: Intuit's grammar (no OR, no joins, no projections)."""

    def __init__(self, text: str):
        tokens = self._tokens(text)
        self.pos = 0
        self.tokens = tokens
        self.expect("select")
        if self.peek_lower() == "count":
            self.pos += 1
            self.expect("(")
            self.expect("*")
            self.expect(")")
            self.count = True
        else:
            self.expect("*")
            self.count = False
        self.expect("from")
        name = self.take()
        if name not in ENTITIES:  # entity names are case sensitive, keywords are not
            raise QueryError(f"Invalid entity: {name}")
        self.entity = name
        self.where: list[tuple[str, str, list[str]]] = []
        self.order: list[tuple[str, bool]] = []
        self.start = 1
        self.max = DEFAULT_RESULTS
        if self.peek_lower() == "where":
            self.pos += 1
            self.where.append(self.condition())
            while self.peek_lower() == "and":
                self.pos += 1
                self.where.append(self.condition())
        if self.peek_lower() in ("orderby", "order"):
            if self.take().lower() == "order":
                self.expect("by")
            while True:
                field = self.take()
                descending = False
                if self.peek_lower() in ("asc", "desc"):
                    descending = self.take().lower() == "desc"
                self.order.append((field, descending))
                if self.peek() != ",":
                    break
                self.pos += 1
        if self.peek_lower() == "startposition":
            self.pos += 1
            self.start = self.integer()
        if self.peek_lower() == "maxresults":
            self.pos += 1
            self.max = min(self.integer(), MAX_RESULTS)
        if self.pos != len(self.tokens):
            raise QueryError(f'Encountered "{self.tokens[self.pos]}" at position {self.pos}')
        if self.start < 1:
            raise QueryError("STARTPOSITION starts at 1")

    @staticmethod
    def _tokens(text: str) -> list[str]:
        tokens: list[str] = []
        at = 0
        text = text.strip().rstrip(";")
        while at < len(text):
            match = _TOKEN.match(text, at)
            if not match or match.end() == at:
                raise QueryError(f"Lexical error at position {at}")
            tokens.append(match.group(match.lastgroup or "word"))
            at = match.end()
        return tokens

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def peek_lower(self) -> str:
        return self.peek().lower()

    def take(self) -> str:
        if self.pos >= len(self.tokens):
            raise QueryError("Unexpected end of query")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, word: str) -> None:
        got = self.take()
        if got.lower() != word:
            raise QueryError(f'Encountered "{got}", expected "{word}"')

    def integer(self) -> int:
        word = self.take()
        if not word.isdigit():
            raise QueryError(f"{word} is not a number")
        return int(word)

    def literal(self) -> str:
        word = self.take()
        if word.startswith("'"):
            return re.sub(r"\\(.)", r"\1", word[1:-1])
        return word

    def condition(self) -> tuple[str, str, list[str]]:
        field = self.take()
        op = self.take().lower()
        if op == "in":
            self.expect("(")
            values = [self.literal()]
            while self.peek() == ",":
                self.pos += 1
                values.append(self.literal())
            self.expect(")")
            return field, "in", values
        if op not in ("=", "<", ">", "<=", ">=", "like"):
            raise QueryError(f"Operator {op} is not supported")
        return field, op, [self.literal()]


def _path(record: Mapping[str, Any], field: str) -> Any:
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, Mapping):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]  # a reference compares by its id
    return value


def _key(field: str, value: Any) -> Any:
    """A comparable form of a field value or a literal."""
    if value is None:
        return None
    name = field.lower()
    if name.endswith("time") and isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=PACIFIC).timestamp()
    if name == "id" or isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _matches(record: Mapping[str, Any], conditions: list[tuple[str, str, list[str]]]) -> bool:
    for field, op, values in conditions:
        have = _key(field, _path(record, field))
        if have is None:
            return False
        wanted = [_key(field, v) for v in values]
        if op == "like":
            pattern = "^" + ".*".join(re.escape(p) for p in str(values[0]).lower().split("%")) + "$"
            if not re.match(pattern, str(have)):
                return False
            continue
        try:
            ok = {
                "=": have == wanted[0],
                "in": have in wanted,
                "<": have < wanted[0],
                ">": have > wanted[0],
                "<=": have <= wanted[0],
                ">=": have >= wanted[0],
            }[op]
        except TypeError:
            ok = False
        if not ok:
            return False
    return True


# -- the sandbox --------------------------------------------------------------------


@register
class QuickBooksSandbox(TimeSandbox, AccountingSandbox):
    platform = "quickbooks"
    page_size = MAX_RESULTS  # MAXRESULTS the connector asks for: the paging tests' boundary

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None = None,
        realm_id: str = "9130357766912345",
        home_currency: str = "USD",
        webhook_format: str = "legacy",
        concurrency: int = 10,
    ) -> None:
        self.realm_id = realm_id
        self.home_currency = home_currency
        self.webhook_format = webhook_format  # "legacy" eventNotifications or "cloudevents"
        self.concurrency = concurrency  # requests in flight per app and realm
        self._inflight: dict[str, int] = {}
        self.client_id = "AB" + secrets.token_hex(20)
        self.client_secret = secrets.token_urlsafe(30)
        self.verifier_token = token()
        self.subscribers: list[str] = []
        self.minor_versions: Counter[str | None] = Counter()  # minorversion of data requests
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self.store: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITIES}
        self._by_updated: list[tuple[int, int, str]] = []  # TimeActivity (stamp, seq, id)
        self._index_key: dict[str, tuple[int, int, str]] = {}
        self._names: dict[tuple[str, str], str] = {}  # (entity, name) -> id
        self._replies: dict[str, tuple[int, bytes]] = {}  # requestid -> first answer
        self.grants = Grants()  # refresh tokens noted with when they expire
        self._seed_clock: Iterator[dt.datetime] | None = None
        self.income_account_id = self._account("Services", "Income", "ServiceFeeIncome")
        self._account("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable")
        self._account("Checking", "Bank", "Checking")
        seeded = list(items) if items is not None else None
        if seeded is None and size:
            seeded = generate(size, seed)
        if seeded:
            # Seeded entries were written over the past hours, one a second, oldest first.
            now = dt.datetime.now(dt.UTC).replace(microsecond=0)
            self._seed_clock = (
                now - dt.timedelta(seconds=len(seeded) - i) for i in range(len(seeded))
            )
        super().__init__(
            seed=seed,
            size=0,
            items=seeded or (),
            rate_limit=rate_limit if rate_limit is not None else RateLimit(500, 60.0),
        )
        self._seed_clock = None
        self._routes()
        self.app.middleware("http")(self._concurrent)

    # -- reference data --------------------------------------------------------------

    def _new_id(self) -> str:
        return str(next(self._ids))

    def _meta(self, at: dt.datetime) -> dict[str, str]:
        return {"CreateTime": stamp(at), "LastUpdatedTime": stamp(at)}

    def _new(self, fields: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
        """A new object with what QuickBooks adds to every one: its id, SyncToken 0 and
        MetaData created `at`."""
        return {
            **fields,
            "domain": "QBO",
            "sparse": False,
            "Id": self._new_id(),
            "SyncToken": "0",
            "MetaData": self._meta(at),
        }

    def _named(self, entity: str, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A new reference object (account, employee, customer, item) findable by `key`."""
        record = self._new(fields, dt.datetime.now(dt.UTC))
        self.store[entity][record["Id"]] = record
        self._names[(entity, key.lower())] = record["Id"]
        return record

    def _account(self, name: str, kind: str, detail: str) -> str:
        fields = {
            "Name": name,
            "SubAccount": False,
            "FullyQualifiedName": name,
            "Active": True,
            "Classification": "Revenue" if kind == "Income" else "Asset",
            "AccountType": kind,
            "AccountSubType": detail,
            "CurrentBalance": Decimal(0),
            "CurrencyRef": ref(self.home_currency),
        }
        return str(self._named("Account", name, fields)["Id"])

    def _employee(self, name: str, email: str) -> str:
        found = self._names.get(("Employee", name.lower()))
        if found:
            return found
        given, _, family = name.partition(" ")
        fields = {
            "GivenName": given,
            "FamilyName": family,
            "DisplayName": name,
            "PrintOnCheckName": name,
            "PrimaryEmailAddr": {"Address": email},
            "Active": True,
            "BillableTime": True,
        }
        return str(self._named("Employee", name, fields)["Id"])

    def _customer(self, name: str, parent: str | None = None) -> str:
        full = f"{self.store['Customer'][parent]['FullyQualifiedName']}:{name}" if parent else name
        found = self._names.get(("Customer", full.lower()))
        if found:
            return found
        record = self._named(
            "Customer",
            full,
            {
                "Taxable": False,
                "Job": parent is not None,
                "BillWithParent": False,
                "Balance": Decimal(0),
                "BalanceWithJobs": Decimal(0),
                "CurrencyRef": ref(self.home_currency),
                "PreferredDeliveryMethod": "Print",
                "DisplayName": name,
                "FullyQualifiedName": full,
                "PrintOnCheckName": name,
                "Active": True,
            },
        )
        if parent:
            record["ParentRef"] = ref(parent)
            record["Level"] = 1
        return str(record["Id"])

    def _item(self, name: str, rate: Decimal = Decimal(0)) -> str:
        found = self._names.get(("Item", name.lower()))
        if found:
            return found
        account = self.store["Account"][self.income_account_id]
        fields = {
            "Name": name,
            "FullyQualifiedName": name,
            "Active": True,
            "Type": "Service",
            "UnitPrice": rate,
            "Taxable": False,
            "IncomeAccountRef": ref(self.income_account_id, account["Name"]),
        }
        return str(self._named("Item", name, fields)["Id"])

    # -- time activities: the index by LastUpdatedTime --------------------------------

    def _index(self, record: dict[str, Any]) -> None:
        ident = record["Id"]
        old = self._index_key.pop(ident, None)
        if old is not None:
            at = bisect.bisect_left(self._by_updated, old)
            if at < len(self._by_updated) and self._by_updated[at] == old:
                del self._by_updated[at]
        key = (
            int(dt.datetime.fromisoformat(record["MetaData"]["LastUpdatedTime"]).timestamp()),
            next(self._seq),
            ident,
        )
        if not self._by_updated or key > self._by_updated[-1]:
            self._by_updated.append(key)  # the usual case: a change is the newest
        else:
            bisect.insort(self._by_updated, key)
        self._index_key[ident] = key

    def _unindex(self, ident: str) -> None:
        old = self._index_key.pop(ident, None)
        if old is not None:
            at = bisect.bisect_left(self._by_updated, old)
            if at < len(self._by_updated) and self._by_updated[at] == old:
                del self._by_updated[at]

    # -- the remote control ------------------------------------------------------------

    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        if at is None and self._seed_clock is not None:
            at = next(self._seed_clock)
        moment = at or dt.datetime.now(dt.UTC)
        with self._lock:
            employee = self._employee(item.person, item.email)
            client = self._customer(item.client)
            job = self._customer(item.project, parent=client)
            task = self._item(item.task, RATES.get(item.task, DEFAULT_RATE))
            fields = {
                "TxnDate": item.start.date().isoformat(),
                "NameOf": "Employee",
                "EmployeeRef": ref(employee, item.person),
                "CustomerRef": ref(job, self.store["Customer"][job]["FullyQualifiedName"]),
                "ItemRef": ref(task, item.task),
                "BillableStatus": "Billable" if item.billable else "NotBillable",
                "Taxable": False,
                "HourlyRate": RATES.get(item.task, DEFAULT_RATE) if item.billable else Decimal(0),
                "StartTime": item.start.replace(microsecond=0).isoformat(),
                "EndTime": item.end.replace(microsecond=0).isoformat(),
                "Description": item.notes,
            }
            record = self._new(fields, moment)
            ident = str(record["Id"])
            self.store["TimeActivity"][ident] = record
            self._index(record)
        if notify:
            self._notify("TimeActivity", ident, "Create", moment)
        return ident

    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        moment = at or dt.datetime.now(dt.UTC)
        with self._lock:
            record = self.store["TimeActivity"][external_id]
            if record.get("StartTime"):
                start = dt.datetime.fromisoformat(record["StartTime"])
                record["EndTime"] = (start + dt.timedelta(seconds=seconds)).isoformat()
            else:
                record["Hours"], rest = divmod(seconds, 3600)
                record["Minutes"] = rest // 60
            self._touch(record, moment)
        if notify:
            self._notify("TimeActivity", external_id, "Update", moment)

    def remove(self, external_id: str, *, notify: bool = True) -> None:
        with self._lock:
            del self.store["TimeActivity"][external_id]
            self._unindex(external_id)
        if notify:
            self._notify("TimeActivity", external_id, "Delete", dt.datetime.now(dt.UTC))

    def ids(self) -> set[str]:
        with self._lock:
            return set(self.store["TimeActivity"])

    def setup(self, base_url: str) -> Setup:
        return Setup(
            settings={"realm_id": self.realm_id, "auth_url": base_url.rstrip("/")},
            credentials={"client_id": self.client_id, "client_secret": self.client_secret},
            token=self._grant(),
        )

    def credentials(self) -> dict[str, str]:
        return {
            "realm_id": self.realm_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "verifier_token": self.verifier_token,
        }

    def subscribe(self, url: str) -> str | None:
        """Intuit registers one webhook endpoint per app in the developer portal and
        signs with the app's verifier token."""
        with self._lock:
            self.subscribers.append(url)
        return self.verifier_token

    def invoices(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                json.loads(dumps(v), parse_float=Decimal) for v in self.store["Invoice"].values()
            ]

    def revoke(self) -> None:
        self.grants.revoke()

    def expire_tokens(self) -> None:
        self.grants.expire()

    def record_payment(self, invoice_id: str, amount: Decimal) -> None:
        """A customer paid (part of) an invoice: its Balance goes down."""
        with self._lock:
            invoice = self.store["Invoice"][invoice_id]
            invoice["Balance"] = max(invoice["Balance"] - amount, Decimal(0))
            self._touch(invoice, dt.datetime.now(dt.UTC))

    def _touch(self, record: dict[str, Any], moment: dt.datetime) -> None:
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"]["LastUpdatedTime"] = stamp(moment)
        if record["Id"] in self.store["TimeActivity"]:
            self._index(record)

    # -- OAuth2 ------------------------------------------------------------------------

    def _grant(self) -> dict[str, object]:
        expires = time.time() + REFRESH_SECONDS
        access, refresh = self.grants.grant("eyJ", "RT1-", ACCESS_SECONDS, expires)
        return {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": ACCESS_SECONDS,
            "x_refresh_token_expires_in": REFRESH_SECONDS,
            "expires_at": int(time.time()) + ACCESS_SECONDS,
        }

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect:
            return reply({"error": "invalid_client"}, 400)
        if query.get("response_type") != "code":
            return reply({"error": "unsupported_response_type"}, 400)
        if "com.intuit.quickbooks.accounting" not in query.get("scope", "").split():
            return reply({"error": "invalid_scope"}, 400)
        code = self.grants.code("AB", redirect)
        target = {"code": code, "state": query.get("state", ""), "realmId": self.realm_id}
        return RedirectResponse(f"{redirect}?{urlencode(target)}", status_code=302)

    async def _token(self, request: Request) -> Response:
        user, password = client_credentials(request)
        if not (
            hmac.compare_digest(user, self.client_id)
            and hmac.compare_digest(password, self.client_secret)
        ):
            return reply({"error": "invalid_client"}, 401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type")
        with self.grants.lock:
            if grant == "authorization_code":
                if self.grants.redeem(form.get("code", "")) != form.get("redirect_uri"):
                    return reply({"error": "invalid_grant"}, 400)
            elif grant == "refresh_token":
                expires = self.grants.refresh.pop(form.get("refresh_token", ""), None)
                if expires is None or expires < time.time():
                    return reply({"error": "invalid_grant"}, 400)
            else:
                return reply({"error": "unsupported_grant_type"}, 400)
        granted = self._grant()
        granted.pop("expires_at")
        return reply(granted)

    # -- the data services --------------------------------------------------------------

    async def _concurrent(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Intuit's second limit: 10 requests in flight per app and realm, else 429."""
        key = self.credential_key(request)
        if key == "oauth" or request.url.path.startswith(CONTROL):
            return await call_next(request)
        with self._lock:
            if self._inflight.get(key, 0) >= self.concurrency:
                return self.throttled(1.0)
            self._inflight[key] = self._inflight.get(key, 0) + 1
        try:
            return await call_next(request)
        finally:
            with self._lock:
                self._inflight[key] -= 1

    def credential_key(self, request: Request) -> str:
        """Intuit throttles per realm (500 requests a minute per realm ID)."""
        parts = request.url.path.split("/")
        return parts[3] if len(parts) > 3 and parts[1] == "v3" else "oauth"

    def throttled(self, retry_after: float) -> Response:
        return gateway_fault(
            429,
            3001,
            "ThrottleExceeded",
            "The request limit was reached.  Try again later",
            "SERVICE",
            **{"Retry-After": str(max(1, round(retry_after + 0.5)))},
        )

    def server_error(self, status: int) -> Response:
        return fault(
            status,
            10000,
            "An application error has occurred while processing your request",
            "System Failure Error: An unexpected error occurred while accessing or saving your "
            "data. Please wait a few minutes and try again.",
            "SystemFault",
        )

    def _denied(self, request: Request, realm: str) -> Response | None:
        self.minor_versions[request.query_params.get("minorversion")] += 1
        auth = request.headers.get("authorization", "")
        access = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        expires = self.grants.expiry(access)
        if expires is None:
            return gateway_fault(
                401, 3200, "AuthenticationFailed", "Token invalid", "AUTHENTICATION"
            )
        if expires < time.time():
            return gateway_fault(
                401, 3200, "AuthenticationFailed", "Token expired: " + access[:8], "AUTHENTICATION"
            )
        if realm != self.realm_id:
            return gateway_fault(403, 3100, "AuthorizationFailed", None, "SERVICE")
        return None

    def _routes(self) -> None:
        app = self.app
        app.get("/connect/oauth2")(self._authorize)
        app.post("/oauth2/v1/tokens/bearer")(self._token)
        app.api_route("/v3/company/{realm}/query", methods=["GET", "POST"])(self._query)
        app.get("/v3/company/{realm}/{entity}/{ident}")(self._read)
        app.post("/v3/company/{realm}/{entity}")(self._write)

    async def _query(self, realm: str, request: Request) -> Response:
        denied = self._denied(request, realm)
        if denied:
            return denied
        text = request.query_params.get("query")
        if text is None and request.method == "POST":
            text = (await request.body()).decode()
        try:
            query = Query(text or "")
        except QueryError as exc:
            return fault(400, 4000, "Error parsing query", f"QueryParserError: {exc}")
        with self._lock:
            if query.count:
                total = sum(1 for _ in self._select(query))
                envelope: dict[str, Any] = {"totalCount": total}
            else:
                first = query.start - 1
                found = list(itertools.islice(self._select(query), first, first + query.max))
                envelope = (
                    {query.entity: found, "startPosition": query.start, "maxResults": len(found)}
                    if found
                    else {}
                )
            # Serialised under the lock: an edit from another thread never tears a page.
            body = dumps({"QueryResponse": envelope, "time": response_time()})
        return Response(
            body,
            media_type=JSON_TYPE,
            headers={"intuit_tid": uuid.uuid4().hex},
        )

    def _select(self, query: Query) -> Iterator[dict[str, Any]]:
        """The query's matches in its order; TimeActivity by LastUpdatedTime uses the index."""
        records = self.store[query.entity]
        conditions = list(query.where)
        by_stamp = query.entity == "TimeActivity" and (
            not query.order
            or [(f.lower(), d) for f, d in query.order] == [("metadata.lastupdatedtime", False)]
        )
        if query.entity == "TimeActivity" and query.order and by_stamp:
            lower = 0
            for field, op, values in conditions:
                if field.lower() == "metadata.lastupdatedtime" and op in (">=", ">"):
                    moment = _key(field, values[0])
                    if isinstance(moment, float):
                        second = int(moment) + (1 if op == ">" or moment != int(moment) else 0)
                        lower = max(lower, second)
            start = bisect.bisect_left(self._by_updated, (lower,))
            index = self._by_updated
            candidates: Iterable[dict[str, Any]] = (
                records[index[i][2]] for i in range(start, len(index))
            )
        elif not query.order:
            candidates = records.values()  # by Id, as created
        else:
            candidates = list(records.values())
            for field, descending in reversed(query.order):
                candidates.sort(
                    key=lambda r, f=field: (_key(f, _path(r, f)) is None, _key(f, _path(r, f))),  # type: ignore[misc]
                    reverse=descending,
                )
        for record in candidates:
            if not conditions or _matches(record, conditions):
                yield record

    async def _read(self, realm: str, entity: str, ident: str, request: Request) -> Response:
        name = self._entity(realm, entity, request)
        if isinstance(name, Response):
            return name
        with self._lock:
            record = self.store[name].get(ident)
            body = dumps({name: record, "time": response_time()}) if record else b""
        if not body:
            return fault(
                400,
                610,
                "Object Not Found",
                "Object Not Found : Something you're trying to use has been made inactive. "
                "Check the fields with accounts, customers, items, vendors or employees.",
            )
        return Response(
            body,
            media_type=JSON_TYPE,
            headers={"intuit_tid": uuid.uuid4().hex},
        )

    def _entity(self, realm: str, entity: str, request: Request) -> str | Response:
        """The entity a call names (`timeactivity` -> TimeActivity); else Intuit's refusal
        of the caller, or its answer for an entity it has no such operation for."""
        denied = self._denied(request, realm)
        if denied:
            return denied
        name = BY_LOWER.get(entity)
        return name if name is not None else self._unsupported(request)

    def _unsupported(self, request: Request) -> Response:
        return fault(
            400,
            500,
            "Unsupported Operation",
            f"Operation Could not find resource for relative : {request.url.path} "
            "is not supported.",
        )

    async def _write(self, realm: str, entity: str, request: Request) -> Response:
        name = self._entity(realm, entity, request)
        if isinstance(name, Response):
            return name
        request_id = request.query_params.get("requestid")
        if request_id is not None:
            if len(request_id) > 50:
                return fault(
                    400,
                    2010,
                    "Request has invalid or unsupported property",
                    "requestid is longer than 50 characters",
                )
            with self._lock:
                replayed = self._replies.get(request_id)
            if replayed is not None:  # Intuit answers a repeated requestid with the first answer
                return Response(
                    replayed[1],
                    status_code=replayed[0],
                    media_type=JSON_TYPE,
                    headers={"intuit_tid": uuid.uuid4().hex},
                )
        try:
            body = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return fault(400, 2500, "Invalid Request", "Request body is not valid JSON")
        if not isinstance(body, dict):
            return fault(400, 2500, "Invalid Request", "Request body must be an object")
        operation = request.query_params.get("operation", "")
        with self._lock:
            first = self._replies.get(request_id) if request_id is not None else None
            if first is not None:  # the same requestid arrived twice at once
                return Response(first[1], status_code=first[0], media_type=JSON_TYPE)
            answer = self._apply(name, body, operation, request.query_params)
            if request_id is not None:
                self._replies[request_id] = (answer.status_code, bytes(answer.body))
        return answer

    def _apply(
        self, name: str, body: dict[str, Any], operation: str, params: Mapping[str, str]
    ) -> Response:
        records = self.store[name]
        now = dt.datetime.now(dt.UTC)
        ident = body.get("Id")
        if ident is not None:
            current = records.get(str(ident))
            if current is None:
                return fault(400, 610, "Object Not Found", f"Object Not Found : {name} {ident}")
            if str(body.get("SyncToken")) != current["SyncToken"]:
                return fault(
                    400,
                    5010,
                    "Stale Object Error",
                    f"Stale Object Error : You and another user were working on the same thing. "
                    f"(SyncToken {body.get('SyncToken')} is not {current['SyncToken']})",
                )
            if operation == "void" and name == "Invoice":
                for line in current["Line"]:
                    line["Amount"] = Decimal(0)
                    if line.get("SalesItemLineDetail"):
                        line["SalesItemLineDetail"]["Qty"] = Decimal(0)
                current["TotalAmt"] = current["Balance"] = Decimal(0)
                current["TxnTaxDetail"] = {"TotalTax": Decimal(0)}
                current["PrivateNote"] = "Voided"
                self._touch(current, now)
                self._notify_later(name, str(ident), "Void", now)
                return reply({name: current, "time": response_time()})
            if operation == "delete":
                del records[str(ident)]
                if name == "TimeActivity":
                    self._unindex(str(ident))
                self._notify_later(name, str(ident), "Delete", now)
                return reply(
                    {
                        name: {"status": "Deleted", "domain": "QBO", "Id": str(ident)},
                        "time": response_time(),
                    }
                )
            problem = self._validate(name, body, current)
            if problem is not None:
                return problem
            if body.get("sparse") is True:
                updated = {**current, **{k: v for k, v in body.items() if k != "sparse"}}
            else:
                kept = {"Id", "SyncToken", "MetaData", "domain"}
                updated = {k: v for k, v in current.items() if k in kept} | body
            updated["sparse"] = False
            updated["MetaData"] = dict(current["MetaData"])
            updated["SyncToken"] = current["SyncToken"]
            self._derive(name, updated)
            records[str(ident)] = updated
            self._rename(name, current, updated)
            self._touch(updated, now)
            self._notify_later(name, str(ident), "Update", now)
            return reply({name: updated, "time": response_time()})
        if operation:
            return fault(400, 2020, "Required param missing", "Id is required for " + operation)
        problem = self._validate(name, body, None, params)
        if problem is not None:
            return problem
        created = self._new(body, now)
        ident = str(created["Id"])
        self._derive(name, created)
        records[ident] = created
        if name == "TimeActivity":
            self._index(created)
        self._rename(name, None, created)
        self._notify_later(name, ident, "Create", now)
        return reply({name: created, "time": response_time()})

    def _rename(self, name: str, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        """Keep the by-name index of customers, items and employees right."""
        if name not in ("Customer", "Item", "Employee", "Account"):
            return
        if before is not None and before.get("FullyQualifiedName"):
            self._names.pop((name, str(before["FullyQualifiedName"]).lower()), None)
        label = after.get("FullyQualifiedName") or after.get("DisplayName") or after.get("Name")
        if label:
            self._names[(name, str(label).lower())] = str(after["Id"])

    def _validate(
        self,
        name: str,
        body: dict[str, Any],
        current: dict[str, Any] | None,
        params: Mapping[str, str] | None = None,
    ) -> Response | None:
        merged = {**(current or {}), **body} if body.get("sparse") else body

        def missing(field: str) -> Response:
            return fault(
                400,
                2020,
                "Required param missing, need to supply the required value for the API",
                f"Required parameter {field} is missing in the request",
            )

        def invalid_ref(kind: str, value: Any) -> Response:
            return fault(
                400,
                2500,
                "Invalid Reference Id",
                f"Invalid Reference Id : {kind} assigned is {value}",
            )

        def name_taken(kind: str, given: Any) -> Response | None:
            taken = self._names.get((kind, str(given).lower()))
            if taken and (current is None or taken != current["Id"]):
                return fault(
                    400,
                    6240,
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. : Id={taken}",
                )
            return None

        def exists(kind: str, reference: Any) -> bool:
            return isinstance(reference, dict) and str(reference.get("value")) in self.store[kind]

        if name == "Customer":
            display = merged.get("DisplayName")
            if not display:
                return missing("DisplayName")
            return name_taken("Customer", display)
        elif name == "Item":
            if not merged.get("Name"):
                return missing("Name")
            if (taken := name_taken("Item", merged["Name"])) is not None:
                return taken
            if merged.get("Type", "Service") in ("Service", "NonInventory"):
                if not merged.get("IncomeAccountRef"):
                    return missing("IncomeAccountRef")
                if not exists("Account", merged["IncomeAccountRef"]):
                    return invalid_ref("Account", merged["IncomeAccountRef"].get("value"))
        elif name == "TimeActivity":
            if merged.get("BillableStatus") not in (
                None,
                "Billable",
                "NotBillable",
                "HasBeenBilled",
            ):
                return fault(400, 2010, "Invalid Enumeration", "BillableStatus")
            who = merged.get("EmployeeRef") or merged.get("VendorRef")
            if not who:
                return missing("EmployeeRef")
            if merged.get("CustomerRef") and not exists("Customer", merged["CustomerRef"]):
                return invalid_ref("Customer", merged["CustomerRef"].get("value"))
        elif name == "Invoice":
            if not merged.get("CustomerRef"):
                return missing("CustomerRef")
            if not exists("Customer", merged["CustomerRef"]):
                return invalid_ref("Customer", merged["CustomerRef"].get("value"))
            currency = (merged.get("CurrencyRef") or {}).get("value", self.home_currency)
            if currency != self.home_currency:
                return fault(
                    400,
                    6000,
                    BUSINESS,
                    f"Business Validation Error: multicurrency is off; {currency} is not the "
                    f"home currency {self.home_currency}",
                )
            lines = merged.get("Line")
            if not isinstance(lines, list) or not lines:
                return missing("Line")
            for line in lines:
                if line.get("DetailType") != "SalesItemLineDetail":
                    continue
                detail = line.get("SalesItemLineDetail") or {}
                if not exists("Item", detail.get("ItemRef")):
                    return invalid_ref("Item", (detail.get("ItemRef") or {}).get("value"))
                qty, price = detail.get("Qty"), detail.get("UnitPrice")
                if qty is not None and price is not None:
                    # To the cent, halves up as invoices round (8.75 x 247.50 = 2165.63);
                    # Intuit does not document its rounding here (unverified).
                    product = Decimal(str(qty)) * Decimal(str(price))
                    expected = product.quantize(CENT, rounding=ROUND_HALF_UP)
                    if Decimal(str(line.get("Amount"))).quantize(CENT) != expected:
                        return fault(
                            400,
                            6070,
                            BUSINESS,
                            "Business Validation Error: Amount is not equal to UnitPrice * Qty. "
                            f"Supplied value:{line.get('Amount')}",
                        )
            number = merged.get("DocNumber")
            allow = "allowduplicatedocnum" in ((params or {}).get("include") or "")
            if number and not allow:
                for other in self.store["Invoice"].values():
                    if other.get("DocNumber") == number and other["Id"] != (current or {}).get(
                        "Id"
                    ):
                        return fault(
                            400,
                            6140,
                            "Duplicate Document Number Error",
                            f"Duplicate Document Number Error : You must specify a different "
                            f"number. This number has already been used. DocNumber={number}",
                        )
        return None

    def _derive(self, name: str, record: dict[str, Any]) -> None:
        """What QuickBooks computes itself on a write."""
        if name == "Customer":
            parent = (record.get("ParentRef") or {}).get("value")
            record.setdefault("Active", True)
            record["Job"] = bool(parent)
            record.setdefault("Balance", Decimal(0))
            record.setdefault("CurrencyRef", ref(self.home_currency))
            record["FullyQualifiedName"] = (
                f"{self.store['Customer'][parent]['FullyQualifiedName']}:{record['DisplayName']}"
                if parent in self.store["Customer"]
                else record["DisplayName"]
            )
        elif name == "Item":
            record.setdefault("Active", True)
            record.setdefault("Type", "Service")
            record["FullyQualifiedName"] = record["Name"]
            account = self.store["Account"].get(record["IncomeAccountRef"]["value"])
            if account:
                record["IncomeAccountRef"] = ref(account["Id"], account["Name"])
        elif name == "Invoice":
            lines = [ln for ln in record["Line"] if ln.get("DetailType") != "SubTotalLineDetail"]
            subtotal = Decimal(0)
            for number, line in enumerate(lines, 1):
                line["Id"] = str(number)
                line["LineNum"] = number
                line["Amount"] = Decimal(str(line.get("Amount", 0))).quantize(CENT)
                subtotal += line["Amount"]
                detail = line.get("SalesItemLineDetail")
                if detail and detail.get("ItemRef"):
                    item = self.store["Item"][str(detail["ItemRef"]["value"])]
                    detail["ItemRef"] = ref(item["Id"], item["Name"])
            lines.append(
                {"Amount": subtotal, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
            )
            record["Line"] = lines
            tax = Decimal(str((record.get("TxnTaxDetail") or {}).get("TotalTax", 0))).quantize(CENT)
            record["TxnTaxDetail"] = {**(record.get("TxnTaxDetail") or {}), "TotalTax": tax}
            customer = self.store["Customer"][str(record["CustomerRef"]["value"])]
            record["CustomerRef"] = ref(customer["Id"], customer["DisplayName"])
            record.setdefault("CurrencyRef", ref(self.home_currency))
            record["CurrencyRef"] = ref(
                record["CurrencyRef"]["value"],
                "United States Dollar"
                if record["CurrencyRef"]["value"] == "USD"
                else record["CurrencyRef"]["value"],
            )
            record.setdefault("TxnDate", dt.datetime.now(PACIFIC).date().isoformat())
            record.setdefault("DocNumber", str(1000 + len(self.store["Invoice"]) + 1))
            total = subtotal + tax
            paid = Decimal(str(record.get("TotalAmt", total))) - Decimal(
                str(record.get("Balance", record.get("TotalAmt", total)))
            )
            record["TotalAmt"] = total
            record["Balance"] = max(total - paid, Decimal(0))
            record.setdefault("EmailStatus", "NotSet")
            record.setdefault("PrintStatus", "NotSet")
            record.setdefault("LinkedTxn", [])
        elif name == "TimeActivity":
            record.setdefault("BillableStatus", "NotBillable")
            record.setdefault("TxnDate", dt.datetime.now(PACIFIC).date().isoformat())
            for key, kind in (
                ("EmployeeRef", "Employee"),
                ("CustomerRef", "Customer"),
                ("ItemRef", "Item"),
            ):
                value = (record.get(key) or {}).get("value")
                if value in self.store[kind]:
                    target = self.store[kind][value]
                    label = (
                        target.get("FullyQualifiedName")
                        or target.get("DisplayName")
                        or target.get("Name")
                    )
                    record[key] = ref(value, label)

    # -- webhooks ----------------------------------------------------------------------

    def signature(self, body: bytes) -> str:
        """intuit-signature: base64 of HMAC-SHA256 over the raw body, keyed with the
        app's verifier token."""
        digest = hmac.new(self.verifier_token.encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def notification(self, entity: str, ident: str, operation: str, at: dt.datetime) -> bytes:
        if self.webhook_format == "cloudevents":
            kind = {"Create": "created", "Update": "updated", "Delete": "deleted"}.get(
                operation, operation.lower()
            )
            return dumps(
                [
                    {
                        "specversion": "1.0",
                        "id": str(uuid.uuid4()),
                        "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
                        "type": f"qbo.{entity.lower()}.{kind}.v1",
                        "datacontenttype": "application/json",
                        "time": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "intuitentityid": ident,
                        "intuitaccountid": self.realm_id,
                        "data": {},
                    }
                ]
            )
        entity_event = {
            "name": entity,
            "id": ident,
            "operation": operation,
            "lastUpdated": at.astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return dumps(
            {
                "eventNotifications": [
                    {"realmId": self.realm_id, "dataChangeEvent": {"entities": [entity_event]}}
                ]
            }
        )

    def _notify(self, entity: str, ident: str, operation: str, at: dt.datetime) -> None:
        with self._lock:
            urls = list(self.subscribers)
        if not urls:
            return
        body = self.notification(entity, ident, operation, at)
        headers = {"content-type": "application/json", "intuit-signature": self.signature(body)}
        for url in urls:
            self.deliver(url, body, headers)

    def _notify_later(self, entity: str, ident: str, operation: str, at: dt.datetime) -> None:
        """A change made through the API: delivered off the request, as Intuit does."""
        if self.subscribers:
            threading.Thread(
                target=self._notify, args=(entity, ident, operation, at), daemon=True
            ).start()
