"""The shapes every connector speaks: what a Source returns, what a Sink takes.

Source.pull(since)      -> pages of VendorRecord (the vendor's object, verbatim,
                           with its id and change stamp)
Source.fields(record)   -> the canonical import fields (docs/import.md) of one record
Source.verify/events    -> a webhook delivery checked and turned into events
Sink.create_invoice     -> the invoice at the vendor, with its number and status
"""

from __future__ import annotations

import datetime as dt
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Literal, Protocol

import httpx

from billsync.domain.connections import Connection
from billsync.errors import UserError

from .http import VendorClient


class MissingCredential(UserError):
    pass


@dataclass(frozen=True)
class Credentials:
    """Resolved secrets of one connection. Never printed: repr shows only the names."""

    connection: str
    values: Mapping[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> str:
        value = self.values.get(name)
        if not value:
            raise MissingCredential(
                f"connection {self.connection!r}: credential {name!r} is not set "
                f"(set it in the workspace file or with `billsync connections set-secret`)"
            )
        return value

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None


class TokenStore(Protocol):
    """Where an OAuth2 connection keeps its tokens (encrypted, in the store)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, token: dict[str, Any]) -> None: ...


@dataclass
class Context:
    """Everything a connector gets from outside: its configuration, secrets and tokens,
    and (for tests) the transport, the sleep between retries and the clock."""

    connection: Connection
    credentials: Credentials
    tokens: TokenStore | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def client(self, platform: str, base_url: str, **options: Any) -> VendorClient:
        """The HTTP core for this connection: its base URL (else the vendor's), and the
        transport and sleep the context carries; `options` as VendorClient takes them."""
        return VendorClient(
            platform,
            self.connection.base_url or base_url,
            transport=self.transport,
            sleep=self.sleep,
            **options,
        )

    def setting(self, name: str) -> str:
        value = self.connection.settings.get(name)
        if not value:
            raise MissingCredential(
                f"connection {self.connection.code!r}: setting {name!r} is not set"
            )
        return value

    def date_setting(self, name: str) -> dt.date | None:
        """A setting that is a date (YYYY-MM-DD); None when it is not set."""
        value = self.connection.settings.get(name)
        if not value:
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise self.bad_setting(name, f"must be a date (YYYY-MM-DD), not {value!r}") from None

    def bad_setting(self, name: str, problem: str) -> UserError:
        """The error for a setting the connector cannot use: `problem` says why."""
        return UserError(f"connection {self.connection.code!r}: setting {name!r} {problem}")


@dataclass(frozen=True)
class VendorRecord:
    external_id: str
    payload: Mapping[str, Any]  # the vendor's object, verbatim: kept as the raw record
    updated_at: dt.datetime | None  # the vendor's change stamp: the entry's revision
    deleted: bool = False
    # (field, reason) where the record could not be read at all (no id, a change stamp
    # that is not a time): the pipeline quarantines it without asking for its fields.
    problems: tuple[tuple[str, str], ...] = ()

    @classmethod
    def unreadable(cls, payload: Any, field: str, reason: str) -> VendorRecord:
        """A record kept only to be quarantined: `payload` verbatim, whatever it is."""
        kept = payload if isinstance(payload, Mapping) else {"record": payload}
        return cls("", kept, None, problems=((field, reason),))


@dataclass(frozen=True)
class Page:
    records: Sequence[VendorRecord]


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; WebhookMalformed when it is not. UTF-8 only (RFC 8259 between
        systems): `json.loads` would read UTF-16 and UTF-32 too, but the delivery is
        stored as text, and it must be the bytes that were signed."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WebhookMalformed("the body is not UTF-8") from exc
        try:
            return json.loads(text.removeprefix("\ufeff"))
        except ValueError as exc:
            raise WebhookMalformed("the body is not JSON") from exc
        except RecursionError as exc:  # a few hundred KB of '[' is enough
            raise WebhookMalformed("the body is nested too deeply") from exc


@dataclass(frozen=True)
class WebhookReply:
    """An answer the platform expects before any event is stored (a handshake)."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


@dataclass(frozen=True)
class WebhookEvent:
    external_id: str
    kind: Literal["upsert", "delete"]
    record: VendorRecord | None  # None: the delivery carries only the id; fetch it


class WebhookMalformed(ValueError):
    """A verified delivery whose body is not what the platform sends (answered 400)."""


class Source(ABC):
    """Time from one platform."""

    # How far back an incremental read can reach; an older watermark means a full read.
    change_window: ClassVar[dt.timedelta | None] = None
    # Whether records carry the vendor's change stamp. Without one, `pull(since)` re-reads
    # work dated near `since` and the sync's start time is its next `since`.
    change_stamps: ClassVar[bool] = True
    # Webhook headers that carry the shared secret itself (not an HMAC of the body):
    # never stored with the delivery.
    secret_headers: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, context: Context, http: VendorClient):
        self.context = context
        self.http = http

    @abstractmethod
    def pull(self, since: dt.datetime | None) -> Iterator[Page]:
        """Records changed at or after `since` (None: everything), page by page."""

    @abstractmethod
    def listed_ids(self, start: dt.date, end: dt.date) -> set[str]:
        """The ids of every entry the platform has with a work date in [start, end]:
        what the reconcile sweep compares with the store to find deletions."""

    @abstractmethod
    def fetch(self, external_id: str) -> VendorRecord | None:
        """One entry by id; None when the platform no longer has it."""

    @abstractmethod
    def fields(self, record: VendorRecord) -> dict[str, str]:
        """The record as canonical import fields (docs/import.md); `revision` and
        `deleted` included. Field errors are found by the canonical parser; a vendor
        field of the wrong type raises BadField (connectors/fields.py), and the
        record is quarantined with it."""

    def finish(
        self, fields: dict[str, str], record: VendorRecord, timezone: str | None = None
    ) -> dict[str, str]:
        """`fields` with what every record ends with: `timezone` (the record's own zone,
        else the connection's, if either is known), `revision` (the record's change
        stamp) and `deleted`."""
        timezone = timezone or self.context.connection.timezone
        if timezone:
            fields["timezone"] = timezone
        if record.updated_at is not None:
            fields["revision"] = record.updated_at.isoformat()
        if record.deleted:
            fields["deleted"] = "true"
        return fields

    # Webhooks: a platform without them keeps these defaults.
    def handshake(self, request: WebhookRequest, secret: str | None) -> WebhookReply | None:
        return None

    def verify(self, request: WebhookRequest, secret: str | None) -> bool:
        return False

    def events(self, request: WebhookRequest) -> list[WebhookEvent]:
        raise WebhookMalformed("this platform sends no webhooks for time")


@dataclass(frozen=True)
class OutgoingLine:
    description: str
    item: str  # the product/service the line sells, e.g. "Naval architect (normal)"
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal
    tax_percent: Decimal


@dataclass(frozen=True)
class OutgoingInvoice:
    """An approved billsync invoice as a Sink needs it."""

    number: str
    client_code: str
    client_name: str
    currency: str
    issue_date: dt.date
    due_date: dt.date | None
    po_number: str
    memo: str
    lines: Sequence[OutgoingLine]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class RemoteInvoice:
    remote_id: str
    number: str
    status: str
    total: Decimal | None = None


class Sink(ABC):
    """Invoices to one accounting platform."""

    def __init__(self, context: Context, http: VendorClient):
        self.context = context
        self.http = http

    @abstractmethod
    def find_invoice(self, number: str) -> RemoteInvoice | None:
        """The platform's invoice with this document number, if there is one."""

    @abstractmethod
    def create_invoice(self, invoice: OutgoingInvoice, idempotency_key: str) -> RemoteInvoice:
        """Create it; the key makes a retried create return the first one."""

    @abstractmethod
    def invoice_status(self, remote_id: str) -> RemoteInvoice: ...

    def mark_billed(self, external_ids: Sequence[str], remote: RemoteInvoice) -> int:
        """Mark source time as billed where the platform supports it; how many."""
        return 0
