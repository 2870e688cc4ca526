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
        # A trigram index on PostgreSQL (pg_trgm), which serves `LIKE '%key%'`; elsewhere,
        # or where the extension could not be created, a plain one (see migration 0007).
        Index(
            None,
            "search_text",
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
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pdf_sha256: Mapped[str] = mapped_column(String(64), default="")
    batch_id: Mapped[str | None] = mapped_column(String(64))
    row_key: Mapped[str | None] = mapped_column(String(80))
    """Identity of the request that issued it (`ext:<external id>` or `row:<content hash>`),
    so that re-running a roster issues nothing twice."""
    suspended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    suspension_reason: Mapped[str] = mapped_column(Text, default="")
    status_list: Mapped[int | None] = mapped_column(Integer)
    """Number of the status lists holding its bits; NULL for diplomas issued before them."""
    status_index: Mapped[int | None] = mapped_column(Integer)
    """Its index in the revocation and the suspension list of that number."""
    search_text: Mapped[str] = mapped_column(Text, default="")
    """What searching compares (`core.search.search_text`): the folded name, English name,
    serial, external id and email, joined by '|'. Written with the row; trigram-indexed on
    PostgreSQL (when the pg_trgm extension could be created, see migration 0007)."""


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
            "status IN ('queued', 'validating', 'issuing', 'done', 'refused', 'failed')",
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


metadata = Base.metadata
