"""Console sessions, failed sign-ins and TOTP secrets in the SQL database (the
`core.ports.AccountStore` port). Sessions are found by the SHA-256 of their token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, delete, func, select, update
from sqlalchemy.orm import Session

from ..core.audit import AuditAction
from ..core.errors import NotFound
from ..core.sessions import ConsoleSession, SessionEnd
from ..core.users import User
from .audit import append as append_audit
from .engine import READ_ONLY
from .repository import _user
from .tables import ConsoleSessionRow, SignInFailureRow, UserRow


def _count(result: Result[Any]) -> int:
    """How many rows an UPDATE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


def _session(row: ConsoleSessionRow) -> ConsoleSession:
    return ConsoleSession(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        csrf_token=row.csrf_token,
        second_factor_at=row.second_factor_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        address=row.address,
        user_agent=row.user_agent,
    )


def _signed_in(db: Session, session: ConsoleSession, at: datetime, actor: str, email: str) -> None:
    append_audit(
        db,
        at,
        actor,
        AuditAction.USER_SIGNED_IN,
        {"email": email, "session": session.id, "address": session.address[:64]},
        subject=session.user_id,
    )


class SqlAccountStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reader) as session, session.begin():
            yield session

    # -- sessions ---------------------------------------------------------------------------

    def open_session(
        self, session: ConsoleSession, token_hash: str, *, complete: bool, actor: str, email: str
    ) -> None:
        """Store a new session; audited as a sign-in when `complete` (no second factor
        awaited), else by `prove_second_factor`."""
        with self._write() as db:
            db.add(
                ConsoleSessionRow(
                    id=session.id,
                    token_hash=token_hash,
                    user_id=session.user_id,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    last_seen_at=session.last_seen_at,
                    second_factor_at=session.second_factor_at,
                    ended_at=None,
                    end_reason="",
                    address=session.address[:64],
                    user_agent=session.user_agent[:200],
                )
            )
            db.flush()
            if complete:
                _signed_in(db, session, session.created_at, actor, email)

    def session_by_token(self, token_hash: str) -> tuple[ConsoleSession, User] | None:
        with self._read() as db:
            found = db.execute(
                select(ConsoleSessionRow, UserRow)
                .join(UserRow, UserRow.id == ConsoleSessionRow.user_id)
                .where(ConsoleSessionRow.token_hash == token_hash)
            ).first()
            if found is None:
                return None
            return _session(found[0]), _user(found[1])

    def touch(self, session_id: str, at: datetime) -> None:
        with self._write() as db:
            db.execute(
                update(ConsoleSessionRow)
                .where(ConsoleSessionRow.id == session_id, ConsoleSessionRow.ended_at.is_(None))
                .values(last_seen_at=at)
            )

    def prove_second_factor(
        self, session: ConsoleSession, at: datetime, *, actor: str, email: str
    ) -> None:
        with self._write() as db:
            db.execute(
                update(ConsoleSessionRow)
                .where(ConsoleSessionRow.id == session.id)
                .values(second_factor_at=at, last_seen_at=at)
            )
            _signed_in(db, session, at, actor, email)

    def end_session(self, session_id: str, at: datetime, reason: SessionEnd) -> None:
        with self._write() as db:
            db.execute(
                update(ConsoleSessionRow)
                .where(ConsoleSessionRow.id == session_id, ConsoleSessionRow.ended_at.is_(None))
                .values(ended_at=at, end_reason=reason.value)
            )

    def end_user_sessions(
        self, user_id: str, at: datetime, reason: SessionEnd, *, actor: str, email: str
    ) -> int:
        """End every live session of the user (audited); how many ended."""
        with self._write() as db:
            ended = _count(
                db.execute(
                    update(ConsoleSessionRow)
                    .where(
                        ConsoleSessionRow.user_id == user_id, ConsoleSessionRow.ended_at.is_(None)
                    )
                    .values(ended_at=at, end_reason=reason.value)
                )
            )
            append_audit(
                db,
                at,
                actor,
                AuditAction.USER_SIGNED_OUT_EVERYWHERE,
                {"email": email, "sessions": ended, "reason": reason.value},
                subject=user_id,
            )
            return int(ended)

    def user_sessions(self, user_id: str) -> list[ConsoleSession]:
        with self._read() as db:
            rows = db.scalars(
                select(ConsoleSessionRow)
                .where(ConsoleSessionRow.user_id == user_id)
                .order_by(ConsoleSessionRow.created_at.desc())
                .limit(50)
            ).all()
            return [_session(row) for row in rows]

    # -- failed sign-ins --------------------------------------------------------------------

    def record_failure(self, email: str, address: str, at: datetime) -> None:
        with self._write() as db:
            db.add(SignInFailureRow(email=email[:254], address=address[:64], at=at))

    def failures_since(self, email: str, address: str, since: datetime) -> tuple[int, int]:
        """Failed sign-ins since `since`: for this account, and from this address."""
        with self._read() as db:
            by_account = db.scalar(
                select(func.count())
                .select_from(SignInFailureRow)
                .where(SignInFailureRow.email == email, SignInFailureRow.at >= since)
            )
            by_address = db.scalar(
                select(func.count())
                .select_from(SignInFailureRow)
                .where(SignInFailureRow.address == address, SignInFailureRow.at >= since)
            )
            return int(by_account or 0), int(by_address or 0)

    def forget_failures(self, email: str, before: datetime) -> None:
        """Forget the account's failures (after a good sign-in) and everyone's older than
        `before` (they no longer count), so the table stays small."""
        with self._write() as db:
            db.execute(delete(SignInFailureRow).where(SignInFailureRow.email == email))
            db.execute(delete(SignInFailureRow).where(SignInFailureRow.at < before))

    # -- TOTP -------------------------------------------------------------------------------

    def set_totp(self, user_id: str, secret: str, at: datetime, *, actor: str) -> None:
        """Store (or with '' remove) the user's confirmed TOTP secret, audited."""
        with self._write() as db:
            row = db.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound("no such user")
            row.totp_secret = secret
            row.totp_last_step = 0
            append_audit(
                db,
                at,
                actor,
                AuditAction.USER_TOTP_ENABLED if secret else AuditAction.USER_TOTP_REMOVED,
                {"email": row.email},
                subject=user_id,
            )

    def accept_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used if it is later than the last one accepted; False if it
        is not (the code was used already, here or on another worker)."""
        with self._write() as db:
            changed = db.execute(
                update(UserRow)
                .where(UserRow.id == user_id, UserRow.totp_last_step < step)
                .values(totp_last_step=step)
            )
            return _count(changed) > 0
