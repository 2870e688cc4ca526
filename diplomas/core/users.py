"""The office's people: users, their roles, and the rules their values follow.

A user belongs to one institution and has one role. A role says which API scopes a token
of that user may carry (a token is never wider than its owner). Passwords are checked
here for length only; hashing is a port (`core.ports.PasswordHasher`) so that no hashing
library is imported by the core. Nothing here touches a database or the web.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .errors import FieldProblem, InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
"""Argon2 hashes any length; the bound keeps one request from costing megabytes."""
MAX_EMAIL_LENGTH = 254
MAX_TOKEN_NAME = 200

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")


class Role(StrEnum):
    VIEWER = "viewer"
    """Reads diplomas."""
    ISSUER = "issuer"
    """Prepares and proposes diplomas."""
    APPROVER = "approver"
    """Approves what issuers propose; revokes and suspends."""
    ADMIN = "admin"
    """Users, settings, keys and tokens."""


ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"read"}),
    Role.ISSUER: frozenset({"read", "issue"}),
    Role.APPROVER: frozenset({"read", "issue", "revoke", "approve"}),
    Role.ADMIN: frozenset({"read", "issue", "revoke", "approve"}),
}
"""The API scopes a token of a user with each role may carry."""


class Permission(StrEnum):
    """What a console page or action needs; one table (`ROLE_PERMISSIONS`) gives them."""

    READ = "read"
    """See diplomas, batches, the audit log."""
    ISSUE = "issue"
    """Prepare diplomas and rosters, propose them, correct them."""
    APPROVE = "approve"
    """Approve or reject what someone else proposed."""
    REVOKE = "revoke"
    """Revoke, suspend and lift suspensions."""
    ADMINISTER = "administer"
    """Users, everyone's tokens, settings and keys."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ISSUER: frozenset({Permission.READ, Permission.ISSUE}),
    Role.APPROVER: frozenset(
        {Permission.READ, Permission.ISSUE, Permission.APPROVE, Permission.REVOKE}
    ),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class User:
    id: str
    email: str
    """Normalised (`normalize_email`); unique."""
    institution: str
    """The slug of the institution the user belongs to."""
    role: Role
    created_at: datetime
    password_hash: str = field(repr=False)
    """The PHC string of the password hash (argon2id); never the password."""
    disabled_at: datetime | None = None
    totp_secret: str = field(default="", repr=False)
    """The base32 secret of the user's confirmed TOTP second factor; '' for none."""
    totp_last_step: int = 0
    """The last TOTP time step accepted, so that a code is never accepted twice."""

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def totp_enabled(self) -> bool:
        return bool(self.totp_secret)

    def may(self, permission: Permission) -> bool:
        return self.active and permission in ROLE_PERMISSIONS[self.role]


def normalize_email(text: str) -> str:
    """The email address as stored and compared: trimmed and lower-cased. InvalidInput
    unless it looks like `name@domain.tld`."""
    email = text.strip().lower()
    if not email:
        raise InvalidInput(FieldProblem("email", "is required"))
    if len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(FieldProblem("email", f"is longer than {MAX_EMAIL_LENGTH} characters"))
    if not _EMAIL.match(email):
        raise InvalidInput(FieldProblem("email", f"{email!r} is not an email address"))
    return email


def parse_role(text: str) -> Role:
    """The role named by `text`; InvalidInput naming the roles otherwise."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInput(
            FieldProblem("role", f"{text!r} is not a role (roles: {roles})")
        ) from None


def check_password(password: str) -> None:
    """InvalidInput unless the password is long enough. The message never repeats it."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            FieldProblem("password", f"must be at least {MIN_PASSWORD_LENGTH} characters long")
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            FieldProblem("password", f"must be at most {MAX_PASSWORD_LENGTH} characters long")
        )


def user_token_actor(email: str, token_name: str) -> str:
    """The audit actor of an API call made with a token that belongs to a user."""
    return f"user:{email} (token {token_name})"


def user_sign_in_actor(email: str, where: str) -> str:
    """The audit actor of a user who signed in with their password (`where`: the
    command line's `cli:<login>`)."""
    return f"user:{email} ({where})"


def of_issuer(user: User | None, issuer: str) -> bool:
    """Whether changes in the issuer's name are open to this person: the issuing
    institution's own users (and, with None, the command line and tokens of nobody,
    which belong to the instance)."""
    return user is None or user.institution == issuer


def reaches(user: User | None, issuer: str, co_issuers: Iterable[str]) -> bool:
    """Whether this person may see a diploma the issuer issued with `co_issuers`: the
    issuer's own people see all; a co-issuing institution's people, only what their
    institution co-issued."""
    return of_issuer(user, issuer) or (user is not None and user.institution in co_issuers)
