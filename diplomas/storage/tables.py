"""The database tables. The migrations in `migrations/versions` create exactly these; a test
compares the two.

Text columns that the core treats as optional hold '' when empty, except `external_id`,
`national_id_hash` and `batch_id`, which hold NULL so that their unique and lookup indexes
skip absent values. The raw national id is never stored, only its keyed hash.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC and always read back as UTC.

    SQLite has no time zones: the value is stored as naive UTC and `UTC` re-attached on
    the way out. PostgreSQL stores `timestamptz`. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass tzinfo")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DiplomaRow(Base):
    __tablename__ = "diplomas"
    __table_args__ = (
        UniqueConstraint("institution", "serial"),
        UniqueConstraint("institution", "external_id"),
        UniqueConstraint("institution", "row_key"),
        UniqueConstraint("status_list", "status_index"),
        CheckConstraint("status IN ('issued', 'revoked', 'suspended')", name="status"),
        Index(None, "serial"),
        Index(None, "name"),
        Index(None, "name_en"),
        Index(None, "external_id"),
        Index(None, "issued_at"),
        Index(None, "issued_on", "issued_at"),
        Index(None, "email"),
        # The co-issued diplomas, few, for the co-issuer filter (see migration 0007).
        Index(
            None,
            "co_issuers",
            postgresql_where=text("co_issuers <> ''"),
            sqlite_where=text("co_issuers <> ''"),
        ),
        Index(None, "national_id_hash"),
        Index(None, "batch_id"),
        Index(None, "status", "status_list", "status_index"),
        # A GIN index of the trigrams and the name on PostgreSQL (pg_trgm, btree_gin),
        # which serves `LIKE '%key%'`, with a bound on the name for a broad search sorted
        # by name; elsewhere, or where pg_trgm could not be created, a plain one (see
        # migration 0007).
        Index(
            None,
            "search_text",
            "name",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    institution: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    award: Mapped[str] = mapped_column(String(200), default="")
    award_en: Mapped[str] = mapped_column(String(200), default="")
    citation: Mapped[str] = mapped_column(Text, default="")
    field: Mapped[str] = mapped_column(String(200), default="")
    issued_on: Mapped[date] = mapped_column(Date)
    template: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254), default="")
    national_id_hash: Mapped[str | None] = mapped_column(String(128))
    external_id: Mapped[str | None] = mapped_column(String(128))
    co_issuers: Mapped[str] = mapped_column(String(400), default="")
    """Comma-separated slugs of co-issuing institutions, in the order they sign."""
    key_id: Mapped[str] = mapped_column(String(128))
    record: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revocation_reason: Mapped[str] = mapped_column(Text, default="")
    """The public reason's code (`core.reasons`); published as its words."""
    revocation_note: Mapped[str] = mapped_column(Text, default="")
    """The office's private note on the revocation: never published."""
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    batch_id: Mapped[str | None] = mapped_column(String(64))
    row_key: Mapped[str | None] = mapped_column(String(80))
    """Identity of the request that issued it (`ext:<external id>` or `row:<content hash>`),
    so that re-running a roster issues nothing twice."""
    suspended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    suspension_reason: Mapped[str] = mapped_column(Text, default="")
    suspension_note: Mapped[str] = mapped_column(Text, default="")
    holder_link_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times the holder's private link was renewed (`core.holder`)."""
    status_list: Mapped[int | None] = mapped_column(Integer)
    """Number of the status lists holding its bits; NULL for diplomas issued before them."""
    status_index: Mapped[int | None] = mapped_column(Integer)
    """Its index in the revocation and the suspension list of that number."""
    search_text: Mapped[str] = mapped_column(Text, default="")
    """What searching compares (`core.search.search_text`): the folded name, English name,
    serial, external id and email, joined by '|'. Written with the row; trigram-indexed on
    PostgreSQL (when the pg_trgm extension could be created, see migration 0007)."""


class DiplomaVersionRow(Base):
    """An earlier version of a diploma, replaced by a correction (`service.correct`): the
    record it was signed with, kept byte for byte, and the digests that name it. The
    current version stays in `diplomas`; rows here are only ever added."""

    __tablename__ = "diploma_versions"
    __table_args__ = (Index(None, "record_sha256"), Index(None, "superseded_at"))

    diploma_id: Mapped[str] = mapped_column(String(32), ForeignKey("diplomas.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    record: Mapped[bytes] = mapped_column(LargeBinary)
    record_sha256: Mapped[str] = mapped_column(String(64))
    """`core.verification.record_digest` of `record`."""
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    """The SHA-256 of that version's signed PDF ('' if none was recorded)."""
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When this version was signed: the diploma's issuance, or the correction before."""
    superseded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    superseded_by: Mapped[str] = mapped_column(String(128))
    """The actor of the correction that replaced it."""
    qr_sha256: Mapped[str] = mapped_column(String(64), default="")
    """SHA-256 of its QR code's signature when the correction changed what the QR code
    says (name or date); '' when its QR code still holds."""


class StatusListRow(Base):
    """One status list number: its size, how many slots are handed out, the secret seed
    that permutes slot positions into indexes, and a version bumped whenever a status on it
    changes (so a signed list is rebuilt only then)."""

    __tablename__ = "status_lists"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(64))
    """Hex; secret: it would reveal the order in which indexes were handed out."""
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SignedStatusListRow(Base):
    """The last signed status list credential per list name (`revocation-1`), shared by
    every server process so that all of them serve the same bytes and ETag."""

    __tablename__ = "status_list_credentials"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    key_id: Mapped[str] = mapped_column(String(512))
    document: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BatchRow(Base):
    """A bulk issuance from a roster: its progress and its per-row problems."""

    __tablename__ = "batches"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'queued', 'validating', 'issuing', 'done', 'refused', "
            "'failed', 'rejected')",
            name="status",
        ),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    institution: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(255))
    """The roster's file name as uploaded or given."""
    template: Mapped[str] = mapped_column(String(64))
    skip_invalid: Mapped[bool] = mapped_column(Boolean)
    total_rows: Mapped[int] = mapped_column(Integer)
    valid_rows: Mapped[int] = mapped_column(Integer)
    issued: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    problems: Mapped[str] = mapped_column(Text)
    """JSON list of the first problems found (row, column, field, value, message)."""
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BatchFileRow(Base):
    """A roster the server runs, kept in the database so that any replica or worker reads
    it, with the shards it was split into (JSON `[[first row, last row, rows], ...]`)."""

    __tablename__ = "batch_files"

    batch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    shards: Mapped[str] = mapped_column(Text)


