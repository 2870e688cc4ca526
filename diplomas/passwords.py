"""Password hashing with argon2id (argon2-cffi's `PasswordHasher` and its defaults, RFC 9106's
second recommended profile): the `core.ports.PasswordHasher` port's adapter."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Passwords:
    """argon2id hashes as PHC strings (`$argon2id$v=19$m=...`)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
