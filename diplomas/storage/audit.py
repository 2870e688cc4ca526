"""The audit log in SQL: appending under the chain head's lock, reading, verifying.

`append(session, ...)` writes one entry inside the caller's transaction, so an entry
recording a change commits or rolls back with it. It locks the single `audit_head` row
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite every writer already holds the database's
write lock from BEGIN IMMEDIATE), numbers the entry after the head, chains it to the
head's hash, inserts it and moves the head: concurrent writers in any number of processes
queue on that row and keep one linear chain. Taking the head last in every transaction
keeps the lock short and the lock order the same everywhere.

Nothing here updates or deletes an entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from ..core.audit import (
    AuditEntry,
    ChainHead,
    ChainVerdict,
    Change,
    details_from_text,
    next_entry,
    verify_chain,
)
from .engine import READ_ONLY
from .tables import AuditEntryRow, AuditHeadRow

HEAD_ID = 1
_VERIFY_BATCH = 1000
# Built once, so that SQLAlchemy reuses its compiled form: servers poll it.
_CHANGES_AFTER = (
    select(AuditEntryRow.seq, AuditEntryRow.action, AuditEntryRow.subject)
    .where(AuditEntryRow.seq > bindparam("after"))
    .order_by(AuditEntryRow.seq)
    .limit(bindparam("limit"))
)


def _head(session: Session, *, lock: bool) -> ChainHead | None:
    query = select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == HEAD_ID)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).one_or_none()
    return None if row is None else ChainHead(row.seq, row.hash)


def append(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    details: Mapping[str, Any],
    subject: str = "",
) -> AuditEntry:
    """Append one entry in the caller's (write) transaction; it commits with it."""
    head = _head(session, lock=True)
    if head is None:
        # Only a database whose head row was removed by hand lacks it; starting a new
        # chain would hide that, so refuse.
        raise RuntimeError("the audit chain head is missing: run `diplomas audit verify`")
    entry = next_entry(head, at, actor, action, subject[:128], details)
    digest = entry.digest()
    session.add(
        AuditEntryRow(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            subject=entry.subject,
            details=entry.details_text(),
            prev_hash=entry.prev_hash,
            hash=digest,
        )
    )
    session.execute(
        update(AuditHeadRow)
        .where(AuditHeadRow.id == HEAD_ID, AuditHeadRow.seq == head.seq)
        .values(seq=entry.seq, hash=digest)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return entry


def _entry(row: AuditEntryRow) -> AuditEntry:
    try:
        details = details_from_text(row.details)
    except ValueError:  # edited into something that is not a JSON object
        details = {"unreadable": row.details}
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        details=details,
        prev_hash=row.prev_hash,
        recorded_hash=row.hash,
    )


class SqlAuditLog:
    """Read, verify and (outside any other change) append to the audit log."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)

    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        details: Mapping[str, Any],
        subject: str = "",
    ) -> AuditEntry:
        """Append one entry in a transaction of its own (for events with no database
        change to ride on: key events, token use)."""
        with Session(self._engine) as session, session.begin():
            return append(session, at, actor, action, details, subject)

    def entries(
        self,
        limit: int | None = None,
        *,
        action: str = "",
        subject: str = "",
        actor: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """The newest `limit` entries (all if None) after skipping `offset`, newest
        first; `actor` matches a part of the actor, case-insensitive."""
        if (limit is not None and limit < 0) or offset < 0:
            raise ValueError("limit and offset must not be negative")
        query = select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())
        if action:
            query = query.where(AuditEntryRow.action == action)
        if subject:
            query = query.where(AuditEntryRow.subject == subject)
        if actor:
            query = query.where(AuditEntryRow.actor.icontains(actor, autoescape=True))
        if since is not None:
            query = query.where(AuditEntryRow.at >= since)
        if until is not None:
            query = query.where(AuditEntryRow.at < until)
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with Session(self._reader) as session, session.begin():
            return [_entry(row) for row in session.scalars(query)]

    def head(self) -> ChainHead | None:
        with Session(self._reader) as session, session.begin():
            return _head(session, lock=False)

    def last_seq(self) -> int:
        head = self.head()
        return 0 if head is None else head.seq

    def changes_after(self, seq: int, limit: int) -> list[Change]:
        with self._reader.connect() as connection:
            rows = connection.execute(_CHANGES_AFTER, {"after": seq, "limit": limit}).all()
        return [Change(row.seq, row.action, row.subject) for row in rows]

    def verify(self) -> ChainVerdict:
        """Walk the whole log in order, in one read transaction (a consistent snapshot
        on PostgreSQL and in SQLite's WAL mode), a thousand rows at a time."""
        with Session(self._reader) as session, session.begin():
            head = _head(session, lock=False)

            def stream() -> Iterator[AuditEntry]:
                after = None
                while True:
                    query = select(AuditEntryRow).order_by(AuditEntryRow.seq)
                    if after is not None:
                        query = query.where(AuditEntryRow.seq > after)
                    rows = session.scalars(query.limit(_VERIFY_BATCH)).all()
                    if not rows:
                        return
                    for row in rows:
                        yield _entry(row)
                    after = rows[-1].seq
                    session.expunge_all()

            return verify_chain(stream(), head)
