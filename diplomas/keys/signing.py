"""The document-signing certificates of a key store, and which one signs PDFs now.

    signing-certificates.json            (0600, replaced atomically, never with a file lost)
    {
      "format": "diplomas-signing-certificates", "version": 1,
      "current": "dsc-3f0c9a1e5b7d2c44",
      "certificates": [
        {"id": "dsc-3f0c9a1e5b7d2c44",        "dsc-" + the first 16 hex digits of sha256
         "source": "self-made" | "imported",
         "key_file": "document-signing.key.pem",     encrypted PKCS#8
         "certificate_file": "document-signing.pem", the end-entity certificate alone
         "chain_file": null | "....chain.pem",      intermediates, nearest first
         "root_file": "root-ca.pem",                 the CA root it chains to
         "serial": "5d1e...", "subject": "CN=...,O=...", "issuer": "CN=...,O=...",
         "not_before": "2026-12-02T01:00:00Z", "not_after": "2031-12-02T01:00:00Z",
         "sha256": "3f0c9a1e...",                   of the certificate's DER
         "distrusted_since": "2026-...Z",           optional: see below
         "distrust_reason": "key stolen"}           optional, with it
      ]
    }

Entries are never removed: a diploma signed with an earlier certificate keeps verifying,
because its root stays among the store's trust roots. Exactly one entry is `current`.
A self-made certificate renewed by `diplomas keys renew-certificate` lives in
`document-signing-<id>.key.pem` and `.pem` under the store's own root.

`distrusted_since` marks a certificate whose key may be in other hands from that moment:
verifiers refuse its signatures unless a trusted timestamp shows they were made before
(see `keys.distrust`). The two fields are optional, so a list without distrust is written
exactly as before; a reader refuses a version it does not know rather than guessing.

A store made before this file existed has one implicit entry: the self-made files
`document-signing.key.pem`, `document-signing.pem` and `root-ca.pem` (`implicit_list`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..core.errors import Conflict, KeyStoreError, NotFound
from ..core.proof import iso_utc, parse_iso_utc
from .versioned import read_versioned

LIST_FILE = "signing-certificates.json"
LIST_FORMAT = "diplomas-signing-certificates"
LIST_VERSION = 1
SELF_MADE_KEY_FILE = "document-signing.key.pem"
SELF_MADE_CERT_FILE = "document-signing.pem"
SELF_MADE_ROOT_FILE = "root-ca.pem"

Source = Literal["self-made", "imported"]
_SOURCES: tuple[Source, ...] = ("self-made", "imported")
# Names of files inside the store: no directories, nothing hidden, nothing to escape with.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_ID = re.compile(r"dsc-[0-9a-f]{16}")
MAX_REASON = 200


@dataclass(frozen=True)
class SigningCertificate:
    """One document-signing certificate of the store and the files that hold it."""

    cert_id: str
    """`dsc-` and the start of the certificate's SHA-256: the same certificate always has
    the same id, the implicit entry of an older store included."""
    source: Source
    """`self-made` (by `diplomas init`, under the store's own root) or `imported` (issued
    by a CA and brought in with `diplomas keys import-certificate`)."""
    key_file: str
    certificate_file: str
    chain_file: str | None
    """Intermediate CA certificates (PEM, nearest first), if the CA has any."""
    root_file: str
    serial: str
    """The certificate's serial number in hex."""
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    sha256: str
    """Of the certificate's DER: the store refuses a certificate file that does not match."""
    distrusted_since: datetime | None = None
    """Signatures made at or after this moment are refused (unless a trusted timestamp
    proves them earlier); None for a trusted certificate."""
    distrust_reason: str = ""


