"""Signing in to the console: passwords, the TOTP second factor, sessions, throttling.

The console's pages are thin over this and over `DiplomaService`; every rule about who
may sign in, for how long, and with what proof is here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pyotp

from .core.errors import FieldProblem, Forbidden, InvalidInput, Throttled, Unauthorized
from .core.ports import AccountStore
from .core.sessions import (
    TOUCH_EVERY,
    ConsoleSession,
    SessionEnd,
    SessionPolicy,
    ThrottlePolicy,
    console_actor,
)
from .core.users import MAX_PASSWORD_LENGTH, Permission, User, normalize_email

if TYPE_CHECKING:
    from .service import DiplomaService

TOTP_ISSUER = "diplomas"
TOTP_WINDOW = 1
"""Codes of the step before and after the current one are accepted too (clock drift)."""
WRONG = "the email address or the password is not right"
"""The one answer for an unknown email, a wrong password and a disabled user."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A session and its user, as a request finds them."""

    session: ConsoleSession
    user: User
    second_factor_due: bool
    """The user must still prove (or, first, enrol) a second factor: until then the
    session opens the second-factor pages only."""

    @property
    def must_enrol(self) -> bool:
        return self.second_factor_due and not self.user.totp_enabled

    def require(self, permission: Permission) -> None:
        """Forbidden unless the session is complete and its user's role allows it."""
        if self.second_factor_due:
            raise Forbidden("prove your second factor first")
        if not self.user.may(permission):
            raise Forbidden(f"the {self.user.role.value} role cannot do this")


