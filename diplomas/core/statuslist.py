"""W3C Bitstring Status List v1.0: the status entries in a diploma's credential and the
signed status list credentials that carry the bits.

Every diploma gets one *slot* when it is issued: a list number and an index. Its
credential names that index twice, in the revocation list and in the suspension list of
that number (`{public_url}/status/revocation-N`, `.../suspension-N`). A bit is 1 while the
diploma is revoked (revocation list) or suspended (suspension list).

Indexes must not reveal issuance order or count. Each list has a secret random seed; the
k-th slot handed out on a list gets index `permuted_index(seed, size, k)`, a keyed
pseudorandom permutation of range(size) (a Feistel network with cycle walking). So the
storage only increments a counter under a row lock (atomic with concurrent and bulk
issuers, like serials), the indexes of one list are unique by construction, and without
the seed they look uniformly random. A list holds `STATUS_LIST_SIZE` entries, the spec's
minimum of 16 KB of bits; a new list opens when one is full.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .errors import DocumentError, NotFound
from .keyring import RecordSigner
from .proof import add_proof, canonical, iso_utc

STATUS_LIST_SIZE = 131_072
"""Bits per list: the spec's minimum (16 KB uncompressed)."""
STATUS_LIST_TTL_SECONDS = 300
"""How long a fetched list may be cached (the credential's `ttl`, the HTTP max-age)."""
ENTRY_TYPE = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE = "BitstringStatusListCredential"
LIST_TYPE = "BitstringStatusList"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
MEDIA_TYPE = "application/vc+ld+json"

_FEISTEL_ROUNDS = 8


class StatusPurpose(StrEnum):
    REVOCATION = "revocation"
    SUSPENSION = "suspension"


@dataclass(frozen=True)
class StatusSlot:
    """Where a diploma's status bits are: the same index in both lists of one number."""

    list_number: int
    index: int


@dataclass(frozen=True)
class StatusEntry:
    """One `BitstringStatusListEntry` of a credential."""

    purpose: StatusPurpose
    list_url: str
    index: int

    def to_json(self) -> dict[str, str]:
        return {
            "id": f"{self.list_url}#{self.index}",
            "type": ENTRY_TYPE,
            "statusPurpose": self.purpose.value,
            "statusListIndex": str(self.index),
            "statusListCredential": self.list_url,
        }


@dataclass(frozen=True)
class SignedStatusList:
    """A signed `BitstringStatusListCredential` as served, and what it was built from."""

    name: str
    version: int
    key_id: str
    """The verification method that signed it (`did#key id`): a list signed under another
    DID or key is signed again when the institution moves or its key rotates."""
    document: bytes

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.document).hexdigest()[:32] + '"'


# -- names and entries --------------------------------------------------------------------


def list_name(purpose: StatusPurpose, number: int) -> str:
    return f"{purpose.value}-{number}"


def parse_list_name(name: str) -> tuple[StatusPurpose, int]:
    """(purpose, number) of a list name like `revocation-1`; NotFound for anything else."""
    purpose, _, number = name.partition("-")
    if purpose not in StatusPurpose.__members__.values() or not number.isascii():
        raise NotFound(f"no status list {name!r}")
    if not number.isdigit() or number.startswith("0") or len(number) > 9:
        raise NotFound(f"no status list {name!r}")
    return StatusPurpose(purpose), int(number)


def list_url(public_url: str, purpose: StatusPurpose, number: int) -> str:
    return f"{public_url.rstrip('/')}/status/{list_name(purpose, number)}"


def status_entries(public_url: str, slot: StatusSlot) -> tuple[StatusEntry, ...]:
    """The credential's entries for `slot`: revocation first, then suspension."""
    return tuple(
        StatusEntry(p, list_url(public_url, p, slot.list_number), slot.index) for p in StatusPurpose
    )


def entry_from_json(value: Any) -> StatusEntry:
    """Parse one of our `BitstringStatusListEntry` objects; DocumentError otherwise."""
    if not isinstance(value, Mapping) or value.get("type") != ENTRY_TYPE:
        raise DocumentError(f"a credentialStatus entry is not a {ENTRY_TYPE}")
    try:
        purpose = StatusPurpose(str(value["statusPurpose"]))
        index = value["statusListIndex"]
        url = value["statusListCredential"]
    except (KeyError, ValueError):
        raise DocumentError("a credentialStatus entry lacks a purpose, index or list") from None
    if not isinstance(index, str) or not index.isdigit() or not isinstance(url, str):
        raise DocumentError("a credentialStatus entry has a malformed index or list")
    return StatusEntry(purpose, url, int(index))


