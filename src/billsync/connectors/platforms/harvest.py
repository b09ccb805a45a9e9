"""Harvest (API v2): time entries in, polled. Harvest has no webhooks.

    GET /v2/time_entries?updated_since=2026-10-05T07:50:00Z&per_page=2000
    -> {"time_entries": [{"id": 2500000001, "spent_date": "2026-10-01",
                          "user": {"id": 3100001, "name": "Kari Hansen"},
                          "project": {"id": ..., "name": "MV Nordic Star - Hull survey"},
                          "task": {...}, "client": {...}, "hours": 3.75,
                          "is_closed": true, "billable": true, "billable_rate": 145.0,
                          "updated_at": "2026-10-05T07:52:10Z", ...}],
        "links": {"next": "https://api.harvestapp.com/v2/time_entries?cursor=...", ...}}
 -> fields: external_id=2500000001, person=Kari Hansen, project=MV Nordic Star - Hull
    survey, date=2026-10-01, hours=3.75, timezone=<connection.timezone>,
    approval=approved, billable=true, rate=145.0, revision=2026-10-05T07:52:10+00:00

Auth is a personal access token (`Authorization: Bearer`) plus the account id
(`Harvest-Account-Id`); Harvest refuses requests without a `User-Agent` naming the
application. Deletions are invisible to `updated_since`: the reconcile sweep
(`listed_ids` over `from`/`to`) finds them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from billsync.connectors.base import Context, Page, Source, VendorRecord
from billsync.connectors.fields import BadField, flag, number, obj, text, time_of
from billsync.connectors.http import VendorClient, VendorError, window_wait
from billsync.connectors.paging import PageGuard
from billsync.connectors.registry import Platform, register

NAME = "harvest"
BASE_URL = "https://api.harvestapp.com"
ENTRIES = "/v2/time_entries"
PER_PAGE = 2000  # Harvest's maximum (and default) page size
THROTTLE_WINDOW = 15.0  # seconds: 100 requests per 15 s; the wait when Retry-After is missing
APP = "billsync"  # User-Agent: "billsync (ops@firm.example)" with the `contact` setting


def detail_of(response: httpx.Response) -> str:
    """What Harvest said: `{"error": "invalid_token", "error_description": "..."}` (401),
    `{"message": "..."}` (422), `{"status": 404, "error": "Not Found"}`. Its throttle
    page (429) is HTML: the status line says it all."""
    if "json" not in response.headers.get("content-type", ""):
        return response.reason_phrase
    body = response.json()
    if not isinstance(body, dict):
        return response.reason_phrase
    said = [str(body[k]) for k in ("error", "error_description", "message") if body.get(k)]
    return ": ".join(said) or response.reason_phrase


# Retry-After (seconds) when Harvest sends it; a throttled answer without it waits one
# whole throttle window. Harvest documents no other rate-limit headers.
wait_of = window_wait(THROTTLE_WINDOW)


def client(context: Context, *, timeout: float = 30.0) -> VendorClient:
    contact = context.connection.settings.get("contact")
    return context.client(
        NAME,
        BASE_URL,
        headers={
            "Authorization": f"Bearer {context.credentials['token']}",
            "Harvest-Account-Id": context.setting("account_id"),
            "User-Agent": f"{APP} ({contact})" if contact else APP,
            "Accept": "application/json",
        },
        timeout=timeout,
        wait_of=wait_of,
        detail_of=detail_of,
    )


def since_param(since: dt.datetime) -> str:
    """`updated_since` in UTC, whole seconds rounded down (Harvest stamps whole seconds,
    so nothing stamped at `since` is missed)."""
    moment = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(payload: Mapping[str, Any], key: str) -> str:
    """The name of a reference (`project`, `task`, `client`): an object or null."""
    return text(obj(payload.get(key), key).get("name"), f"{key}.name")


class HarvestSource(Source):
    change_window = None  # `updated_since` reaches back to the account's first entry

    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if since is not None:
            params["updated_since"] = since_param(since)
        for entries in self._pages(params):
            if entries:
                yield Page([self._record(entry) for entry in entries])

    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        params = {"from": start.isoformat(), "to": end.isoformat(), "per_page": PER_PAGE}
        return {
            str(entry["id"])
            for entries in self._pages(params)
            for entry in entries
            if isinstance(entry, Mapping) and entry.get("id") is not None
        }

    def fetch(self, external_id: str) -> VendorRecord | None:
        if not external_id.isdigit():  # Harvest ids are integers: no such entry
            return None
        response = self.http.request("GET", f"{ENTRIES}/{external_id}", ok=frozenset({404}))
        if response.status_code == 404:
            return None
        return self._record(self.http.decode(response, f"GET {ENTRIES}/{{id}}"))

    def fields(self, record: VendorRecord) -> dict[str, str]:
        p = record.payload
        user = obj(p.get("user"), "user")
        fields = {
            "external_id": record.external_id,
            # Harvest's entries name the user but carry no e-mail.
            "person": text(user.get("email"), "user.email") or text(user.get("name"), "user.name"),
            "project": _name(p, "project"),
            "task": _name(p, "task"),
            "client": _name(p, "client"),
            "date": text(p.get("spent_date"), "spent_date"),
            "hours": number(p.get("hours"), "hours") or "",
            "notes": text(p.get("notes"), "notes"),
            # Timesheet Approval closes an entry; the API has no other approval state.
            # Booleans are JSON's: the text "false" is refused, never billed as true.
            "approval": "approved" if flag(p.get("is_closed", False), "is_closed") else "submitted",
            "billable": "true" if flag(p.get("billable", True), "billable") else "false",
        }
        rate = number(p.get("billable_rate"), "billable_rate")
        if rate is not None:
            fields["rate"] = rate
        # Harvest entries carry no zone: the connection's (else the parser reports it).
        return self.finish(fields, record)

    # -- the wire ------------------------------------------------------------------

    def _pages(self, params: dict[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
        """Every page of a listing, following `links.next` until it is null (and never
        to a page already read: see PageGuard)."""
        path: str = ENTRIES
        query: dict[str, Any] | None = params
        guard = PageGuard(NAME, f"GET {ENTRIES}", "links.next")
        guard.at(path)
        while True:
            body = self.http.json("GET", path, params=query)
            entries = body.get("time_entries") if isinstance(body, Mapping) else None
            links = body.get("links") if isinstance(body, Mapping) else None
            if not isinstance(entries, list) or not isinstance(links, Mapping):
                raise VendorError(NAME, f"GET {ENTRIES}", 200, "not a time entry list")
            following = links.get("next")
            guard.read(entries, bool(following))
            yield entries
            if not following:
                return
            path, query = self._follow(str(following)), None
            guard.at(path)

    def _follow(self, link: str) -> str:
        """`links.next` as it is, on the connection's host: a link elsewhere (a proxy
        or sandbox in front of Harvest) keeps its path and query, never our token's
        destination."""
        base = urlsplit(str(self.http.client.base_url))
        target = urlsplit(link)
        path = target.path
        prefix = base.path.rstrip("/")
        if (target.scheme, target.netloc) == (base.scheme, base.netloc) and prefix:
            path = path[len(prefix) :] if path.startswith(prefix + "/") else path
        return path + (f"?{target.query}" if target.query else "")

    def _record(self, entry: Any) -> VendorRecord:
        """The entry as a record; one without an id, or whose change stamp is not a
        time, is kept to be quarantined (the rest of the page goes on)."""
        if not isinstance(entry, Mapping):
            return VendorRecord.unreadable(entry, "time_entry", "must be an object")
        ident = entry.get("id")
        if not isinstance(ident, int | str) or isinstance(ident, bool) or ident == "":
            return VendorRecord.unreadable(entry, "id", "a time entry without an id")
        try:
            changed = time_of(entry.get("updated_at"), "updated_at")  # `2017-06-27T16:47:14Z`
        except BadField as exc:
            return VendorRecord(str(ident), entry, None, problems=((exc.field, exc.reason),))
        return VendorRecord(external_id=str(ident), payload=entry, updated_at=changed)


PLATFORM = register(
    Platform(
        name=NAME,
        title="Harvest",
        base_url=BASE_URL,
        client=client,
        source=HarvestSource,
        credentials=("token",),
        settings=("account_id",),
        options=("contact",),
        webhooks=False,
    )
)
