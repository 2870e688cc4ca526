"""`SqlOutbox`: the outbox of mail to holders (`core.outbox`) on SQLite or PostgreSQL.

Claiming is atomic, so that several senders (the server's thread, a `diplomas mail send`
from cron) never take the same message: on PostgreSQL the due rows are selected `FOR
UPDATE SKIP LOCKED` (a second sender skips them instead of waiting), on SQLite the write
transaction starts with BEGIN IMMEDIATE (see `engine`), so claims run one after another;
on both, the update is conditional on the row still being queued. Every later step is
conditional on the claim (`claimed_by`) still being the sender's: a sender whose lease ran
out and whose message was taken over learns it before it writes the final '.'.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..core.audit import AuditAction
from ..core.model import DiplomaStatus
from ..core.outbox import (
    STOPPED_BEFORE_REPLY,
    MailState,
    OutboxMessage,
    after_lease,
)
from .audit import append as append_audit
from .engine import READ_ONLY
from .tables import DiplomaRow, OutboxRow

MAX_ERROR_CHARS = 1000
"""A server's words are kept up to this length (some servers answer with pages)."""


def new_outbox_id() -> str:
    return secrets.token_hex(16)


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        diploma_id=row.diploma_id,
        purpose=row.purpose,
        recipient=row.recipient,
        state=MailState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        lease_until=row.lease_until,
        claimed_by=row.claimed_by,
        last_error=row.last_error,
        reply=row.reply,
        sent_at=row.sent_at,
    )


def enqueue(session: Session, diploma_id: str, purpose: str, recipient: str, at: datetime) -> None:
    """Queue a message inside the caller's transaction (the one that issues or corrects
    the diploma); nothing when one with this purpose is queued already."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    values: dict[str, Any] = {
        "id": new_outbox_id(),
        "diploma_id": diploma_id,
        "purpose": purpose,
        "recipient": recipient,
        "state": MailState.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": at,
        "lease_until": None,
        "claimed_by": "",
        "last_error": "",
        "reply": "",
        "created_at": at,
        "sent_at": None,
    }
    session.execute(
        dialect.insert(OutboxRow)
        .values(values)
        .on_conflict_do_nothing(index_elements=["diploma_id", "purpose"])
    )


def count_purposes(session: Session, diploma_id: str, prefix: str) -> int:
    """How many of the diploma's messages have a purpose starting with `prefix`."""
    found = session.scalar(
        select(func.count())
        .select_from(OutboxRow)
        .where(OutboxRow.diploma_id == diploma_id, OutboxRow.purpose.startswith(prefix))
    )
    return int(found or 0)


class SqlOutbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)
        self._postgresql = engine.dialect.name == "postgresql"

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reader) as session, session.begin():
            yield session

    # -- queueing -------------------------------------------------------------------------

    def resend(
        self,
        diploma_ids: Sequence[str],
        at: datetime,
        *,
        actor: str,
        subject: str,
        details: dict[str, Any],
    ) -> list[OutboxMessage]:
        """Queue a new message (`resend:<n>`) for each diploma that has an email, with one
        audit entry (`mail.resent`) naming them, in one transaction."""
        from ..core.outbox import resend_purpose

        queued: list[str] = []
        with self._write() as session:
            rows = session.execute(
                select(DiplomaRow.id, DiplomaRow.email).where(DiplomaRow.id.in_(diploma_ids))
            ).all()
            for diploma_id, email in rows:
                if not email:
                    continue
                number = count_purposes(session, diploma_id, "resend:") + 1
                enqueue(session, diploma_id, resend_purpose(number), email, at)
                queued.append(diploma_id)
            append_audit(
                session,
                at,
                actor,
                AuditAction.MAIL_RESENT,
                {**details, "diplomas": sorted(queued)},
                subject=subject,
            )
        return [m for m in (self.latest(d) for d in queued) if m is not None]

    # -- reading --------------------------------------------------------------------------

    def latest(self, diploma_id: str) -> OutboxMessage | None:
        """The diploma's newest message (what its mail state shows)."""
        with self._read() as session:
            row = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.diploma_id == diploma_id)
                .order_by(OutboxRow.created_at.desc(), OutboxRow.purpose.desc())
                .limit(1)
            ).first()
            return _message(row) if row else None

    def latest_many(self, diploma_ids: Sequence[str]) -> dict[str, OutboxMessage]:
        """`latest` for each of these diplomas that has a message (one query)."""
        if not diploma_ids:
            return {}
        found: dict[str, OutboxMessage] = {}
        with self._read() as session:
            for row in session.scalars(
                select(OutboxRow)
                .where(OutboxRow.diploma_id.in_(list(diploma_ids)))
                .order_by(OutboxRow.created_at, OutboxRow.purpose)
            ):
                found[row.diploma_id] = _message(row)
        return found

    def messages(
        self, *, diploma_id: str = "", state: MailState | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        """Messages, newest first: of one diploma, or in one state, or all."""
        query = select(OutboxRow).order_by(OutboxRow.created_at.desc(), OutboxRow.id).limit(limit)
        if diploma_id:
            query = query.where(OutboxRow.diploma_id == diploma_id)
        if state is not None:
            query = query.where(OutboxRow.state == state.value)
        with self._read() as session:
            return [_message(r) for r in session.scalars(query)]

    def diplomas_of_batch(self, batch_id: str) -> list[str]:
        """The ids of a batch's diplomas that are not revoked."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(DiplomaRow.id).where(
                        DiplomaRow.batch_id == batch_id,
                        DiplomaRow.status != DiplomaStatus.REVOKED.value,
                    )
                )
            )

    def get(self, message_id: str) -> OutboxMessage | None:
        with self._read() as session:
            row = session.get(OutboxRow, message_id)
            return _message(row) if row else None

    def counts(self) -> dict[MailState, int]:
        with self._read() as session:
            rows = session.execute(
                select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
            ).all()
        return {MailState(state): int(n) for state, n in rows}

    # -- sending --------------------------------------------------------------------------

    def recover(self, now: datetime) -> int:
        """Settle the messages whose sender's lease ran out (`core.outbox.after_lease`):
        `sending` ones are queued again, `handed` ones counted as sent. How many."""
        changed = 0
        with self._write() as session:
            for state in (MailState.SENDING, MailState.HANDED):
                values: dict[str, Any] = {
                    "state": after_lease(state).value,
                    "lease_until": None,
                    "claimed_by": "",
                }
                if state is MailState.HANDED:
                    values.update(sent_at=now, reply=STOPPED_BEFORE_REPLY)
                else:
                    values.update(next_attempt_at=now)
                result = session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.state == state.value, OutboxRow.lease_until < now)
                    .values(values)
                    .execution_options(synchronize_session=False)
                )
                changed += int(getattr(result, "rowcount", 0) or 0)
        return changed

    def claim(
        self, sender: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxMessage]:
        """Take up to `limit` due queued messages, oldest due first, for `lease`: each is
        `sending` under a claim of its own (`<sender>:<random>`), which no other sender
        takes until the lease runs out."""
        with self._write() as session:
            due = (
                select(OutboxRow.id)
                .where(OutboxRow.state == MailState.QUEUED.value, OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                .limit(limit)
            )
            if self._postgresql:
                due = due.with_for_update(skip_locked=True)
            ids = list(session.scalars(due))
            claimed: list[OutboxMessage] = []
            for message_id in ids:
                claim = f"{sender}:{secrets.token_hex(4)}"
                result = session.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id == message_id, OutboxRow.state == MailState.QUEUED.value)
                    .values(
                        state=MailState.SENDING.value,
                        lease_until=now + lease,
                        claimed_by=claim,
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) == 1:
                    row = session.get(OutboxRow, message_id, populate_existing=True)
                    assert row is not None
                    claimed.append(_message(row))
            return claimed

    def _settle(self, message: OutboxMessage, states: Sequence[MailState], **values: Any) -> bool:
        """Change a message held by `message.claimed_by` in one of `states`; False when
        the claim was lost (the lease ran out and another sender or `recover` took it)."""
        with self._write() as session:
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == message.id,
                    OutboxRow.claimed_by == message.claimed_by,
                    OutboxRow.state.in_([s.value for s in states]),
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            return getattr(result, "rowcount", 0) == 1

    def mark_handed(self, message: OutboxMessage, now: datetime, lease: timedelta) -> bool:
        """Record that the message's body is with the server, before its final '.' is
        written (committed when this returns True: see `core.outbox`)."""
        return self._settle(
            message, [MailState.SENDING], state=MailState.HANDED.value, lease_until=now + lease
        )

    def mark_sent(self, message: OutboxMessage, now: datetime, reply: str) -> bool:
        return self._settle(
            message,
            [MailState.SENDING, MailState.HANDED],
            state=MailState.SENT.value,
            sent_at=now,
            reply=reply[:MAX_ERROR_CHARS],
            lease_until=None,
            claimed_by="",
            attempts=message.attempts + 1,
        )

    def mark_failed_attempt(
        self, message: OutboxMessage, state: MailState, next_attempt_at: datetime, error: str
    ) -> bool:
        """An attempt failed: queued again for `next_attempt_at`, or failed for good."""
        return self._settle(
            message,
            [MailState.SENDING, MailState.HANDED],
            state=state.value,
            next_attempt_at=next_attempt_at,
            last_error=error[:MAX_ERROR_CHARS],
            lease_until=None,
            claimed_by="",
            attempts=message.attempts + 1,
        )

    def release(self, message: OutboxMessage) -> bool:
        """Hand a claimed message back, untried and due at once (for another round)."""
        return self._settle(
            message,
            [MailState.SENDING],
            state=MailState.QUEUED.value,
            lease_until=None,
            claimed_by="",
        )

    def defer(self, message: OutboxMessage, until: datetime, why: str) -> bool:
        """Put a claimed message back, untried, until `until` (its PDF is not ready)."""
        return self._settle(
            message,
            [MailState.SENDING],
            state=MailState.QUEUED.value,
            next_attempt_at=until,
            last_error=why,
            lease_until=None,
            claimed_by="",
        )
