"""The trust bundle: everything an offline verifier needs, and nothing secret.

    {
      "format": "diplomas-trust-bundle", "version": 1,
      "institution": {"did": ..., "name": ..., "name_en": ..., "public_url": ...,
                      "also_known_as": ["<former DID>", ...]},
      "record_keys": [{"id": "<did>#<key id>", "type": "JsonWebKey", "controller": "<did>",
                       "publicKeyJwk": {...Ed25519 JWK...}, "valid_from": "...Z",
                       "valid_until": null, "compromised_since": null}, ...],
      "root_certificates": ["-----BEGIN CERTIFICATE-----...", ...],
      "ca_issued_certificates": [{"root": "-----BEGIN...", "certificate": "-----BEGIN..."}],
      "distrusted_certificates": [{"serial": "5d1e...", "issuer": "CN=...", "sha256": "...",
                                   "since": "...Z", "reason": "..."}]
    }

`ca_issued_certificates` (optional) names the document-signing certificates a CA issued to
the institution: under such a CA's root only those sign for it (see `PadesValidator`).
`distrusted_certificates` (optional, see `keys.distrust`) names document-signing
certificates whose signatures are refused from a moment on, unless a trusted timestamp
shows them earlier.

`superseded_records` (optional) lists the versions of the institution's diplomas that a
correction replaced, by digest only (no personal data):
`[{"diploma_id": "...", "record_sha256": "<hex of the canonical record>",
"superseded_at": "...Z", "qr_signature_sha256": "<hex>"}, ...]`, the last only when
the correction made the old QR code untrue (its name or date). A PDF whose embedded
record is listed verifies offline as superseded, never as valid, and so does such a QR
code (`diplomas verify --qr`). A bundle without the field (exported before corrections
existed, or by the key store alone) lists none: such a bundle, or one exported before a
correction, judges an older version on its signatures alone. `diplomas keys export`
reads the list from the database.

`timestamp_roots` (optional, PEM strings) are the roots of the timestamp authority the
institution's PDF signatures are timestamped by: trusted for timestamps only.

`diplomas verify --trust bundle.json` builds its key ring and PDF trust roots from it.
Each key is listed once, under the institution's current DID; `also_known_as` names the
DIDs of its former public URLs (absent when it never moved), and every key verifies
under each of them, so a bundle exported after a move still checks the diplomas issued
before it. A bundle vouches only for its own institution: a key controlled by any other
DID is refused.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..core.errors import KeyStoreError
from ..core.keyring import KeyRing, RecordKey, published_under
from ..core.model import Institution
from ..core.proof import iso_utc, parse_iso_utc
from ..core.verification import SupersededRecord
from .distrust import DistrustedCertificate, from_json, to_json
from .record import unb64url
from .versioned import read_versioned

BUNDLE_FORMAT = "diplomas-trust-bundle"
BUNDLE_VERSION = 1


@dataclass(frozen=True)
class TrustBundle:
    """An institution's public verification material, as read from a bundle file."""

    did: str
    name: str
    name_en: str
    public_url: str
    record_keys: tuple[RecordKey, ...]
    roots: tuple[x509.Certificate, ...]
    also_known_as: tuple[str, ...] = ()
    ca_issued: tuple[tuple[x509.Certificate, x509.Certificate], ...] = ()
    """(CA root, document-signing certificate) pairs."""
    distrusted: tuple[DistrustedCertificate, ...] = ()
    timestamp_roots: tuple[x509.Certificate, ...] = ()
    """Roots of the timestamp authority, trusted for timestamps only."""
    superseded: tuple[SupersededRecord, ...] = ()
    """Record versions replaced by corrections, each vouched for by this bundle's DIDs."""

    @property
    def dids(self) -> tuple[str, ...]:
        """The institution's DIDs: the current one first, then its former ones."""
        return (self.did, *self.also_known_as)

    def keyring(self) -> KeyRing:
        return KeyRing(published_under(self.record_keys, self.dids))

    def trust_roots(self) -> list[x509.Certificate]:
        return list(self.roots)