class BatchLineRow(Base):
    """A roster row's diploma: written in the transaction that issues it (or finds it
    issued before), so a batch's progress and manifest are counted from its rows."""

    __tablename__ = "batch_rows"

    batch_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    row: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    diploma_id: Mapped[str] = mapped_column(String(32))
    created: Mapped[bool] = mapped_column(Boolean)
    """False: issued before, by an earlier run of the same row."""


class PdfRow(Base):
    """A signed PDF, where the PDFs live in the database (`storage.pdfs`)."""

    __tablename__ = "pdfs"

    diploma_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class ProposalRow(Base):
    """A diploma, a batch or a correction proposed under the two-person rule
    (`core.proposals`): what will be issued or changed, who proposed it, and each
    institution's approval. Nothing in it is signed; the national id is kept as its
    keyed hash only, as on a diploma."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint("kind IN ('diploma', 'batch', 'correction')", name="kind"),
        CheckConstraint("state IN ('pending', 'approved', 'issued', 'rejected')", name="state"),
        Index(None, "state"),
        Index(None, "diploma_id"),
        Index(None, "batch_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    institution: Mapped[str] = mapped_column(String(64))
    required: Mapped[str] = mapped_column(String(400))
    """Comma-separated slugs of the institutions that must approve, in signing order."""
    payload: Mapped[str] = mapped_column(Text)
    """JSON: the validated request (national id as its keyed hash), or the batch's plan."""
    proposer: Mapped[str] = mapped_column(String(128))
    """The proposer's audit label."""
    proposer_id: Mapped[str | None] = mapped_column(String(32))
    """The proposer's user id; NULL for a token of nobody or the command line."""
    proposer_email: Mapped[str] = mapped_column(String(254))
    approvals: Mapped[str] = mapped_column(Text)
    """JSON list: one {institution, user_id, email, actor, at, comment} per approval."""
    rejection: Mapped[str] = mapped_column(Text)
    """JSON object {user_id, email, actor, at, comment}; '' unless rejected."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    diploma_id: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32))


class SerialCounterRow(Base):
    """The next running number to hand out per institution and Solar Hijri year."""

    __tablename__ = "serial_counters"

    institution: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_number: Mapped[int] = mapped_column(Integer)


class UserRow(Base):
    """A person of the office (see `core.users`); disabled, never deleted, so that the
    audit log's names stay theirs."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        CheckConstraint("role IN ('viewer', 'issuer', 'approver', 'admin')", name="role"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    """Normalised (trimmed, lower-case)."""
    institution: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    """An argon2id PHC string."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    totp_secret: Mapped[str] = mapped_column(String(64), default="")
    """The confirmed TOTP secret (base32); '' for none."""
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    """The last TOTP time step accepted: a code is good once."""


class ConsoleSessionRow(Base):
    """A console session. The browser's cookie holds a random token; only its SHA-256
    is here, so reading this table opens no session."""

    __tablename__ = "console_sessions"
    __table_args__ = (UniqueConstraint("token_hash"), Index(None, "user_id"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    second_factor_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_reason: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class SignInFailureRow(Base):
    """A failed sign-in: counted per account and per address over a sliding window, in
    the database so that every worker and replica counts the same."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index(None, "email", "at"), Index(None, "address", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("owner_id", "name"), Index(None, "owner_id"))

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(256))
    scopes: Mapped[str] = mapped_column(String(400))
    """Comma-separated, sorted."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    owner_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"))
    """The user it belongs to; NULL for tokens made before users existed."""
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """NULL: never expires (tokens made before expiry existed)."""


class AuditEntryRow(Base):
    """One entry of the append-only audit log (see `core.audit`); never updated or deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "action"), Index(None, "actor"), Index(None, "subject"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(128), default="")
    """The diploma id, token id or key id it is about ('' for a bulk chunk), for lookups."""
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON object."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    """This entry's own hash, as written (so that an edit is pinned on the entry itself)."""


class AuditHeadRow(Base):
    """The audit chain's head: one row (id 1) with the last entry's number and hash.
    Appending locks it, so that concurrent writers keep one linear chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    """A message to a diploma's holder (`core.outbox`): queued in the transaction that
    issues or corrects the diploma, or by a resend; sent by `diplomas.mail.sender`."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("diploma_id", "purpose"),
        CheckConstraint("state IN ('queued', 'sending', 'handed', 'sent', 'failed')", name="state"),
        Index(None, "state", "next_attempt_at"),
        Index(None, "diploma_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    diploma_id: Mapped[str] = mapped_column(String(32), ForeignKey("diplomas.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    """`issued:v1`, `corrected:v2:1`, `resend:3`: unique per diploma, so that a message is
    queued once however often the step that queues it runs."""
    recipient: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str] = mapped_column(String(128))
    """The claim (sender and a random part) that holds it while `sending` or `handed`."""
    last_error: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    """The server's words on acceptance."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


metadata = Base.metadata
