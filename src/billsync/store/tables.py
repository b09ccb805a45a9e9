"""The schema. SQLAlchemy Core tables: the pipeline reads and writes in set-based
batches, so it works with rows, not ORM objects.

Money and hours are NUMERIC (exact on PostgreSQL; on SQLite the Numeric type hands
back Decimal built from the stored text, and we store amounts as text-exact decimals).
Times are stored in UTC with their zone kept beside them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from billsync.domain.canonical import MAX_TEXT

from .types import Exact, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only


def _tz() -> UtcDateTime:
    return UtcDateTime()


workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("locked_until", Date),  # entries on or before this day are frozen
    Column("invoice_seq", Integer, nullable=False, server_default="0"),
    # The audit chain's head, so that removing the newest events is detected too.
    Column("audit_seq", BigInteger, nullable=False, server_default="0"),
    Column("audit_head", String(64), nullable=False, server_default="0" * 64),
    Column("created_at", _tz(), nullable=False),
)

# Declarative records (clients, sites, people, projects, contracts, mapping rules), each
# version kept: a contract edit adds a version and never rewrites the one invoices used.
records = Table(
    "records",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", _tz(), nullable=False),
    Column("superseded_at", _tz()),
    UniqueConstraint("workspace_id", "kind", "code", "version"),
    Index(
        "uq_records_current",
        "workspace_id",
        "kind",
        "code",
        unique=True,
        sqlite_where=text("superseded_at IS NULL"),
        postgresql_where=text("superseded_at IS NULL"),
    ),
)

import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("filename", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("counts", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", _tz(), nullable=False),
)

# Every record as it arrived, verbatim; never edited. A revision of an entry points here.
raw_records = Table(
    "raw_records",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("external_id", String(MAX_TEXT), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("batch_id", ForeignKey("import_batches.id")),
    Column("line_no", Integer),
    Column("received_at", _tz(), nullable=False),
    UniqueConstraint("workspace_id", "source", "external_id", "sha256"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("batch_id", ForeignKey("import_batches.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("errors", JSON, nullable=False),
    Column("created_at", _tz(), nullable=False),
)

# The current revision of each entry. Older revisions live on as raw records.
time_entries = Table(
    "time_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("external_id", String(MAX_TEXT), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("source_revision", String(64), nullable=False),  # sortable: older never wins
    # This revision's raw record is (source, external_id, raw_sha256) in raw_records.
    Column("raw_sha256", String(64), nullable=False),
    Column("src_person", String(MAX_TEXT), nullable=False),
    Column("src_project", String(MAX_TEXT), nullable=False),
    Column("src_task", String(MAX_TEXT), nullable=False),
    Column("src_client", String(MAX_TEXT), nullable=False),
    Column("work_date", Date, nullable=False),
    Column("start_at", _tz()),
    Column("end_at", _tz()),
    Column("duration_seconds", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("notes", Text, nullable=False),
    Column("approval", String(16), nullable=False),
    Column("billable", Boolean, nullable=False),
    Column("category", String(16), nullable=False),
    Column("source_rate", Exact()),
    Column("deleted", Boolean, nullable=False),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("person", String(64), nullable=False, server_default=""),
    Column("project", String(64), nullable=False, server_default=""),
    # A task code, else the source's name for the task (as wide as src_task).
    Column("task", String(MAX_TEXT), nullable=False, server_default=""),
    Column("phase", String(64), nullable=False, server_default=""),
    Column("cost_center", String(64), nullable=False, server_default=""),
    # The fingerprint of the mapping inputs the codes above were resolved under ("":
    # not yet): a run maps again only the entries whose fingerprint is not current.
    Column("mapped_with", String(64), nullable=False, server_default=""),
    # Finance moved it: these win over mapping rules.
    Column("transfer_project", String(64), nullable=False, server_default=""),
    Column("transfer_task", String(64), nullable=False, server_default=""),
    Column("updated_at", _tz(), nullable=False),
    UniqueConstraint("workspace_id", "source", "external_id"),
    Index("ix_time_entries_project_date", "workspace_id", "project", "work_date"),
    # The few entries finance moved, which every run reads: without it, a scan of all.
    Index(
        "ix_time_entries_moved",
        "workspace_id",
        sqlite_where=text("transfer_project != ''"),
        postgresql_where=text("transfer_project != ''"),
    ),
)

# Write-ups and write-downs of billable time, beside the worked time they adjust.
entry_adjustments = Table(
    "entry_adjustments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("entry_id", ForeignKey("time_entries.id"), nullable=False, index=True),
    Column("seconds", Integer, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", _tz(), nullable=False),
)

exceptions = Table(
    "exceptions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # code + subject + entry revisions
    Column("code", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("contract", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("entry_ids", JSON, nullable=False),
    Column("amount", Exact()),
    Column("hours", Exact()),
    Column("status", String(16), nullable=False),  # open, resolved, waived
    Column("notice", Boolean, nullable=False),  # never resolved by the pipeline
    Column("created_at", _tz(), nullable=False),
    Column("closed_by", String(200)),
    Column("closed_reason", Text),
    Column("closed_at", _tz()),
    UniqueConstraint("workspace_id", "fingerprint"),
    Index("ix_exceptions_status", "workspace_id", "status"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("number", String(32), nullable=False),
    Column("contract", String(64), nullable=False),
    Column("contract_version", Integer, nullable=False),
    Column("client", String(64), nullable=False),
    Column("kind", String(24), nullable=False),  # period, milestone, completion, manual, ...
    Column("status", String(16), nullable=False),  # draft, approved, void
    Column("currency", String(3), nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("po_number", String(64), nullable=False),
    Column("subtotal", Exact(), nullable=False),
    Column("tax_rate", Exact(), nullable=False),
    Column("tax", Exact(), nullable=False),
    Column("total", Exact(), nullable=False),
    Column("retainage", Exact(), nullable=False),
    Column("amount_due", Exact(), nullable=False),
    Column("contract_status", JSON, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("credit_of", ForeignKey("invoices.id")),
    Column("created_by", String(200), nullable=False),
    Column("created_at", _tz(), nullable=False),
    Column("approved_by", String(200)),
    Column("approved_at", _tz()),
    Column("voided_by", String(200)),
    Column("voided_at", _tz()),
    Column("void_reason", Text),
    UniqueConstraint("workspace_id", "number"),
    Index("ix_invoices_contract", "workspace_id", "contract", "status"),
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("invoice_id", ForeignKey("invoices.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("description", Text, nullable=False),
    Column("quantity", Exact(), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("unit_price", Exact(), nullable=False),
    Column("amount", Exact(), nullable=False),
    Column("group_key", JSON, nullable=False),
    Column("credited_by", ForeignKey("invoices.id")),
)

# The lock that makes "billed at most once" a database fact: one live row per entry.
billed_entries = Table(
    "billed_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("entry_id", ForeignKey("time_entries.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("invoice_id", ForeignKey("invoices.id"), nullable=False, index=True),
    Column("live", Boolean, nullable=False),
    # How billable time differs from worked time for this entry: [{reason, seconds}].
    Column("adjustments", JSON, nullable=False),
    Index(
        "uq_billed_entries_live",
        "entry_id",
        unique=True,
        sqlite_where=text("live"),
        postgresql_where=text("live"),
    ),
)

# Which part of which entry each line bills (an entry may split into regular + overtime).
line_entries = Table(
    "line_entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("line_id", ForeignKey("invoice_lines.id"), nullable=False, index=True),
    Column("entry_id", ForeignKey("time_entries.id"), nullable=False, index=True),
    Column("revision", Integer, nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("quantity", Exact(), nullable=False),
    Column("unit_price", Exact(), nullable=False),
    Column("amount", Exact(), nullable=False),
    Column("premium", String(64), nullable=False),
    # What caps count, as billed (a later re-mapping must not move past usage).
    Column("work_date", Date, nullable=False),
    Column("phase", String(64), nullable=False),
    Column("task", String(MAX_TEXT), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("at", _tz(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("workspace_id", "seq"),
    Index("ix_audit_events_subject", "workspace_id", "subject"),
)

# Secrets of a connection (API keys, OAuth2 tokens), Fernet-encrypted: store/secrets.py.
connection_secrets = Table(
    "connection_secrets",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id"), primary_key=True),
    Column("connection", String(64), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("updated_at", _tz(), nullable=False),
)

# Where each connection's incremental sync stands.
sync_state = Table(
    "sync_state",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id"), primary_key=True),
    Column("connection", String(64), primary_key=True),
    Column("watermark", _tz()),  # the newest vendor change stamp seen
    Column("full_at", _tz()),  # the last full read
    Column("reconciled_at", _tz()),  # the last deletion sweep
    Column("last", JSON, nullable=False),  # the last sync's summary
)

# Webhook deliveries, stored verbatim before the platform gets its 2xx.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("connection", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("headers", JSON, nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", _tz(), nullable=False),
    Column("status", String(16), nullable=False),  # pending, processed, failed
    Column("processed_at", _tz()),
    Column("error", Text),
    # Every delivery is kept, a repeated one too: a platform that sends only ids sends
    # the same body for two changes in one second, and each must be fetched again.
    Index("ix_webhook_events_status", "workspace_id", "status"),
)

# Who processes a connection's webhook events right now (store/leases.py): one holder
# at a time across threads and processes; a holder that dies leaves a row that expires.
webhook_leases = Table(
    "webhook_leases",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id"), primary_key=True),
    Column("connection", String(64), primary_key=True),
    Column("holder", String(32), nullable=False),
    Column("expires_at", _tz(), nullable=False),
)

# Invoices on their way to an accounting system; the key makes every retry the same
# request at the vendor, so a crash between "sent" and "recorded" never bills twice.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id"), nullable=False),
    Column("invoice_id", ForeignKey("invoices.id"), nullable=False),
    Column("connection", String(64), nullable=False),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),  # pending, sent, failed, cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("remote_id", String(128)),
    Column("remote_number", String(64)),
    Column("remote_status", String(32)),
    Column("created_at", _tz(), nullable=False),
    Column("sent_at", _tz()),
    UniqueConstraint("workspace_id", "invoice_id", "connection"),
    Index("ix_outbox_status", "workspace_id", "status"),
)