def _when(moment: datetime | None) -> str | None:
    return iso_utc(moment) if moment is not None else None


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def export_bundle(
    institution: Institution,
    keys: Iterable[RecordKey],
    roots: Sequence[x509.Certificate],
    ca_issued: Sequence[tuple[x509.Certificate, x509.Certificate]] = (),
    distrusted: Sequence[DistrustedCertificate] = (),
    *,
    timestamp_roots: Sequence[x509.Certificate] = (),
    superseded: Sequence[SupersededRecord] | None = None,
) -> dict[str, Any]:
    """The JSON-able bundle for `institution`: every record key (retired and compromised
    ones too, with their windows), each once under the current DID, the former DIDs the
    keys also speak for, the root certificates, and the certificates CAs issued to it."""
    about: dict[str, Any] = {
        "did": institution.did,
        "name": institution.name,
        "name_en": institution.name_en,
        "public_url": institution.public_url,
    }
    if institution.former_dids:
        about["also_known_as"] = list(institution.former_dids)
    document = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "institution": about,
        "record_keys": [
            {
                "id": f"{institution.did}#{key.key_id}",
                "type": "JsonWebKey",
                "controller": institution.did,
                "publicKeyJwk": key.jwk(),
                "valid_from": iso_utc(key.valid_from),
                "valid_until": _when(key.valid_until),
                "compromised_since": _when(key.compromised_since),
            }
            for key in keys
        ],
        "root_certificates": [_pem(root) for root in roots],
    }
    if ca_issued:
        document["ca_issued_certificates"] = [
            {"root": _pem(root), "certificate": _pem(certificate)}
            for root, certificate in ca_issued
        ]
    if distrusted:
        document["distrusted_certificates"] = to_json(distrusted)
    if timestamp_roots:
        document["timestamp_roots"] = [_pem(root) for root in timestamp_roots]
    if superseded is not None:
        document["superseded_records"] = [
            {
                "diploma_id": old.diploma_id,
                "record_sha256": old.record_sha256,
                "superseded_at": iso_utc(old.superseded_at),
                **({"qr_signature_sha256": old.qr_sha256} if old.qr_sha256 else {}),
            }
            for old in superseded
        ]
    return document


