"""The signed record: W3C vector, round trips, tampering, key validity, proof sets."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from diplomas.core.credential import (
    SCHEMA_VERSION,
    claims_for,
    claims_from_credential,
    signed_record,
)
from diplomas.core.keyring import KeyRing, RecordKey
from diplomas.core.model import DiplomaStatus, Institution, Signatory, parse_request
from diplomas.core.proof import canonical, check_proofs
from diplomas.core.verification import (
    StoredState,
    VerdictStatus,
    check_record,
    verdict_for_stored,
)

# The signed example of the W3C Data Integrity EdDSA Cryptosuites test vectors
# (TestVectors/eddsa-jcs-2022/signedJCS.json in w3c/vc-di-eddsa), kept with the tests.
VECTOR = Path(__file__).parents[1] / "data" / "eddsa-jcs-2022-signedJCS.json"
SCHEMA_1_RECORD = Path(__file__).parents[1] / "data" / "record-schema-1-co-issued.json"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)

UNI = Institution(
    "tbzmed",
    "معاونت تحقیقات و فناوری دانشگاه علوم پزشکی تبریز",
    "Vice-Chancellery for Research and Technology, TBZMED",
    "https://diplomas.tbzmed.ac.ir",
    "TBZMED",
    (
        Signatory(
            "دکتر پرویز شهابی", "معاون تحقیقات و فناوری", "Dr Parviz Shahabi", "Vice-Chancellor"
        ),
    ),
)
SAMT = Institution(
    "samt",
    "سازمان صنعت، معدن و تجارت استان آذربایجان شرقی",
    "East Azerbaijan Organization of Industry, Mine and Trade",
    "https://samt.example.ir",
    "SAMT",
    (Signatory("مهندس صابر پرنیان", "رئیس سازمان", "Saber Parnian", "Head"),),
)


@dataclass
class MemorySigner:
    controller: str
    key_id: str
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def verification_method(self) -> str:
        return f"{self.controller}#{self.key_id}"

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)

    def public(self, valid_from: datetime = NOW - timedelta(days=1), **kw: Any) -> RecordKey:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return RecordKey(self.key_id, raw, self.controller, valid_from, **kw)


def record_for(signers: list[MemorySigner], co: tuple[Institution, ...] = ()) -> bytes:
    request = parse_request(
        {
            "name": "زهرا محمدی‌نژاد",
            "name_en": "Zahra Mohammadinejad",
            "citation": "بنیان‌گذار شرکت دانش‌بنیان",
            "field": "فناوری سلامت",
        },
        today=date(2026, 11, 26),
    )
    claims = claims_for(UNI, request, "A" * 23, "TBZMED-1405-000001", co)
    return signed_record(claims, signers, NOW)


def test_w3c_eddsa_jcs_2022_vector_verifies() -> None:
    doc = json.loads(VECTOR.read_text())
    assert [p.reasons for p in check_proofs(doc, KeyRing(), allow_did_key=True)] == [()]


@pytest.mark.parametrize(
    "path",
    [("name",), ("credentialSubject", "alumniOf"), ("proof", "created"), ("proof", "proofPurpose")],
)
def test_w3c_vector_refused_after_any_change(path: tuple[str, ...]) -> None:
    doc = json.loads(VECTOR.read_text())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = target[path[-1]] + "x"
    assert not check_proofs(doc, KeyRing(), allow_did_key=True)[0].ok


def test_record_round_trips_through_another_serializer() -> None:
    signer = MemorySigner(UNI.did, "rk-1")
    record = record_for([signer])
    ring = KeyRing([signer.public()])
    # Pretty-printed with another serializer, then read back: still the same signed content.
    reparsed = json.dumps(json.loads(record), indent=3, ensure_ascii=True).encode()
    check = check_record(reparsed, ring)
    assert check.ok, check.reasons
    assert check.claims is not None and check.claims.name == "زهرا محمدی‌نژاد"
    assert canonical(json.loads(reparsed)) == record


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


SIGNER = MemorySigner(UNI.did, "rk-1")
RECORD = record_for([SIGNER])
LEAVES = [p for p in _leaves(json.loads(RECORD)) if p[0] != "proof" or p[-1] != "proofValue"]


@settings(max_examples=len(LEAVES), deadline=None)
@given(st.sampled_from(LEAVES))
def test_changing_any_claim_breaks_the_record(path: tuple[Any, ...]) -> None:
    doc = json.loads(RECORD)
    target = doc
    for key in path[:-1]:
        target = target[key]
    old = target[path[-1]]
    target[path[-1]] = (old + 1) if isinstance(old, int) else str(old) + "ی"
    assert not check_record(canonical(doc), KeyRing([SIGNER.public()])).ok


def test_unknown_key_and_key_windows() -> None:
    assert "unknown key" in " ".join(check_record(RECORD, KeyRing()).reasons)
    retired = SIGNER.public(valid_until=NOW - timedelta(hours=1))
    assert "retired" in " ".join(check_record(RECORD, KeyRing([retired])).reasons)
    compromised = SIGNER.public(compromised_since=NOW - timedelta(hours=1))
    assert "compromised" in " ".join(check_record(RECORD, KeyRing([compromised])).reasons)
    compromised_later = SIGNER.public(compromised_since=NOW + timedelta(hours=1))
    assert check_record(RECORD, KeyRing([compromised_later])).ok
    young = SIGNER.public(valid_from=NOW + timedelta(hours=1))
    assert "before" in " ".join(check_record(RECORD, KeyRing([young])).reasons)


def test_co_issued_record_needs_every_issuer() -> None:
    uni, samt = MemorySigner(UNI.did, "rk-u"), MemorySigner(SAMT.did, "rk-s")
    ring = KeyRing([uni.public(), samt.public()])
    both = record_for([uni, samt], (SAMT,))
    check = check_record(both, ring)
    assert check.ok, check.reasons
    assert len(check.claims.issuers) == 2 if check.claims else False
    only_uni = record_for([uni], (SAMT,))
    assert any("East Azerbaijan" in r for r in check_record(only_uni, ring).reasons)
    doc = json.loads(both)
    broken = copy.deepcopy(doc)
    broken["proof"][1]["proofValue"] = doc["proof"][0]["proofValue"]
    assert not check_record(canonical(broken), ring).ok
    # Either proof removed from the proof set: the institution it spoke for is named.
    for kept, missing in ((1, "Vice-Chancellery"), (0, "East Azerbaijan")):
        lone = {**doc, "proof": doc["proof"][kept]}
        reasons = check_record(canonical(lone), ring).reasons
        assert any(missing in r for r in reasons), reasons


def test_claims_parse_back_exactly() -> None:
    claims = claims_from_credential(json.loads(RECORD))
    assert claims.serial == "TBZMED-1405-000001"
    assert claims.citation == "بنیان‌گذار شرکت دانش‌بنیان"
    assert claims.issuer.name_en.startswith("Vice-Chancellery")
    assert claims.signatories[0].name == "دکتر پرویز شهابی"


def test_private_fields_never_enter_the_record() -> None:
    request = parse_request(
        {
            "name": "علی",
            "email": "ali@example.com",
            "national_id": "0499370899",
            "external_id": "row-7",
        },
        today=date(2026, 11, 26),
    )
    record = signed_record(
        claims_for(UNI, request, "B" * 23, "TBZMED-1405-000002"), [SIGNER], NOW
    ).decode()
    for secret in ("ali@example.com", "0499370899", "row-7"):
        assert secret not in record


def test_verdicts_for_stored_records() -> None:
    ring = KeyRing([SIGNER.public()])
    assert verdict_for_stored(None, ring).status is VerdictStatus.UNKNOWN
    assert verdict_for_stored(StoredState(RECORD, DiplomaStatus.ISSUED), ring).genuine
    revoked = verdict_for_stored(
        StoredState(RECORD, DiplomaStatus.REVOKED, NOW, "issued_in_error"), ring
    )
    assert revoked.status is VerdictStatus.REVOKED and "Issued in error" in revoked.reasons[0]
    forged = RECORD.replace("زهرا".encode(), "سارا".encode())
    v = verdict_for_stored(StoredState(forged, DiplomaStatus.ISSUED), ring)
    assert v.status is VerdictStatus.INVALID


# -- status list entries in the record --------------------------------------------------


def _record_with_status(index: int = 90_210) -> bytes:
    from diplomas.core.statuslist import StatusSlot, status_entries

    request = parse_request({"name": "زهرا محمدی‌نژاد"}, today=date(2026, 11, 26))
    entries = status_entries(UNI.public_url, StatusSlot(3, index))
    claims = claims_for(UNI, request, "C" * 23, "TBZMED-1405-000003", status=entries)
    return signed_record(claims, [SIGNER], NOW)


def test_the_record_carries_a_revocation_and_a_suspension_entry() -> None:
    record = _record_with_status()
    doc = json.loads(record)
    assert doc["credentialStatus"] == [
        {
            "id": f"https://diplomas.tbzmed.ac.ir/status/{purpose}-3#90210",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": "90210",
            "statusListCredential": f"https://diplomas.tbzmed.ac.ir/status/{purpose}-3",
        }
        for purpose in ("revocation", "suspension")
    ]
    claims = claims_from_credential(doc)
    assert [(e.purpose.value, e.index) for e in claims.status] == [
        ("revocation", 90_210),
        ("suspension", 90_210),
    ]
    assert check_record(record, KeyRing([SIGNER.public()])).ok
    # The status entries are signed: moving the diploma to another index breaks the proof.
    moved = record.replace(b'"90210"', b'"90211"')
    assert not check_record(moved, KeyRing([SIGNER.public()])).ok


def test_records_without_status_entries_still_verify() -> None:
    assert "credentialStatus" not in json.loads(RECORD)
    assert claims_from_credential(json.loads(RECORD)).status == ()
    assert check_record(RECORD, KeyRing([SIGNER.public()])).ok


def test_suspended_verdicts_carry_date_and_reason() -> None:
    ring = KeyRing([SIGNER.public()])
    v = verdict_for_stored(
        StoredState(RECORD, DiplomaStatus.SUSPENDED, None, "", NOW, "under_review"), ring
    )
    assert v.status is VerdictStatus.SUSPENDED and not v.genuine
    assert v.suspended_at == NOW and v.suspension_reason == "under_review"
    assert "suspended" in v.reasons[0] and "Under review" in v.reasons[0]


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=2**53, max_value=2**64)
)
_json = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_canonical_bytes_are_rfc8785_bytes(value: Any) -> None:
    """The fast path and the reference implementation never disagree, floats, huge
    integers, non-ASCII keys and control characters included."""
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical(value)
    else:
        assert canonical(value) == expected


@pytest.mark.parametrize(
    "text", ["\u2028\u2029", "\x00\x1f\x7f", 'a"b\\c', "\b\f\n\r\t", "زهرا\u200cمحمدی", "😀"]
)
def test_canonical_escapes_like_rfc8785(text: str) -> None:
    import rfc8785

    value = {"z": text, "a": [text, 1, True, None], "é": text}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"k": text}) == rfc8785.dumps({"k": text})


# -- record shapes ------------------------------------------------------------------------


def _seeded_key(controller: str, seed: bytes) -> RecordKey:
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return RecordKey("rk-2026-1", raw, controller, NOW - timedelta(days=1))


# The keys that signed tests/data/record-schema-1-co-issued.json: bytes 0..31 for the
# university, 32..63 for SAMT (test keys, nothing else was ever signed with them).
SCHEMA_1_RING = KeyRing(
    [_seeded_key(UNI.did, bytes(range(32))), _seeded_key(SAMT.did, bytes(range(32, 64)))]
)


def test_a_schema_1_record_still_verifies_and_reads() -> None:
    """A co-issued record of the first shape, its @context ending with an inline object,
    exactly as the code before schema 2 signed it (commit e55c4f2): diplomas issued then
    hold such bytes and must keep verifying."""
    record = SCHEMA_1_RECORD.read_bytes()
    document = json.loads(record)
    assert document["diploma"]["schemaVersion"] == 1
    assert isinstance(document["@context"][-1], dict)
    check = check_record(record, SCHEMA_1_RING)
    assert check.ok, check.reasons
    claims = check.claims
    assert claims is not None
    assert (claims.id, claims.serial) == ("01JDQ3Z8M4V9K2T6R5X7Y1B0CE", "TBZMED-1405-000001")
    assert claims.issued_on == date(2026, 11, 26)
    assert [i.did for i in claims.issuers] == [UNI.did, SAMT.did]
    assert [s.name_en for s in claims.signatories] == ["Dr Parviz Shahabi", "Saber Parnian"]
    assert claims.signatories[1].title == "رئیس سازمان"
    assert [e.index for e in claims.status] == [90_210, 90_210]
    assert claims.qr_signature
    forged = record.replace("زهرا".encode(), "سارا".encode())
    assert not check_record(forged, SCHEMA_1_RING).ok


def test_new_records_take_schema_2_and_say_what_schema_1_said() -> None:
    """Re-signing the schema-1 sample's claims in the new shape changes the shape only."""
    old = check_record(SCHEMA_1_RECORD.read_bytes(), SCHEMA_1_RING).claims
    assert old is not None
    signers = [
        MemorySigner(UNI.did, "rk-2026-1", Ed25519PrivateKey.from_private_bytes(bytes(range(32)))),
        MemorySigner(
            SAMT.did, "rk-2026-1", Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
        ),
    ]
    record = signed_record(replace(old, qr_signature=""), signers, NOW)
    document = json.loads(record)
    assert SCHEMA_VERSION == 2 and document["diploma"]["schemaVersion"] == 2
    assert all(isinstance(c, str) for c in document["@context"])
    assert document["awardedDate"] == "2026-11-26T00:00:00Z"
    assert "id" not in document["diploma"]
    check = check_record(record, SCHEMA_1_RING)
    assert check.ok, check.reasons
    assert check.claims == old


def test_unknown_schema_versions_are_refused() -> None:
    document = json.loads(RECORD)
    document["diploma"]["schemaVersion"] = 3
    assert "schema version 3" in " ".join(check_record(canonical(document), KeyRing()).reasons)
