"""Harvest API v2, emulated: the time entry endpoints as Harvest documents them.

    sandbox = HarvestSandbox(seed=7, size=500)
    with serve(sandbox) as url:
        GET {url}/v2/time_entries?updated_since=2026-10-01T00:00:00Z&per_page=2000
            Authorization: Bearer <token>; Harvest-Account-Id: <account>; User-Agent: ...
        -> {"time_entries": [...], "per_page": 2000, "total_pages": 1, "total_entries": 500,
            "next_page": null, "previous_page": null, "page": 1,
            "links": {"first": ".../v2/time_entries?page=1&per_page=2000&ref=first",
                      "next": null, "previous": null, "last": "...&ref=last"}}
        GET {url}/v2/time_entries/{id}  -> the entry, or 404 {"status": 404, "error": "Not Found"}

What it keeps of Harvest's behaviour:
- Auth: a personal access token (`Authorization: Bearer` or `?access_token=`) for one
  account (`Harvest-Account-Id` or `?account_id=`); anything else is a 401
  `{"error": "invalid_token", "error_description": ...}`. No `User-Agent`: 400.
- Entries sorted by `spent_date`, newest first (ties: newest id first); filters
  `updated_since` (inclusive), `from`/`to`, `user_id`, `client_id`, `project_id`,
  `task_id`, `is_billed`, `is_running`, `external_reference_id`.
- Paging: `per_page` 1..2000 (default 2000; more is a 422); `page=N`, or the opaque
  `cursor` of `links.next` (cursor wins when both are given); with a cursor, `page`,
  `next_page` and `previous_page` are null except on the first and last pages.
- 100 requests per 15 s per token; over it a 429 with `Retry-After` (seconds) and
  Harvest's HTML throttle page.
- `hours` in decimal hours to two places, as Harvest stores them.
- No webhooks: Harvest has none. Deleted entries simply disappear.

Each entry's JSON is built once when it changes, and the indexes by spent_date and by
updated_at are sorted once after a bulk load, so a 2000-entry page costs a join.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import datetime as dt
import hmac
import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from ..base import RateLimit, Setup, TimeSandbox, token
from ..registry import register
from ..seed import WorkItem

MAX_PER_PAGE = 2000
ACCOUNT_SINCE = "2026-01-05T09:00:00Z"  # when the sandbox account's assignments were made
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": (
        "The access token provided is expired, revoked, malformed or invalid for other reasons."
    ),
}
FILTERS = (
    "user_id",
    "client_id",
    "project_id",
    "task_id",
    "external_reference_id",
    "is_billed",
    "is_running",
    "updated_since",
    "from",
    "to",
)
HUNDREDTH = Decimal("0.01")
THROTTLE_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
    "<title>HARVEST: Too Many Requests</title></head>\n<body><h1>Too Many Requests</h1>"
    "<p>You have exceeded the API rate limit. Please wait and try again.</p></body>\n</html>\n"
)
ERROR_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
    "<title>HARVEST: Something went wrong</title></head>\n<body>"
    "<h1>We're sorry, but something went wrong.</h1></body>\n</html>\n"
)

Key = tuple[int, int]  # (-spent_date ordinal, -id): ascending = Harvest's order


def number(value: Decimal) -> str:
    """A JSON number as Harvest writes it: 3.75, 2.0, 145.0."""
    text = f"{value.normalize():f}"
    return text if "." in text else text + ".0"


def hours_of(seconds: int) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def clock(moment: dt.datetime) -> str:
    """Harvest's started_time/ended_time: "8:00am", "3:15pm"."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}{'am' if moment.hour < 12 else 'pm'}"


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(at: dt.datetime | None) -> int:
    moment = at or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise ValueError("a change stamp must be timezone-aware")
    return math.floor(moment.timestamp())


@dataclass
class Row:
    """One entry as the sandbox keeps it; `blob` is its JSON as Harvest sends it."""

    id: int
    item: WorkItem
    seconds: int
    created: int
    updated: int
    refs: tuple[int, int, int, int]  # user, client, project, task ids
    blob: bytes = b""

    @property
    def key(self) -> Key:
        return (-self.item.start.date().toordinal(), -self.id)


class Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


@register
class HarvestSandbox(TimeSandbox):
    platform = "harvest"
    page_size = MAX_PER_PAGE

    def __init__(
        self,
        *,
        seed: int = 7,
        size: int = 0,
        items: Iterable[WorkItem] | None = None,
        rate_limit: RateLimit | None | Literal[False] = None,
        page_size: int | None = None,
    ) -> None:
        """`rate_limit`: None for Harvest's 100 requests per 15 s, False for none.
        `page_size`: the most entries a page holds (Harvest: 2000), for paging tests."""
        self._lock = threading.RLock()
        self._rows: dict[int, Row] = {}
        self._order: list[Key] = []  # sorted when not _dirty
        self._updated: list[tuple[int, int]] = []  # (updated_at, id), sorted when not _dirty
        self._dirty = False
        self._selections: dict[tuple[object, ...], list[Key]] = {}
        self._refs: dict[tuple[str, str], int] = {}
        self._fragments: dict[tuple[int, int, int, int], str] = {}
        self._known: dict[tuple[str, str, str, str], tuple[int, int, int, int]] = {}
        self._stamps: dict[int, str] = {}
        self._hours: dict[int, str] = {}
        self._next_id = 2_500_000_000 + seed * 1_000_000
        self.account_id = str(1_100_000 + seed)
        self.token = f"{3_100_000 + seed}.pt.{token()}"
        if page_size is not None:
            self.page_size = max(1, min(page_size, MAX_PER_PAGE))
        limit = RateLimit(limit=100, window=15.0) if rate_limit is None else rate_limit or None
        super().__init__(seed=seed, size=size, items=items, rate_limit=limit)
        self.app.get("/v2/time_entries")(self._list)
        self.app.get("/v2/time_entries/{entry_id}")(self._show)

    # -- Harvest's answers ---------------------------------------------------------

    def throttled(self, retry_after: float) -> Response:
        return Response(
            THROTTLE_PAGE,
            status_code=429,
            media_type="text/html",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def server_error(self, status: int) -> Response:
        return Response(ERROR_PAGE, status_code=status, media_type="text/html")

    def credentials(self) -> dict[str, str]:
        return {"token": self.token, "account_id": self.account_id}

    def setup(self, base_url: str) -> Setup:
        return Setup(settings={"account_id": self.account_id}, credentials={"token": self.token})

    # -- the remote control --------------------------------------------------------

    def add(self, item: WorkItem, *, at: dt.datetime | None = None, notify: bool = True) -> str:
        stamp = epoch(at)
        with self._lock:
            self._next_id += 1
            row = Row(self._next_id, item, item.seconds, stamp, stamp, self._refs_of(item))
            row.blob = self._json(row)
            self._rows[row.id] = row
            self._order.append(row.key)
            self._updated.append((row.updated, row.id))
            self._dirty = True
            self._selections.clear()
        return str(row.id)

    def edit(
        self, external_id: str, *, seconds: int, at: dt.datetime | None = None, notify: bool = True
    ) -> None:
        stamp = epoch(at)
        with self._lock:
            row = self._rows[int(external_id)]
            self._sort()
            del self._updated[bisect.bisect_left(self._updated, (row.updated, row.id))]
            row.seconds, row.updated = seconds, stamp
            row.blob = self._json(row)
            bisect.insort(self._updated, (row.updated, row.id))
            self._selections.clear()

    def remove(self, external_id: str, *, notify: bool = True) -> None:
        with self._lock:
            row = self._rows.pop(int(external_id))
            self._sort()
            del self._updated[bisect.bisect_left(self._updated, (row.updated, row.id))]
            del self._order[bisect.bisect_left(self._order, row.key)]
            self._selections.clear()

    def ids(self) -> set[str]:
        with self._lock:
            return {str(entry_id) for entry_id in self._rows}

    def entry(self, external_id: str) -> dict[str, object]:
        """One entry as Harvest returns it (for tests)."""
        with self._lock:
            result: dict[str, object] = json.loads(self._single(self._rows[int(external_id)]))
        return result

    # -- the routes ----------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        try:
            self._authorize(request)
            query = request.query_params
            per_page = self._per_page(query.get("per_page"))
            since = self._since(query.get("updated_since"))
            first = self._date(query, "from")
            last = self._date(query, "to")
            keep = self._filter(query)
            given_cursor = query.get("cursor")
            cursor = self._cursor(given_cursor) if given_cursor else None
            page = self._int(query, "page", 1) if cursor is None else None
        except Refused as refused:
            return refused.response
        given = [(name, query[name]) for name in FILTERS if name in query]
        base = str(request.base_url).rstrip("/") + "/v2/time_entries"
        with self._lock:
            selected = self._select(since, first, last, keep, tuple(given))
            total = len(selected)
            start = (
                bisect.bisect_right(selected, cursor)
                if cursor is not None
                else ((page or 1) - 1) * per_page
            )
            chunk = selected[start : start + per_page]
            blobs = [self._rows[-key[1]].blob for key in chunk]
        pages = max(1, math.ceil(total / per_page))
        at_end = start + len(chunk) >= total

        def link(ref: str, **where: object) -> str:
            pairs = [*given, *where.items(), ("per_page", per_page), ("ref", ref)]
            return f"{base}?{urlencode(pairs)}"

        number_of_page = start // per_page + 1
        if cursor is not None and start > 0 and not at_end:
            page_no: int | None = None  # a cursor page in the middle: Harvest gives no numbers
            next_page = previous_page = None
        else:
            page_no = pages if cursor is not None and at_end else (page or number_of_page)
            next_page = page_no + 1 if page_no < pages and not at_end else None
            previous_page = page_no - 1 if page_no > 1 else None
        meta = {
            "per_page": per_page,
            "total_pages": pages,
            "total_entries": total,
            "next_page": next_page,
            "previous_page": previous_page,
            "page": page_no,
            "links": {
                "first": link("first", page=1),
                "next": link("next_cursor", cursor=self._encode(chunk[-1]))
                if chunk and not at_end
                else None,
                "previous": link("previous", page=max(1, math.ceil(start / per_page)))
                if start > 0
                else None,
                "last": link("last", page=pages),
            },
        }
        body = b'{"time_entries":[' + b",".join(blobs) + b"]," + json.dumps(meta)[1:].encode()
        return Response(body, media_type="application/json; charset=utf-8")

    async def _show(self, request: Request, entry_id: str) -> Response:
        try:
            self._authorize(request)
        except Refused as refused:
            return refused.response
        with self._lock:
            row = self._rows.get(int(entry_id)) if entry_id.isdigit() else None
            blob = self._single(row) if row is not None else None
        if blob is None:
            return JSONResponse({"status": 404, "error": "Not Found"}, status_code=404)
        return Response(blob, media_type="application/json; charset=utf-8")

    # -- requests ------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        if not request.headers.get("user-agent"):
            raise Refused(JSONResponse({"status": 400, "error": "Bad Request"}, status_code=400))
        header = request.headers.get("authorization", "")
        given = header[7:] if header[:7].lower() == "bearer " else ""
        given = given or request.query_params.get("access_token", "")
        account = request.headers.get("harvest-account-id") or request.query_params.get(
            "account_id", ""
        )
        token_ok = hmac.compare_digest(given.encode(), self.token.encode())
        if not (token_ok and account == self.account_id):
            raise Refused(JSONResponse(INVALID_TOKEN, status_code=401))

    @staticmethod
    def _invalid(message: str) -> Refused:
        return Refused(JSONResponse({"message": message}, status_code=422))

    def _int(self, query: QueryParams, name: str, default: int) -> int:
        value = query.get(name)
        if value is None or value == "":
            return default
        if not str(value).isdigit() or int(value) < 1:
            raise self._invalid(f"{name} must be a positive integer")
        return int(value)

    def _per_page(self, value: str | None) -> int:
        if value is None or value == "":
            return self.page_size
        if not value.isdigit() or not 1 <= int(value) <= MAX_PER_PAGE:
            raise self._invalid(f"per_page must be between 1 and {MAX_PER_PAGE}")
        return min(int(value), self.page_size)

    def _since(self, value: str | None) -> int | None:
        if not value:
            return None
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise self._invalid("updated_since is not a valid ISO 8601 date and time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return math.ceil(moment.timestamp())  # stamps are whole seconds: >= since

    def _date(self, query: QueryParams, name: str) -> int | None:
        value = query.get(name)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(str(value)).toordinal()
        except ValueError:
            raise self._invalid(f"{name} is not a valid date (YYYY-MM-DD)") from None

    def _filter(self, query: QueryParams) -> Callable[[Row], bool] | None:
        get = query.get
        tests: list[Callable[[Row], bool]] = []
        for position, name in enumerate(("user_id", "client_id", "project_id", "task_id")):
            if get(name):
                tests.append(self._ref_is(position, self._int(query, name, 0)))
        for name in ("is_billed", "is_running"):  # the sandbox bills nothing, runs no timer
            if get(name):
                if get(name) not in ("true", "false"):
                    raise self._invalid(f"{name} must be true or false")
                if get(name) == "true":
                    tests.append(lambda row: False)
        if get("external_reference_id"):
            tests.append(lambda row: False)  # no entry here has an external reference
        if not tests:
            return None
        return lambda row: all(test(row) for test in tests)

    @staticmethod
    def _ref_is(position: int, wanted: int) -> Callable[[Row], bool]:
        return lambda row: row.refs[position] == wanted

    def _cursor(self, value: str) -> Key:
        try:
            after = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))["after"]
            day = dt.date.fromisoformat(after["spent_date"]).toordinal()
            return (-day, -int(after["id"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise self._invalid("cursor is not valid") from None

    @staticmethod
    def _encode(key: Key) -> str:
        after = {"after": {"spent_date": dt.date.fromordinal(-key[0]).isoformat(), "id": -key[1]}}
        raw = json.dumps(after, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    # -- the indexes ---------------------------------------------------------------

    def _sort(self) -> None:
        """Sort the indexes once after appends (a bulk load sorts once, not per entry)."""
        if self._dirty:
            self._order.sort()
            self._updated.sort()
            self._dirty = False

    def _select(
        self,
        since: int | None,
        first: int | None,
        last: int | None,
        keep: Callable[[Row], bool] | None,
        given: tuple[tuple[str, str], ...],
    ) -> list[Key]:
        """The keys a query selects, in Harvest's order; kept until the data changes,
        so the pages of one listing share one selection."""
        cached = self._selections.get(given)
        if cached is not None:
            return cached
        self._sort()
        low = -last if last is not None else None
        high = -first if first is not None else None
        if since is None:
            lo = 0 if low is None else bisect.bisect_left(self._order, (low, -(2**63)))
            hi = len(self._order) if high is None else bisect.bisect_right(self._order, (high, 0))
            keys = self._order[lo:hi]
        else:
            changed = self._updated[bisect.bisect_left(self._updated, (since, 0)) :]
            keys = sorted(self._rows[entry_id].key for _, entry_id in changed)
            if low is not None or high is not None:
                keys = [
                    k
                    for k in keys
                    if (low is None or k[0] >= low) and (high is None or k[0] <= high)
                ]
        if keep is not None:
            keys = [k for k in keys if keep(self._rows[-k[1]])]
        if len(self._selections) > 32:
            self._selections.clear()
        self._selections[given] = keys
        return keys

    # -- Harvest's JSON ------------------------------------------------------------

    def _refs_of(self, item: WorkItem) -> tuple[int, int, int, int]:
        names = (item.person, item.client, item.project, item.task)
        found = self._known.get(names)
        if found is not None:
            return found

        def ref(kind: str, name: str, first: int) -> int:
            number = self._refs.get((kind, name))
            if number is None:
                number = first + sum(1 for k, _ in self._refs if k == kind) + 1
                self._refs[(kind, name)] = number
            return number

        refs = (
            ref("user", item.person, 3_100_000),
            ref("client", item.client, 5_700_000),
            ref("project", item.project, 14_300_000),
            ref("task", item.task, 8_080_000),  # tasks are the account's, not a project's
        )
        self._known[names] = refs
        return refs

    def _fragment(self, row: Row) -> str:
        """The entry's user, client, project and task objects, shared by its peers."""
        found = self._fragments.get(row.refs)
        if found is None:
            user, client, project, task = row.refs
            item = row.item
            found = (
                f'"user":{{"id":{user},"name":{json.dumps(item.person)}}},'
                f'"client":{{"id":{client},"name":{json.dumps(item.client)}}},'
                f'"project":{{"id":{project},"name":{json.dumps(item.project)}}},'
                f'"task":{{"id":{task},"name":{json.dumps(item.task)}}},'
            )
            self._fragments[row.refs] = found
        return found

    def _assignments(self, row: Row) -> bytes:
        """The user and task assignments Harvest adds to a single entry (its list
        endpoint leaves them out)."""
        user, _, project, task = row.refs
        rate = number(self._rate(user))
        return (
            f'"user_assignment":{{"id":{125_000_000 + user % 1000 * 1000 + project % 1000},'
            f'"is_project_manager":false,"is_active":true,"budget":null,'
            f'"created_at":"{ACCOUNT_SINCE}","updated_at":"{ACCOUNT_SINCE}",'
            f'"hourly_rate":{rate}}},'
            f'"task_assignment":{{"id":{155_000_000 + task % 1000 * 1000 + project % 1000},'
            f'"billable":{"true" if row.item.billable else "false"},"is_active":true,'
            f'"created_at":"{ACCOUNT_SINCE}","updated_at":"{ACCOUNT_SINCE}",'
            f'"hourly_rate":{rate},"budget":null}},'
        ).encode()

    def _single(self, row: Row) -> bytes:
        """The entry as GET /v2/time_entries/{id} returns it."""
        mark = row.blob.index(b'"hours":')
        return row.blob[:mark] + self._assignments(row) + row.blob[mark:]

    @staticmethod
    def _rate(user: int) -> Decimal:
        return Decimal(120 + 15 * ((user - 1) % 4))  # the first person 120, then 135 ...

    def _stamp(self, ts: int) -> str:
        text = self._stamps.get(ts)
        if text is None:
            text = self._stamps[ts] = iso(ts)
        return text

    def _json(self, row: Row) -> bytes:
        """The entry as the list endpoint returns it."""
        item = row.item
        hours = self._hours.get(row.seconds)
        if hours is None:
            hours = self._hours[row.seconds] = number(hours_of(row.seconds))
        start = item.start
        end = start + dt.timedelta(seconds=row.seconds)
        closed = "true" if item.approved else "false"
        reason = '"Item Approved and Locked for this Time Period"' if item.approved else "null"
        rate = number(self._rate(row.refs[0])) if item.billable else "null"
        notes = json.dumps(item.notes.replace("\x00", "")) if item.notes else "null"
        return (
            f'{{"id":{row.id},"spent_date":"{start.date().isoformat()}",'
            f"{self._fragment(row)}"
            f'"hours":{hours},"hours_without_timer":{hours},"rounded_hours":{hours},'
            f'"notes":{notes},"is_locked":{closed},"locked_reason":{reason},'
            f'"is_closed":{closed},"is_billed":false,"timer_started_at":null,'
            f'"started_time":"{clock(start)}","ended_time":"{clock(end)}",'
            f'"is_running":false,"invoice":null,"external_reference":null,'
            f'"billable":{"true" if item.billable else "false"},"budgeted":true,'
            f'"billable_rate":{rate},"cost_rate":70.0,'
            f'"created_at":"{self._stamp(row.created)}",'
            f'"updated_at":"{self._stamp(row.updated)}"}}'
        ).encode()
