"""The verdict's level, its record signatures and its "how we verified" lines."""

from __future__ import annotations

from datetime import timedelta

from test_record import NOW, SAMT, UNI, MemorySigner, record_for

from diplomas.core.keyring import KeyRing
from diplomas.core.model import DiplomaStatus
from diplomas.core.verification import StoredState, VerdictStatus, verdict_for_stored
from diplomas.core.words import CHECKS, HEADLINES, Level, Outcome


def _lines(verdict: object) -> list[tuple[str, str]]:
    return [(c.code, c.outcome.value) for c in verdict.checks]  # type: ignore[attr-defined]


def test_a_genuine_diploma_says_how_it_was_verified() -> None:
    signer = MemorySigner(UNI.did, "rk-1")
    v = verdict_for_stored(
        StoredState(record_for([signer]), DiplomaStatus.ISSUED), KeyRing([signer.public()])
    )
    assert v.level is Level.GENUINE
    assert v.headline == HEADLINES["valid"]
    assert _lines(v) == [
        ("record_signature", "ok"),
        ("key_valid_at_signing", "ok"),
        ("key_not_compromised", "ok"),
        ("status", "ok"),
    ]
    (signature,) = v.record_signatures
    assert (signature.did, signature.key_id, signature.signed_at) == (UNI.did, "rk-1", NOW)
    assert signature.key_state == "active" and signature.valid_at_signing
    assert signature.issuer is not None and signature.issuer.did == UNI.did


def test_a_key_retired_since_signing_is_genuine_with_a_warning() -> None:
    signer = MemorySigner(UNI.did, "rk-1")
    ring = KeyRing([signer.public(valid_until=NOW + timedelta(days=30))])
    v = verdict_for_stored(StoredState(record_for([signer]), DiplomaStatus.ISSUED), ring)
    assert v.status is VerdictStatus.VALID
    assert v.level is Level.WARNING
    assert v.headline == HEADLINES["warning"]
    assert ("key_retired", "warn") in _lines(v)
    assert v.record_signatures[0].key_state == "retired"


def test_revoked_suspended_and_unknown_are_not_valid() -> None:
    signer = MemorySigner(UNI.did, "rk-1")
    ring = KeyRing([signer.public()])
    record = record_for([signer])
    revoked = verdict_for_stored(StoredState(record, DiplomaStatus.REVOKED, NOW), ring)
    suspended = verdict_for_stored(StoredState(record, DiplomaStatus.SUSPENDED), ring)
    unknown = verdict_for_stored(None, ring)
    assert {revoked.level, suspended.level, unknown.level} == {Level.NOT_VALID}
    assert ("status_revoked", "fail") in _lines(revoked)
    assert ("status_suspended", "fail") in _lines(suspended)
    assert _lines(unknown) == [("status_unknown", "fail")]


def test_a_signature_after_a_compromise_fails_and_before_one_warns() -> None:
    signer = MemorySigner(UNI.did, "rk-1")
    record = record_for([signer])
    after = KeyRing([signer.public(compromised_since=NOW - timedelta(hours=1))])
    before = KeyRing([signer.public(compromised_since=NOW + timedelta(hours=1))])
    bad = verdict_for_stored(StoredState(record, DiplomaStatus.ISSUED), after)
    warned = verdict_for_stored(StoredState(record, DiplomaStatus.ISSUED), before)
    assert bad.level is Level.NOT_VALID
    assert ("key_not_compromised", "fail") in _lines(bad)
    assert warned.level is Level.WARNING
    assert ("key_not_compromised", "warn") in _lines(warned)


def test_co_issued_records_report_each_institutions_signature() -> None:
    uni, samt = MemorySigner(UNI.did, "rk-1"), MemorySigner(SAMT.did, "rk-9")
    ring = KeyRing([uni.public(), samt.public()])
    v = verdict_for_stored(
        StoredState(record_for([uni, samt], (SAMT,)), DiplomaStatus.ISSUED), ring
    )
    assert v.level is Level.GENUINE
    assert [(s.did, s.key_id) for s in v.record_signatures] == [
        (UNI.did, "rk-1"),
        (SAMT.did, "rk-9"),
    ]
    about = [c.about_en for c in v.checks if c.code == "record_signature"]
    assert about == [UNI.name_en, SAMT.name_en]


def test_every_check_has_words_in_both_languages() -> None:
    for words in CHECKS.values():
        assert words.fa and words.en
        assert any("\u0600" <= ch <= "\u06ff" for ch in words.fa)
    assert {o for _, o in CHECKS} == set(Outcome)
