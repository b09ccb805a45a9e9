"""Findings: problems in user data, returned as records, never raised.

The exceptions queue, the CLI, reports and the audit trail all read the same record:

    Finding(code="entry.not_approved", severity=Severity.BLOCKING,
            subject="entry:412", message="Entry A-17 (jdoe, 2026-03-02) is submitted,
            not approved: approve it at the source or waive this exception.",
            entry_ids=(412,))
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal


class Severity(enum.StrEnum):
    BLOCKING = "blocking"  # keeps its entries off invoices until resolved or waived
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # stable, dotted: "cap.exceeded"
    severity: Severity
    subject: str  # "entry:412", "contract:NSY-01", "cap:NSY-01/phase/design"
    message: str  # what a person can act on
    entry_ids: tuple[int, ...] = ()
    contract: str = ""
    amount: Decimal | None = None  # money at stake, for leakage and exception reports
    hours: Decimal | None = None
    details: dict[str, str] = field(default_factory=dict)
    # An event to acknowledge (a cap warning, work written off), not a state: the
    # pipeline does not resolve it when a later run no longer finds it.
    notice: bool = False

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.BLOCKING
