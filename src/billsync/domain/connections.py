"""A connection: one account on one platform that time comes from or invoices go to.

    connections:
      - code: harvest                  # also the `source` of its entries and mapping rules
        platform: harvest
        credentials: {token: env:HARVEST_TOKEN}     # or `stored`: set-secret, encrypted
        settings: {account_id: "123456"}
        timezone: Europe/Oslo          # for platforms whose entries carry no zone
      - code: qbo
        platform: quickbooks
        base_url: https://sandbox-quickbooks.api.intuit.com   # a sandbox, proxy or region
        credentials: {client_id: env:QBO_CLIENT_ID, client_secret: env:QBO_CLIENT_SECRET}
        settings: {realm_id: "9130"}
        push_invoices: true

Secrets never sit in the file: a credential is `env:NAME` (read from the environment
when the connection is used) or `stored` (kept encrypted in the database).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .canonical import zone
from .model import Code, Record, Whole

CREDENTIAL = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|stored)$")


class Connection(Record):
    code: Code
    platform: Code
    base_url: str | None = None
    credentials: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None
    overlap_minutes: Whole = Field(default=10, ge=0, le=1440)  # late writes re-read
    reconcile_days: Whole = Field(default=35, ge=0, le=366)  # window swept for deletions
    pull_time: bool = True
    push_invoices: bool = False

    @field_validator("credentials")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            if not CREDENTIAL.match(ref):
                raise ValueError(
                    f"credential {name!r} must be env:VARIABLE or stored "
                    "(secrets are never written in the workspace file)"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and zone(value) is None:
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value