class Accounts:
    """Sign-in and sessions over an `AccountStore`, with the service's users and clock."""

    def __init__(
        self,
        store: AccountStore,
        service: DiplomaService,
        policy: SessionPolicy,
        throttle: ThrottlePolicy | None = None,
    ) -> None:
        self.store = store
        self.service = service
        self.policy = policy
        self.throttle = throttle or ThrottlePolicy()

    def _now(self) -> datetime:
        return self.service.clock.now()

    # -- signing in -------------------------------------------------------------------------

    def sign_in(
        self, email: str, password: str, *, address: str, user_agent: str = ""
    ) -> tuple[SignedIn, str]:
        """A new session and its token for the right password; Unauthorized with the same
        words for every wrong answer, Throttled after too many of them for the account or
        from the address (counted whether or not the account exists)."""
        now = self._now()
        try:
            email = normalize_email(email)
        except InvalidInput:
            email = email.strip().lower()[:254]
        if len(password) > MAX_PASSWORD_LENGTH:
            raise Unauthorized(WRONG)
        by_account, by_address = self.store.failures_since(
            email, address, now - self.throttle.window
        )
        if self.throttle.blocked(by_account, by_address):
            raise Throttled(
                "too many failed sign-ins: try again later",
                int(self.throttle.window.total_seconds()),
            )
        try:
            user = self.service.sign_in(email, password, where="console").user
        except Unauthorized:
            self.store.record_failure(email, address, now)
            raise Unauthorized(WRONG) from None
        assert user is not None
        self.store.forget_failures(email, now - self.throttle.window)
        return self._open(user, address=address, user_agent=user_agent, method="password")

    def sign_in_verified(
        self, email: str, *, method: str, address: str, user_agent: str = ""
    ) -> tuple[SignedIn, str]:
        """A new session for a person whose email an identity provider has verified
        (single sign-on): they must be an active user here; what they may do is their role
        here, and the second factor is asked for as after a password."""
        try:
            email = normalize_email(email)
        except InvalidInput:
            raise Unauthorized("the identity provider gave no usable email address") from None
        user = self.service.repository.user_by_email(email)
        if user is None or not user.active:
            raise Unauthorized(
                f"{email} has no account in this console: an administrator adds people"
            )
        return self._open(user, address=address, user_agent=user_agent, method=method)

    def _open(
        self, user: User, *, address: str, user_agent: str, method: str
    ) -> tuple[SignedIn, str]:
        token = secrets.token_urlsafe(32)
        due = self.policy.needs_second_factor(user)
        session = ConsoleSession(
            id=secrets.token_hex(16),
            user_id=user.id,
            created_at=self._now(),
            last_seen_at=self._now(),
            csrf_token=secrets.token_urlsafe(32),
            address=address,
            user_agent=f"{method}: {user_agent}"[:200],
        )
        self.store.open_session(
            session,
            token_hash(token),
            complete=not due,
            actor=console_actor(user.email),
            email=user.email,
        )
        return SignedIn(session, user, due), token

    def current(self, token: str | None) -> SignedIn:
        """The live session of this token; Unauthorized if there is none (unknown, ended,
        idle, too old, or its user disabled), ending it where it just ran out."""
        if not token or len(token) > 100:
            raise Unauthorized("sign in")
        found = self.store.session_by_token(token_hash(token))
        if found is None:
            raise Unauthorized("sign in")
        session, user = found
        if not session.live:
            raise Unauthorized("sign in")
        now = self._now()
        end = session.end_at(now, self.policy)
        if end is None and not user.active:
            end = SessionEnd.USER_DISABLED
        if end is not None:
            self.store.end_session(session.id, now, end)
            raise Unauthorized("sign in")
        if now - session.last_seen_at >= TOUCH_EVERY:
            self.store.touch(session.id, now)
        due = session.second_factor_at is None and self.policy.needs_second_factor(user)
        return SignedIn(session, user, due)

    def sign_out(self, signed: SignedIn) -> None:
        self.store.end_session(signed.session.id, self._now(), SessionEnd.SIGNED_OUT)

    def sign_out_everywhere(self, signed: SignedIn) -> int:
        """End every session of the user, this one included."""
        return self.store.end_user_sessions(
            signed.user.id,
            self._now(),
            SessionEnd.SIGNED_OUT_EVERYWHERE,
            actor=console_actor(signed.user.email),
            email=signed.user.email,
        )

    def sessions(self, signed: SignedIn) -> list[ConsoleSession]:
        return self.store.user_sessions(signed.user.id)

    # -- the second factor ------------------------------------------------------------------

    def _code_step(self, secret: str, code: str) -> int | None:
        """The time step whose code `code` is (within the drift window), or None."""
        code = "".join(ch for ch in code if not ch.isspace())
        if not code.isascii() or not code.isdigit() or len(code) != 6:
            return None
        totp = pyotp.TOTP(secret)
        step = int(self._now().timestamp()) // totp.interval
        for candidate in range(step - TOTP_WINDOW, step + TOTP_WINDOW + 1):
            if hmac.compare_digest(totp.at(candidate * totp.interval), code):
                return candidate
        return None

    def prove_second_factor(self, signed: SignedIn, code: str, *, address: str) -> SignedIn:
        """Complete the session with a TOTP code; each code is good once. Wrong codes
        count as failed sign-ins (throttled as passwords are)."""
        user = signed.user
        if not user.totp_enabled:
            raise Forbidden("enrol a second factor first")
        now = self._now()
        by_account, by_address = self.store.failures_since(
            user.email, address, now - self.throttle.window
        )
        if self.throttle.blocked(by_account, by_address):
            raise Throttled(
                "too many wrong codes: sign in again later",
                int(self.throttle.window.total_seconds()),
            )
        step = self._code_step(user.totp_secret, code)
        if step is None or not self.store.accept_totp_step(user.id, step):
            self.store.record_failure(user.email, address, now)
            raise InvalidInput(FieldProblem("code", "is not the code your app shows now"))
        self.store.prove_second_factor(
            signed.session, now, actor=console_actor(user.email), email=user.email
        )
        return SignedIn(signed.session, user, False)

    @staticmethod
    def new_totp_secret() -> str:
        return pyotp.random_base32()

    def totp_uri(self, user: User, secret: str) -> str:
        """The otpauth:// URI an authenticator app reads from a QR code."""
        label = f"{self.service.institution.slug}:{user.email}"
        return pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=TOTP_ISSUER)

    def enrol_totp(self, signed: SignedIn, secret: str, code: str) -> SignedIn:
        """Confirm a new TOTP secret with a code from the app, and store it; the session
        counts as having proved it."""
        if len(secret) != 32 or not all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in secret):
            raise InvalidInput(FieldProblem("secret", "is not a secret this page made"))
        step = self._code_step(secret, code)
        if step is None:
            raise InvalidInput(FieldProblem("code", "is not the code your app shows now"))
        user = signed.user
        now = self._now()
        self.store.set_totp(user.id, secret, now, actor=console_actor(user.email))
        self.store.accept_totp_step(user.id, step)
        if signed.session.second_factor_at is None:
            self.store.prove_second_factor(
                signed.session, now, actor=console_actor(user.email), email=user.email
            )
        fresh = self.service.repository.get_user(user.id)
        assert fresh is not None
        return SignedIn(signed.session, fresh, False)

    def remove_totp(self, signed: SignedIn, code: str) -> None:
        """Remove the second factor (a current code is needed); refused where the policy
        requires one for the user's role."""
        user = signed.user
        if not user.totp_enabled:
            raise InvalidInput(FieldProblem("code", "no second factor is set up"))
        if self.policy.second_factor_required and self.policy.needs_second_factor(
            User(**{**user.__dict__, "totp_secret": ""})
        ):
            raise Forbidden(f"the {user.role.value} role must keep a second factor")
        step = self._code_step(user.totp_secret, code)
        if step is None or not self.store.accept_totp_step(user.id, step):
            raise InvalidInput(FieldProblem("code", "is not the code your app shows now"))
        self.store.set_totp(user.id, "", self._now(), actor=console_actor(user.email))
