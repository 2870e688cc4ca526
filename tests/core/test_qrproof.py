"""The self-proving QR text: round trip, every change refused, keys and their states."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from diplomas.core.keyring import KeyRing, RecordKey
from diplomas.core.qrproof import QrClaims, check_qr, parse_qr, qr_text, qr_text_length, sign_qr

URL = "https://diplomas.tbzmed.ac.ir/v/Q8tH2dKc4mWzR7yB1nLpXe"
CONTROLLER = "did:web:diplomas.tbzmed.ac.ir"
CLAIMS = QrClaims(URL, "TBZMED-1405-000123", date(2026, 11, 26), "زهرا محمدی‌نژاد")
NOW = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class Signer:
    controller: str = CONTROLLER
    key_id: str = "k1"
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def verification_method(self) -> str:
        return f"{self.controller}#{self.key_id}"

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def key(self, **changes: object) -> RecordKey:
        public = self.private.public_key().public_bytes_raw()
        key = RecordKey(self.key_id, public, self.controller, NOW)
        return dataclasses.replace(key, **changes)  # type: ignore[arg-type]


def test_round_trip() -> None:
    signer = Signer()
    text = qr_text(CLAIMS, sign_qr(CLAIMS, signer))
    assert text.startswith(URL + "#1.TBZMED-1405-000123.20261126.")
    assert len(text.encode()) == qr_text_length(CLAIMS)
    assert parse_qr(text)[0] == CLAIMS
    check = check_qr(text, KeyRing([signer.key()]))
    assert check.genuine, check.reasons
    assert check.claims == CLAIMS


def test_deterministic() -> None:
    signer = Signer()
    assert qr_text(CLAIMS, sign_qr(CLAIMS, signer)) == qr_text(CLAIMS, sign_qr(CLAIMS, signer))


@pytest.mark.parametrize(
    "change",
    [
        {"name": "زهرا محمدی‌نژاده"},
        {"name": "زهرا محمدینژاد"},  # the ZWNJ removed
        {"serial": "TBZMED-1405-000124"},
        {"issued_on": date(2026, 11, 25)},
        {"verify_url": URL.replace("Q8tH", "Q8tJ")},
    ],
)
def test_any_changed_claim_is_refused(change: dict[str, object]) -> None:
    signer = Signer()
    signature_part = qr_text(CLAIMS, sign_qr(CLAIMS, signer)).rsplit(".", 1)[1]
    forged_claims = dataclasses.replace(CLAIMS, **change)  # type: ignore[arg-type]
    forged = (
        qr_text(forged_claims, sign_qr(forged_claims, Signer())).rsplit(".", 1)[0]
        + "."
        + signature_part
    )
    check = check_qr(forged, KeyRing([signer.key()]))
    assert not check.genuine
    assert "does not match its content" in check.reasons[0]


def test_every_changed_character_is_refused() -> None:
    """Each position, changed to two other characters: none may still verify (base64's
    spare bits included, which a lenient decoder would ignore)."""
    signer = Signer()
    ring = KeyRing([signer.key()])
    text = qr_text(CLAIMS, sign_qr(CLAIMS, signer))
    for at, original in enumerate(text):
        for replacement in [c for c in "AQgw-_.0" if c != original][:2]:
            forged = text[:at] + replacement + text[at + 1 :]
            assert not check_qr(forged, ring).genuine, (at, replacement)


def test_a_key_of_another_institution_does_not_count() -> None:
    other = Signer(controller="did:web:samt.example.ir")
    check = check_qr(qr_text(CLAIMS, sign_qr(CLAIMS, other)), KeyRing([other.key()]))
    assert not check.genuine
    assert "no key of did:web:diplomas.tbzmed.ac.ir" in check.reasons[0]


def test_unknown_key_of_the_same_institution() -> None:
    check = check_qr(qr_text(CLAIMS, sign_qr(CLAIMS, Signer())), KeyRing([Signer().key()]))
    assert not check.genuine


def test_rotated_keys_still_verify_and_compromised_ones_do_not() -> None:
    old, new = Signer(key_id="k1"), Signer(key_id="k2")
    ring = KeyRing([old.key(valid_until=NOW), new.key()])
    assert check_qr(qr_text(CLAIMS, sign_qr(CLAIMS, old)), ring).genuine
    assert check_qr(qr_text(CLAIMS, sign_qr(CLAIMS, new)), ring).genuine
    leaked = KeyRing([old.key(compromised_since=NOW), new.key()])
    check = check_qr(qr_text(CLAIMS, sign_qr(CLAIMS, old)), leaked)
    assert not check.genuine
    assert "compromised" in check.reasons[0]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (URL, "plain link"),
        (URL + "#", "not a diploma verification code"),
        ("WIFI:S:cafe;T:WPA;P:secret;;", "plain link"),
        (URL + "#1.TBZMED-1405-000123.20261340.2LLYsdix." + "A" * 86, "damaged"),
        (URL + "#1.TBZMED-1405-000123.20261126.____." + "A" * 86, "damaged"),
    ],
)
def test_malformed_codes_get_a_reason(text: str, reason: str) -> None:
    check = check_qr(text, KeyRing([Signer().key()]))
    assert not check.genuine
    assert reason in check.reasons[0]


def test_port_and_path_in_the_public_url() -> None:
    signer = Signer(controller="did:web:127.0.0.1%3A8000:diplomas")
    claims = dataclasses.replace(CLAIMS, verify_url="http://127.0.0.1:8000/diplomas/v/abc")
    assert check_qr(qr_text(claims, sign_qr(claims, signer)), KeyRing([signer.key()])).genuine
