"""The QR code that proves itself offline: a verify URL with a signed summary in its fragment.

The QR code stays a plain link to `/v/{id}`, so any phone opens the verification page. Its
fragment (never sent to the server by a browser) carries the claims a person reads off the
paper: serial, issue date and the recipient's Persian name, and an Ed25519 signature by the
issuer's record key over them and the URL itself:

    https://host/v/{id}#1.{serial}.{yyyymmdd}.{name, base64url}.{signature, base64url}

With the issuer's trust bundle, `check_qr` tells from a photo of the page alone, with no
network, that the issuer signed exactly this name, serial and date for this id, so a person
compares them with what is printed. Revocation cannot be known offline; the verdict says so.

The signature is Ed25519, hence deterministic: rendering the same record again draws the
same symbol. It signs domain-separated bytes, so it can never be mistaken for (or replayed
as) a record proof made with the same key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import date

from .keyring import KeyRing, RecordKey, RecordSigner
from .model import did_web

VERSION = "1"
_DOMAIN = b"diplomas-qr-v1\n"
_SIGNATURE_LENGTH = 64
_FRAGMENT = re.compile(
    r"^1\.(?P<serial>[A-Z0-9]{2,16}-\d{4}-\d{6})\.(?P<date>\d{8})\.(?P<name>[A-Za-z0-9_-]+)"
    r"\.(?P<sig>[A-Za-z0-9_-]{86})$"
)


@dataclass(frozen=True)
class QrClaims:
    """What the QR code states, as printed on the page."""

    verify_url: str
    serial: str
    issued_on: date
    name: str


@dataclass(frozen=True)
class QrCheck:
    """The offline verdict on a QR code: `genuine` with the claims to compare, or reasons."""

    claims: QrClaims | None
    key: RecordKey | None
    reasons: tuple[str, ...]
    signature_sha256: str = ""
    """SHA-256 (hex) of the QR code's signature bytes, as trust bundles name the QR codes
    of versions a correction replaced (`qr_signature_sha256`); "" if it was unreadable."""

    @property
    def genuine(self) -> bool:
        return self.claims is not None and self.key is not None and not self.reasons


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url: one text per byte string, so no character can change unnoticed
    (the loose decoder ignores the spare low bits of the last character)."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _message(claims: QrClaims) -> bytes:
    lines = (claims.verify_url, claims.serial, claims.issued_on.isoformat(), claims.name)
    return _DOMAIN + "\n".join(lines).encode("utf-8")


def _text(claims: QrClaims, signature: bytes) -> str:
    return (
        f"{claims.verify_url}#{VERSION}.{claims.serial}.{claims.issued_on:%Y%m%d}."
        f"{_b64(claims.name.encode('utf-8'))}.{_b64(signature)}"
    )


def sign_qr(claims: QrClaims, signer: RecordSigner) -> str:
    """The QR signature over `claims`, base64url: stored in the record, drawn in the QR."""
    return _b64(signer.sign(_message(claims)))


def qr_text(claims: QrClaims, signature: str) -> str:
    """The text to encode in the QR code: the verify URL with its signed fragment."""
    return _text(claims, _unb64(signature))


def qr_text_length(claims: QrClaims) -> int:
    """The UTF-8 length of the QR text for `claims`, before it is signed (to size the symbol)."""
    return len(_text(claims, bytes(_SIGNATURE_LENGTH)).encode("utf-8"))


def signature_sha256(signature: str) -> str:
    """SHA-256 (hex) of a record's QR signature (base64url, as `sign_qr` returns it):
    names a QR code without anything that could be guessed from a person's details."""
    return hashlib.sha256(_unb64(signature)).hexdigest()


def parse_qr(text: str) -> tuple[QrClaims, bytes]:
    """The claims and signature in a QR text; ValueError naming what is wrong."""
    url, hash_sign, fragment = text.strip().partition("#")
    if not hash_sign:
        raise ValueError("the QR code is a plain link without an offline signature")
    match = _FRAGMENT.match(fragment)
    if not match or "/v/" not in url:
        raise ValueError("the QR code is not a diploma verification code")
    try:
        issued = date(int(match["date"][:4]), int(match["date"][4:6]), int(match["date"][6:]))
        name = _unb64(match["name"]).decode("utf-8")
        signature = _unb64(match["sig"])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValueError("the QR code's signed fields are damaged") from None
    if len(signature) != _SIGNATURE_LENGTH:
        raise ValueError("the QR code's signature is damaged")
    return QrClaims(url, match["serial"], issued, name), signature


def did_web_of(url: str) -> str:
    """The did:web of the site that serves `url`'s verification pages (`/v/{id}`)."""
    return did_web(url.rsplit("/v/", 1)[0])


def check_qr(text: str, keyring: KeyRing) -> QrCheck:
    """Check a QR text against the issuer's keys, offline.

    The signature must come from a key of the institution whose site the URL names. A
    QR code carries no signing time, so a key marked compromised fails it outright: only
    the online check, which knows when the record was signed, can tell such a diploma apart.
    """
    try:
        claims, signature = parse_qr(text)
    except ValueError as exc:
        return QrCheck(None, None, (str(exc),))
    controller = did_web_of(claims.verify_url)
    message = _message(claims)
    digest = hashlib.sha256(signature).hexdigest()
    candidates = [k for k in keyring if k.controller == controller]
    if not candidates:
        return QrCheck(claims, None, (f"no key of {controller} is in the trust bundle",), digest)
    for key in candidates:
        if key.verify(signature, message):
            if key.compromised_since is not None:
                return QrCheck(
                    claims,
                    key,
                    (
                        f"key {key.key_id} is marked compromised; this QR code cannot be "
                        "trusted offline: verify the diploma online",
                    ),
                    digest,
                )
            return QrCheck(claims, key, (), digest)
    return QrCheck(
        claims,
        None,
        (
            "the QR code's signature does not match its content: the name, serial, date "
            "or link were changed, or it was not made by the issuer",
        ),
        digest,
    )