@dataclass(frozen=True)
class SigningCertificates:
    """Every document-signing certificate of a store, oldest first, and the current one."""

    entries: tuple[SigningCertificate, ...]
    current_id: str

    def current(self) -> SigningCertificate:
        return next(e for e in self.entries if e.cert_id == self.current_id)

    def added(self, entry: SigningCertificate) -> SigningCertificates:
        """This list with `entry` added and made current."""
        if any(e.cert_id == entry.cert_id for e in self.entries):
            raise KeyStoreError(f"the certificate {entry.cert_id} is in the store already")
        return replace(self, entries=(*self.entries, entry), current_id=entry.cert_id)

    def find(self, reference: str) -> SigningCertificate:
        """The entry named by its id (`dsc-...`) or by its serial number in hex (any case,
        colons allowed, as `openssl x509 -serial` and browsers print it)."""
        wanted = reference.strip().lower()
        serial = wanted.replace(":", "").lstrip("0") or "0"
        for entry in self.entries:
            if wanted == entry.cert_id or serial == entry.serial.lstrip("0"):
                return entry
        known = ", ".join(f"{e.cert_id} (serial {e.serial})" for e in self.entries)
        raise NotFound(
            f"there is no document-signing certificate {reference!r} in the store "
            f"(it has: {known}); see `diplomas keys certificates`"
        )

    def distrusted(self, cert_id: str, since: datetime, reason: str) -> SigningCertificates:
        """This list with `cert_id` distrusted from `since`. The certificate that signs now
        is refused (a new one must sign first), and so is moving a distrust later, which
        would trust again what is distrusted now."""
        entry = next(e for e in self.entries if e.cert_id == cert_id)
        if cert_id == self.current_id:
            raise Conflict(
                f"{cert_id} is the certificate that signs PDFs now: make a new one first with "
                f"`diplomas keys renew-certificate` (or import one from a CA), then distrust "
                f"{cert_id}"
            )
        if entry.distrusted_since is not None and since > entry.distrusted_since:
            raise Conflict(
                f"{cert_id} is already distrusted since {iso_utc(entry.distrusted_since)}; "
                f"a later time would trust signatures that are refused now (an earlier time "
                f"is accepted)"
            )
        # moving a distrust earlier keeps the reason given first, unless a new one is given
        changed = replace(
            entry, distrusted_since=since, distrust_reason=reason or entry.distrust_reason
        )
        return replace(
            self, entries=tuple(changed if e.cert_id == cert_id else e for e in self.entries)
        )


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest()


def certificate_id(certificate: x509.Certificate) -> str:
    return f"dsc-{fingerprint(certificate)[:16]}"


def describe(
    certificate: x509.Certificate,
    *,
    source: Source,
    key_file: str,
    certificate_file: str,
    chain_file: str | None,
    root_file: str,
) -> SigningCertificate:
    """The list entry for `certificate` kept in the given files."""
    return SigningCertificate(
        cert_id=certificate_id(certificate),
        source=source,
        key_file=key_file,
        certificate_file=certificate_file,
        chain_file=chain_file,
        root_file=root_file,
        serial=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        sha256=fingerprint(certificate),
    )


def implicit_list(self_made: x509.Certificate) -> SigningCertificates:
    """The list of a store made before the list file existed: its self-made certificate."""
    entry = describe(
        self_made,
        source="self-made",
        key_file=SELF_MADE_KEY_FILE,
        certificate_file=SELF_MADE_CERT_FILE,
        chain_file=None,
        root_file=SELF_MADE_ROOT_FILE,
    )
    return SigningCertificates((entry,), entry.cert_id)


def renewed_file_names(cert_id: str) -> tuple[str, str]:
    """Key and certificate files for a self-made certificate made by a renewal."""
    stem = f"document-signing-{cert_id}"
    return f"{stem}.key.pem", f"{stem}.pem"


def imported_file_names(cert_id: str) -> tuple[str, str, str, str]:
    """Key, certificate, chain and root files for an imported certificate: new names for
    every import, so that nothing already in the store is ever overwritten."""
    stem = f"document-signing-{cert_id}"
    return f"{stem}.key.pem", f"{stem}.pem", f"{stem}.chain.pem", f"{stem}.root.pem"