# -- the index permutation ----------------------------------------------------------------


def permuted_index(seed: bytes, size: int, position: int) -> int:
    """The index of the `position`-th slot handed out on a list with this seed and size.

    A keyed permutation of range(size): distinct positions give distinct indexes.
    """
    if not 0 <= position < size:
        raise ValueError(f"position {position} is outside a list of {size}")
    half = max(1, ((size - 1).bit_length() + 1) // 2)
    mask = (1 << half) - 1
    value = position
    while True:  # cycle walking: at most a few rounds, as size > 2 ** (2 * half - 2)
        left, right = value >> half, value & mask
        for round_ in range(_FEISTEL_ROUNDS):
            digest = hashlib.blake2b(
                bytes([round_]) + right.to_bytes(8, "big"), key=seed, digest_size=8
            ).digest()
            left, right = right, left ^ (int.from_bytes(digest, "big") & mask)
        value = (left << half) | right
        if value < size:
            return value


# -- the bitstring ------------------------------------------------------------------------


def encode_bits(size: int, set_indexes: Iterable[int]) -> str:
    """`encodedList`: multibase base64url (no padding, prefix `u`) of the GZIP-compressed
    bitstring; index 0 is the left-most bit of the first byte."""
    if size % 8:
        raise ValueError("a status list's size must be a multiple of 8")
    bits = bytearray(size // 8)
    for index in set_indexes:
        if not 0 <= index < size:
            raise ValueError(f"index {index} is outside a list of {size}")
        bits[index >> 3] |= 0x80 >> (index & 7)
    compressed = gzip.compress(bytes(bits), compresslevel=9, mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode_bits(encoded: str) -> bytes:
    """The bitstring of an `encodedList`; DocumentError if it is not one."""
    if not encoded.startswith("u"):
        raise DocumentError("encodedList is not multibase base64url (prefix u)")
    body = encoded[1:]
    try:
        compressed = base64.b64decode(body + "=" * (-len(body) % 4), b"-_", validate=True)
        bits = gzip.decompress(compressed)
    except (binascii.Error, OSError, EOFError, zlib.error):
        bits = b""
    if not bits:
        raise DocumentError("encodedList is not a GZIP-compressed bitstring")
    return bits


def bit_is_set(bits: bytes, index: int) -> bool:
    return bool(bits[index >> 3] & (0x80 >> (index & 7)))


def set_indexes(bits: bytes) -> list[int]:
    """Every index whose bit is 1, ascending."""
    return [
        (i << 3) + b for i, byte in enumerate(bits) if byte for b in range(8) if byte & (0x80 >> b)
    ]


# -- the status list credential -----------------------------------------------------------


def status_list_credential(
    *,
    url: str,
    issuer: str,
    purpose: StatusPurpose,
    size: int,
    set_indexes: Iterable[int],
    valid_from: datetime,
) -> dict[str, Any]:
    """The unsigned `BitstringStatusListCredential` with these bits set."""
    return {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
        "issuer": issuer,
        "validFrom": iso_utc(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": LIST_TYPE,
            "statusPurpose": purpose.value,
            "encodedList": encode_bits(size, set_indexes),
            "ttl": STATUS_LIST_TTL_SECONDS * 1000,
        },
    }


def sign_status_list(document: Mapping[str, Any], signer: RecordSigner, created: datetime) -> bytes:
    return canonical(add_proof(document, signer, created))


def bits_of(credential: Mapping[str, Any]) -> tuple[StatusPurpose, bytes]:
    """(purpose, bitstring) of a status list credential; DocumentError if it is not one."""
    try:
        subject = credential["credentialSubject"]
        if LIST_CREDENTIAL_TYPE not in credential["type"] or subject["type"] != LIST_TYPE:
            raise DocumentError("not a BitstringStatusListCredential")
        purpose = StatusPurpose(str(subject["statusPurpose"]))
        return purpose, decode_bits(str(subject["encodedList"]))
    except (KeyError, TypeError, ValueError):
        raise DocumentError("not a BitstringStatusListCredential") from None
