"""Console sessions and sign-in rules: what a session is, when it ends, when sign-in is
throttled, and who must prove a second factor. Pure: the store, the web and the clock
are elsewhere (`diplomas.accounts`, `diplomas.storage.sessions`, `diplomas.console`).

A session is server-side: the browser holds only a random token, the store only that
token's SHA-256, so a copy of the database opens no session. It ends when its user signs
out (or out everywhere), when it is idle too long, when it is too old whatever its use,
or when its user is disabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .users import Role, User

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
"""A session's last use is written at most this often: a page's several requests cost
one write, and the idle timeout is exact to within this."""

SECOND_FACTOR_ROLES = frozenset({Role.ADMIN, Role.APPROVER})
"""Roles that must use a second factor (TOTP) when the instance runs in production."""


class SessionEnd(StrEnum):
    SIGNED_OUT = "signed out"
    SIGNED_OUT_EVERYWHERE = "signed out everywhere"
    IDLE = "idle too long"
    EXPIRED = "too old"
    USER_DISABLED = "user disabled"
    PASSWORD_CHANGED = "password changed"  # noqa: S105 - a reason, not a secret


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = IDLE_TIMEOUT
    absolute: timedelta = ABSOLUTE_TIMEOUT
    second_factor_required: bool = False
    """Whether `SECOND_FACTOR_ROLES` must have a second factor (production)."""

    def needs_second_factor(self, user: User) -> bool:
        """Whether this user must prove a second factor to use the console: always once
        they enrolled one, and for the roles above when the policy requires it."""
        return user.totp_enabled or (
            self.second_factor_required and user.role in SECOND_FACTOR_ROLES
        )


@dataclass(frozen=True)
class ConsoleSession:
    id: str
    """A public handle (for the list of one's sessions), not the secret token."""
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    csrf_token: str
    """Sent back with every form and htmx request of this session (see console.auth)."""
    second_factor_at: datetime | None = None
    """When the user proved their second factor in this session; None not yet."""
    ended_at: datetime | None = None
    end_reason: str = ""
    address: str = ""
    user_agent: str = ""

    def end_at(self, now: datetime, policy: SessionPolicy) -> SessionEnd | None:
        """Why this session is over at `now`, or None while it lasts."""
        if now - self.created_at >= policy.absolute:
            return SessionEnd.EXPIRED
        if now - self.last_seen_at >= policy.idle:
            return SessionEnd.IDLE
        return None

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failed sign-ins counted over a sliding window, per account and per address."""

    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 20

    def blocked(self, account_failures: int, address_failures: int) -> bool:
        return account_failures >= self.per_account or address_failures >= self.per_address


def console_actor(email: str) -> str:
    """The audit actor of a change made in the console by the signed-in user."""
    return f"user:{email} (console)"
