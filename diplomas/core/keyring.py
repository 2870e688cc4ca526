"""Record-signing keys as a ring: every signature names its key, keys carry validity.

Keys rotate; a diploma signed with an older key keeps verifying as long as it was signed
inside that key's validity window and before any compromise of the key.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import ConfigurationError

_ED25519_MULTICODEC = b"\xed\x01"


class RecordSigner(Protocol):
    """Signs record bytes with one Ed25519 key; the private key never leaves the adapter."""

    @property
    def key_id(self) -> str: ...

    @property
    def verification_method(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class RecordKey:
    """The public half of a record-signing key, with the window in which it may sign."""

    key_id: str
    public_key: bytes
    controller: str
    valid_from: datetime
    valid_until: datetime | None = None
    compromised_since: datetime | None = None
    also_known_as: tuple[str, ...] = ()
    """The institution's other DIDs: a key is the institution's, whichever of its
    addresses a record names (see `published_under`)."""

    @property
    def speaks_for(self) -> frozenset[str]:
        """Every DID a proof made with this key may name as its issuer."""
        return frozenset((self.controller, *self.also_known_as))

    @property
    def verification_method(self) -> str:
        return f"{self.controller}#{self.key_id}"

    @property
    def status(self) -> str:
        """`active` (may sign), `retired` (signs no more) or `compromised`."""
        if self.compromised_since is not None:
            return "compromised"
        if self.valid_until is not None:
            return "retired"
        return "active"

    @property
    def public_key_multibase(self) -> str:
        return "z" + base58.b58encode(_ED25519_MULTICODEC + self.public_key).decode()

    def jwk(self) -> dict[str, str]:
        x = base64.urlsafe_b64encode(self.public_key).rstrip(b"=").decode()
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self.key_id,
            "use": "sig",
            "alg": "EdDSA",
        }

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def problem_at(self, signed_at: datetime) -> str | None:
        """Why a signature made at `signed_at` must not be trusted, or None."""
        if self.compromised_since is not None and signed_at >= self.compromised_since:
            return (
                f"the record was signed with key {self.key_id} on {_plain(signed_at)}, "
                f"and the issuer has marked that key compromised since "
                f"{_plain(self.compromised_since)}: anyone may have made this signature"
            )
        if signed_at < self.valid_from:
            return f"the record was signed before key {self.key_id} became valid"
        if self.valid_until is not None and signed_at >= self.valid_until:
            return f"the record was signed after key {self.key_id} was retired"
        return None


def _plain(moment: datetime) -> str:
    """A time for a sentence: 2026-11-26 09:30:15 UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def public_key_from_did_key(did: str) -> bytes | None:
    """The Ed25519 key inside a `did:key:z6Mk...` identifier (fragment ignored)."""
    if not did.startswith("did:key:z"):
        return None
    try:
        raw = base58.b58decode(did.split("#", 1)[0][len("did:key:z") :])
    except ValueError:
        return None
    if raw[:2] != _ED25519_MULTICODEC or len(raw) != 34:
        return None
    return raw[2:]


def published_under(keys: Iterable[RecordKey], dids: Sequence[str]) -> list[RecordKey]:
    """An institution's keys as verifiers find them: each key once under each of the
    institution's DIDs (`dids[0]` the current one), so that `did:web:old#rk-1` and
    `did:web:new#rk-1` both resolve to it after the institution moved, and each knows
    the other DIDs it speaks for. What a key file says of its controller is ignored:
    keys belong to the institution, not to an address."""
    unique = tuple(dict.fromkeys(dids))
    return [
        replace(key, controller=did, also_known_as=tuple(d for d in unique if d != did))
        for key in keys
        for did in unique
    ]


class KeyRing:
    """The record-signing keys that verification trusts, found by verification method."""

    def __init__(self, keys: Iterable[RecordKey] = ()) -> None:
        self._keys = {k.verification_method: k for k in keys}

    def __iter__(self) -> Iterator[RecordKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def resolve(self, verification_method: str) -> RecordKey | None:
        return self._keys.get(verification_method)


def refuse_retired_key(retired: Mapping[str, str]) -> None:
    """ConfigurationError if a key that would sign was retired since this process read
    its keys: what it signed would not verify. Either the keys changed while it ran (a
    rotation on this machine during a batch), or its keys folder is an older copy than
    the machine's that rotated them (a worker or replica not given the keys again)."""
    if retired:
        key_id, how = next(iter(retired.items()))
        raise ConfigurationError(
            f"this process signs with record key {key_id}, which was {how} according to "
            f"the audit log; nothing more was issued. If the keys were changed on this "
            f"machine while it ran, run the batch again (or send the request again): the "
            f"new key signs. Otherwise its keys folder is an older copy than the "
            f"instance's: copy the keys folder from the machine that changed the keys "
            f"again, then restart this process"
        )