def _entry_json(entry: SigningCertificate) -> dict[str, Any]:
    distrust: dict[str, Any] = {}
    if entry.distrusted_since is not None:
        distrust = {
            "distrusted_since": iso_utc(entry.distrusted_since),
            "distrust_reason": entry.distrust_reason,
        }
    return {
        "id": entry.cert_id,
        "source": entry.source,
        "key_file": entry.key_file,
        "certificate_file": entry.certificate_file,
        "chain_file": entry.chain_file,
        "root_file": entry.root_file,
        "serial": entry.serial,
        "subject": entry.subject,
        "issuer": entry.issuer,
        "not_before": iso_utc(entry.not_before),
        "not_after": iso_utc(entry.not_after),
        "sha256": entry.sha256,
        **distrust,
    }


def dump_list(certificates: SigningCertificates) -> bytes:
    document = {
        "format": LIST_FORMAT,
        "version": LIST_VERSION,
        "current": certificates.current_id,
        "certificates": [_entry_json(e) for e in certificates.entries],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def _text(raw: Mapping[str, Any], field: str, where: str, pattern: re.Pattern[str] | None) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value or (pattern and not pattern.fullmatch(value)):
        raise KeyStoreError(f"{where}.{field} is missing or malformed")
    return value


def _time(raw: Mapping[str, Any], field: str, where: str) -> datetime:
    try:
        return parse_iso_utc(_text(raw, field, where, None))
    except ValueError:
        raise KeyStoreError(f"{where}.{field} is not a time with a time zone") from None


def _entry(raw: object, where: str) -> SigningCertificate:
    if not isinstance(raw, Mapping):
        raise KeyStoreError(f"{where} must be a JSON object")
    source = raw.get("source")
    if source not in _SOURCES:
        raise KeyStoreError(f"{where}.source must be one of {', '.join(_SOURCES)}")
    chain_file = raw.get("chain_file")
    return SigningCertificate(
        cert_id=_text(raw, "id", where, _ID),
        source=source,
        key_file=_text(raw, "key_file", where, _FILE_NAME),
        certificate_file=_text(raw, "certificate_file", where, _FILE_NAME),
        chain_file=None if chain_file is None else _text(raw, "chain_file", where, _FILE_NAME),
        root_file=_text(raw, "root_file", where, _FILE_NAME),
        serial=_text(raw, "serial", where, re.compile(r"[0-9a-f]{1,40}")),
        subject=_text(raw, "subject", where, None),
        issuer=_text(raw, "issuer", where, None),
        not_before=_time(raw, "not_before", where),
        not_after=_time(raw, "not_after", where),
        sha256=_text(raw, "sha256", where, re.compile(r"[0-9a-f]{64}")),
        distrusted_since=(
            _time(raw, "distrusted_since", where) if "distrusted_since" in raw else None
        ),
        distrust_reason=_reason(raw.get("distrust_reason", ""), where),
    )


def _reason(raw: object, where: str) -> str:
    if not isinstance(raw, str) or len(raw) > MAX_REASON:
        raise KeyStoreError(
            f"{where}.distrust_reason must be text of at most {MAX_REASON} characters"
        )
    return raw


def load_list(data: bytes, source: str) -> SigningCertificates:
    """Parse the list file, refusing anything a writer of this version would not write."""
    document = read_versioned(
        data,
        source,
        format=LIST_FORMAT,
        version=LIST_VERSION,
        what="a list of document-signing certificates",
    )
    raw_entries = document.get("certificates")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise KeyStoreError(f"{source} lists no certificates")
    entries = tuple(_entry(e, f"{source}: certificates[{i}]") for i, e in enumerate(raw_entries))
    ids = [e.cert_id for e in entries]
    if len(set(ids)) != len(ids):
        raise KeyStoreError(f"{source} lists a certificate twice")
    current = document.get("current")
    if current not in ids:
        raise KeyStoreError(f"{source}: current names no listed certificate")
    if any(e.cert_id == current and e.distrusted_since is not None for e in entries):
        raise KeyStoreError(f"{source}: the current certificate {current} is distrusted")
    return SigningCertificates(entries, str(current))
