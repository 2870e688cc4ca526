"""Distrusted document-signing certificates, as verifiers receive them.

A certificate is named by its issuer and serial number, the pair a CA signs and promises
never to reuse, rather than by the fingerprint of its bytes: an ECDSA signature can be
re-encoded (s and n - s both verify), which gives the same certificate another
fingerprint, and a distrust keyed on the fingerprint would miss it.

In a trust bundle:

    "distrusted_certificates": [
      {"serial": "5d1e...", "issuer": "CN=...,O=...", "sha256": "3f0c...",
       "since": "2026-11-26T09:30:00Z", "reason": "key stolen"}
    ]

`sha256` is there for people comparing with `diplomas keys certificates`; matching uses
issuer and serial. The rule itself, applied to every PDF signature, is in
`pdfsign.validator` (`distrust_reason`).

`vouched_signatures` (optional) lists the SHA-256 of the signature values of the
diplomas the institution's own server issued with the certificate: found among its stored
PDFs when the certificate was distrusted (`vouched_signatures` below). Diplomas signed
before a distrust seldom carry a timestamp; this list keeps them verifying without
letting the claimed time count. A signature value covers the signed attributes, and they
the digest of the signed bytes, so a listed value vouches for one document only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from ..core.errors import KeyStoreError
from ..core.proof import iso_utc, parse_iso_utc
from .signing import MAX_REASON, SigningCertificate
from .versioned import read_versioned

_SERIAL = re.compile(r"[0-9a-f]{1,40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DistrustedCertificate:
    """Signatures by the certificate `issuer` issued with `serial` are refused from `since`."""

    serial: int
    issuer: str
    """RFC 4514, as `x509.Name.rfc4514_string()` writes it."""
    since: datetime
    reason: str = ""
    sha256: str = ""
    vouched: frozenset[str] = frozenset()
    """SHA-256 (hex) of signature values the institution made itself and vouches for."""

    def names(self, certificate: x509.Certificate) -> bool:
        return (
            certificate.serial_number == self.serial
            and certificate.issuer.rfc4514_string() == self.issuer
        )


def from_entries(
    entries: Iterable[SigningCertificate],
    vouched: Callable[[SigningCertificate], frozenset[str]] = lambda _: frozenset(),
) -> tuple[DistrustedCertificate, ...]:
    """The distrusted certificates among a store's document-signing certificates, each
    with the signatures `vouched` says the institution vouches for."""
    return tuple(
        DistrustedCertificate(
            int(e.serial, 16),
            e.issuer,
            e.distrusted_since,
            e.distrust_reason,
            e.sha256,
            vouched(e),
        )
        for e in entries
        if e.distrusted_since is not None
    )


VOUCHED_FORMAT = "diplomas-vouched-signatures"
VOUCHED_VERSION = 1


def vouched_file_name(cert_id: str) -> str:
    return f"document-signing-{cert_id}.vouched.json"


def dump_vouched(cert_id: str, digests: Iterable[str]) -> bytes:
    document = {
        "format": VOUCHED_FORMAT,
        "version": VOUCHED_VERSION,
        "certificate": cert_id,
        "signatures": sorted(set(digests)),
    }
    return (json.dumps(document, indent=1) + "\n").encode()


def load_vouched(data: bytes, cert_id: str, source: str) -> frozenset[str]:
    document = read_versioned(
        data,
        source,
        format=VOUCHED_FORMAT,
        version=VOUCHED_VERSION,
        what="a list of vouched signatures",
    )
    if document.get("certificate") != cert_id:
        raise KeyStoreError(f"{source} is not the list of {cert_id}")
    return _digests(document.get("signatures"), source)


def _digests(raw: object, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(
        isinstance(d, str) and _SHA256.fullmatch(d) for d in raw
    ):
        raise KeyStoreError(f"{where} must be a list of SHA-256 digests in hex")
    return frozenset(raw)


def signature_digest(signature_value: bytes) -> str:
    return hashlib.sha256(signature_value).hexdigest()


def to_json(distrusted: Sequence[DistrustedCertificate]) -> list[dict[str, Any]]:
    return [
        {
            "serial": format(d.serial, "x"),
            "issuer": d.issuer,
            "sha256": d.sha256,
            "since": iso_utc(d.since),
            "reason": d.reason,
            **({"vouched_signatures": sorted(d.vouched)} if d.vouched else {}),
        }
        for d in distrusted
    ]


def from_json(raw: object) -> tuple[DistrustedCertificate, ...]:
    """The bundle's `distrusted_certificates` (absent: none), each field checked."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KeyStoreError("trust bundle: distrusted_certificates must be a list")
    return tuple(_item(item, f"distrusted_certificates[{i}]") for i, item in enumerate(raw))


def _item(raw: object, where: str) -> DistrustedCertificate:
    if not isinstance(raw, Mapping):
        raise KeyStoreError(f"trust bundle: {where} must be an object")
    serial, issuer, since = raw.get("serial"), raw.get("issuer"), raw.get("since")
    if not isinstance(serial, str) or not _SERIAL.fullmatch(serial):
        raise KeyStoreError(f"trust bundle: {where}.serial must be the serial number in hex")
    if not isinstance(issuer, str) or not issuer.strip():
        raise KeyStoreError(f"trust bundle: {where}.issuer must name the issuing CA")
    try:
        if not isinstance(since, str):
            raise ValueError
        moment = parse_iso_utc(since)
    except ValueError:
        raise KeyStoreError(
            f"trust bundle: {where}.since must be a time with a time zone, "
            f"like 2026-01-31T12:00:00Z"
        ) from None
    sha256 = raw.get("sha256", "")
    if not isinstance(sha256, str) or (sha256 and not _SHA256.fullmatch(sha256)):
        raise KeyStoreError(f"trust bundle: {where}.sha256 must be 64 hex digits")
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise KeyStoreError(
            f"trust bundle: {where}.reason must be text of at most {MAX_REASON} characters"
        )
    vouched = raw.get("vouched_signatures", [])
    digests = _digests(vouched, f"trust bundle: {where}.vouched_signatures")
    return DistrustedCertificate(int(serial, 16), issuer, moment, reason, sha256, digests)