def _hex(raw: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = _text(raw, key, where, required=required)
    if value and (len(value) != 64 or any(c not in "0123456789abcdef" for c in value)):
        raise KeyStoreError(f"trust bundle: {where}{key} must be 64 lowercase hex digits")
    return value


def _superseded(raw: object, dids: tuple[str, ...]) -> tuple[SupersededRecord, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KeyStoreError("trust bundle: superseded_records must be a list")
    out = []
    for index, item in enumerate(raw):
        where = f"superseded_records[{index}]."
        if not isinstance(item, Mapping):
            raise KeyStoreError(f"trust bundle: superseded_records[{index}] must be an object")
        digest = _hex(item, "record_sha256", where, required=True)
        qr = _hex(item, "qr_signature_sha256", where, required=False)
        at = _time(item, "superseded_at", where)
        if at is None:
            raise KeyStoreError(f"trust bundle: {where}superseded_at is required")
        out.append(
            SupersededRecord(
                _text(item, "diploma_id", where), digest, at, issuers=dids, qr_sha256=qr
            )
        )
    return tuple(out)


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = raw.get(key, None if required else "")
    if not isinstance(value, str):
        raise KeyStoreError(f"trust bundle: {where}{key} must be a string")
    if required and not value:
        raise KeyStoreError(f"trust bundle: {where}{key} must not be empty")
    return value


def _time(raw: Mapping[str, Any], key: str, where: str) -> datetime | None:
    value = raw.get(key)
    if value is None and key != "valid_from":
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return parse_iso_utc(value)
    except ValueError:
        raise KeyStoreError(
            f"trust bundle: {where}{key} must be a time with a time zone, like 2026-01-31T12:00:00Z"
        ) from None


def _record_key(raw: object, index: int) -> RecordKey:
    where = f"record_keys[{index}]."
    if not isinstance(raw, Mapping):
        raise KeyStoreError(f"trust bundle: record_keys[{index}] must be an object")
    method = _text(raw, "id", where)
    controller = _text(raw, "controller", where)
    jwk = raw.get("publicKeyJwk")
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyStoreError(f"trust bundle: {where}publicKeyJwk must be an Ed25519 (OKP) JWK")
    x = jwk.get("x")
    try:
        public_key = unb64url(x) if isinstance(x, str) else b""
    except (ValueError, binascii.Error):
        public_key = b""
    if len(public_key) != 32:
        raise KeyStoreError(f"trust bundle: {where}publicKeyJwk.x is not a 32-byte key")
    prefix = controller + "#"
    if not method.startswith(prefix) or len(method) == len(prefix):
        raise KeyStoreError(f"trust bundle: {where}id must be the controller, '#', and a key id")
    key_id = method[len(prefix) :]
    if jwk.get("kid", key_id) != key_id:
        raise KeyStoreError(f"trust bundle: {where}publicKeyJwk.kid differs from the key id")
    valid_from = _time(raw, "valid_from", where)
    assert valid_from is not None
    return RecordKey(
        key_id=key_id,
        public_key=public_key,
        controller=controller,
        valid_from=valid_from,
        valid_until=_time(raw, "valid_until", where),
        compromised_since=_time(raw, "compromised_since", where),
    )


def _root(raw: object, index: int) -> x509.Certificate:
    where = f"trust bundle: root_certificates[{index}]"
    if not isinstance(raw, str):
        raise KeyStoreError(f"{where} must be a PEM certificate string")
    try:
        certificate = x509.load_pem_x509_certificate(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise KeyStoreError(f"{where} is not a PEM certificate") from exc
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.value.ca:
        raise KeyStoreError(f"{where} is not a CA certificate")
    return certificate


def _ca_issued(
    raw: object, roots: Sequence[x509.Certificate]
) -> tuple[tuple[x509.Certificate, x509.Certificate], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KeyStoreError("trust bundle: ca_issued_certificates must be a list")
    pairs = []
    for index, item in enumerate(raw):
        where = f"trust bundle: ca_issued_certificates[{index}]"
        if not isinstance(item, Mapping):
            raise KeyStoreError(f"{where} must be an object")
        root = _root(item.get("root"), index)
        if root not in roots:
            raise KeyStoreError(f"{where}.root is not among root_certificates")
        text = item.get("certificate")
        try:
            certificate = x509.load_pem_x509_certificate(str(text).encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise KeyStoreError(f"{where}.certificate is not a PEM certificate") from exc
        pairs.append((root, certificate))
    return tuple(pairs)


def load_bundle(data: bytes) -> TrustBundle:
    """Read and check a trust bundle; KeyStoreError says what is wrong with it."""
    document = read_versioned(
        data, "the file", format=BUNDLE_FORMAT, version=BUNDLE_VERSION, what="a trust bundle"
    )
    institution = document.get("institution")
    if not isinstance(institution, Mapping):
        raise KeyStoreError("trust bundle: institution must be an object")
    keys, roots = document.get("record_keys"), document.get("root_certificates")
    if not isinstance(keys, list) or not keys:
        raise KeyStoreError("trust bundle: record_keys must be a non-empty list")
    if not isinstance(roots, list) or not roots:
        raise KeyStoreError("trust bundle: root_certificates must be a non-empty list")
    did = _text(institution, "did", "institution.")
    also_known_as = _also_known_as(institution.get("also_known_as", []), did)
    record_keys = tuple(_record_key(k, i) for i, k in enumerate(keys))
    ids = [k.key_id for k in record_keys]
    if len(set(ids)) != len(ids):
        raise KeyStoreError("trust bundle: a record key is listed twice")
    own = {did, *also_known_as}
    for index, key in enumerate(record_keys):
        if key.controller not in own:
            raise KeyStoreError(
                f"trust bundle: record_keys[{index}] is controlled by {key.controller}, "
                f"not by the institution the bundle speaks for ({did}); a bundle vouches "
                f"only for its own institution's keys"
            )
    return TrustBundle(
        did=did,
        name=_text(institution, "name", "institution.", required=False),
        name_en=_text(institution, "name_en", "institution.", required=False),
        public_url=_text(institution, "public_url", "institution.", required=False),
        record_keys=record_keys,
        roots=(checked := tuple(_root(r, i) for i, r in enumerate(roots))),
        also_known_as=also_known_as,
        ca_issued=_ca_issued(document.get("ca_issued_certificates"), checked),
        distrusted=from_json(document.get("distrusted_certificates")),
        timestamp_roots=_timestamp_roots(document.get("timestamp_roots", [])),
        superseded=_superseded(document.get("superseded_records"), (did, *also_known_as)),
    )


def _timestamp_roots(raw: object) -> tuple[x509.Certificate, ...]:
    if not isinstance(raw, list):
        raise KeyStoreError("trust bundle: timestamp_roots must be a list of PEM certificates")
    return tuple(_root(r, i) for i, r in enumerate(raw))


def _also_known_as(raw: object, did: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, str) and d for d in raw):
        raise KeyStoreError("trust bundle: institution.also_known_as must be a list of DIDs")
    return tuple(d for d in dict.fromkeys(raw) if d != did)


def check_roots_apart(
    owners: Sequence[
        tuple[str, Sequence[x509.Certificate], Sequence[tuple[x509.Certificate, x509.Certificate]]]
    ],
) -> None:
    """Each root speaks for one institution only: a root that two of `owners` (a name,
    its roots, its CA-issued pairs) both list is refused, unless both list it as a CA's,
    through the certificates that CA issued to each. Else one PDF signature under the root
    would count for two institutions, and a co-issued diploma would need only one (a
    partner's bundle carrying the university's root, say)."""
    listed: dict[bytes, list[tuple[str, bool]]] = {}
    for name, roots, ca_issued in owners:
        registered = {root.public_bytes(Encoding.DER) for root, _ in ca_issued}
        for root in roots:
            der = root.public_bytes(Encoding.DER)
            listed.setdefault(der, []).append((name, der in registered))
    for der, by in listed.items():
        names = list(dict.fromkeys(name for name, _ in by))
        if len(names) > 1 and not all(through_ca for _, through_ca in by):
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            raise KeyStoreError(
                f"{names[0]} and {names[1]} both list the root certificate {subject} as "
                f"their own: a root speaks for one institution (a CA's root may be shared "
                f"only through the certificates it issued to each); check where they came from"
            )
