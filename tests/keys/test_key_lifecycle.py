"""Rotate, retire, mark compromised: on the file store and its in-memory twin alike."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from diplomas.core.credential import claims_for, signed_record
from diplomas.core.errors import Conflict, InvalidInput, KeyStoreError, NotFound
from diplomas.core.ids import placeholder_id
from diplomas.core.keyring import KeyRing, RecordKey, RecordSigner
from diplomas.core.model import Institution, parse_request
from diplomas.core.verification import check_record
from diplomas.keys import FileKeyStore, MemoryKeyStore
from diplomas.keys.did import did_document
from diplomas.keys.record import next_second, parse_since, utc_seconds

from .conftest import NOW, PASSPHRASE


class Store(Protocol):
    def signer(self) -> RecordSigner: ...
    def keyring(self) -> KeyRing: ...
    def entries(self) -> tuple[RecordKey, ...]: ...
    def rotate(self, now: datetime) -> RecordKey: ...
    def retire(self, key_id: str, now: datetime, *, rotate: bool = False) -> RecordKey | None: ...
    def mark_compromised(self, key_id: str, since: datetime, now: datetime) -> RecordKey: ...


@pytest.fixture(params=["file", "memory"])
def any_store(request: pytest.FixtureRequest, institution: Institution) -> Store:
    if request.param == "file":
        store: Store = request.getfixturevalue("store")
        return store
    return MemoryKeyStore(institution, NOW)


def record(institution: Institution, store: Store, at: datetime) -> bytes:
    request = parse_request({"name": "زهرا محمدی", "issued_on": "2026-11-26"}, today=at.date())
    claims = claims_for(institution, request, placeholder_id(), "AC-1405-000001")
    return signed_record(claims, [store.signer()], at)


def test_rotate_retires_the_old_key_and_both_keep_verifying(
    any_store: Store, institution: Institution
) -> None:
    first = any_store.signer().key_id
    before = record(institution, any_store, NOW + timedelta(minutes=1))
    rotated_at = NOW + timedelta(hours=1, microseconds=250_000)
    # signed by the old key in the very second of the rotation (a request in flight)
    in_flight = record(institution, any_store, rotated_at + timedelta(microseconds=500_000))
    new = any_store.rotate(rotated_at)
    after = record(institution, any_store, rotated_at + timedelta(minutes=1))

    assert any_store.signer().key_id == new.key_id != first
    old = {e.key_id: e for e in any_store.entries()}[first]
    assert (old.status, old.valid_until) == ("retired", next_second(rotated_at))
    assert new.valid_from == utc_seconds(rotated_at) and new.status == "active"
    ring = any_store.keyring()
    assert check_record(before, ring).ok and check_record(after, ring).ok
    assert check_record(in_flight, ring).ok


def test_retire_stops_signing_and_keeps_old_signatures(
    any_store: Store, institution: Institution
) -> None:
    first = any_store.signer().key_id
    old_record = record(institution, any_store, NOW + timedelta(minutes=5))
    with pytest.raises(Conflict, match=r"only active key.*keys rotate"):
        any_store.retire(first, NOW + timedelta(hours=1))
    assert any_store.entries()[0].status == "active"  # nothing changed

    new = any_store.retire(first, NOW + timedelta(hours=1), rotate=True)
    assert new is not None and any_store.signer().key_id == new.key_id
    assert check_record(old_record, any_store.keyring()).ok
    with pytest.raises(Conflict, match="already retired"):
        any_store.retire(first, NOW + timedelta(hours=2))
    with pytest.raises(NotFound, match="no record key 'rk-nope'"):
        any_store.retire("rk-nope", NOW + timedelta(hours=2))


def test_a_retired_key_cannot_sign_after_its_end(
    any_store: Store, institution: Institution
) -> None:
    first = any_store.signer().key_id
    late = record(institution, any_store, NOW + timedelta(hours=2))  # claims a later time
    any_store.rotate(NOW + timedelta(hours=1))
    reasons = check_record(late, any_store.keyring()).reasons
    assert any(f"after key {first} was retired" in r for r in reasons)


def test_compromised_key_fails_from_since_and_verifies_before(
    any_store: Store, institution: Institution
) -> None:
    key_id = any_store.signer().key_id
    early = record(institution, any_store, NOW + timedelta(minutes=1))
    late = record(institution, any_store, NOW + timedelta(minutes=30))
    since = NOW + timedelta(minutes=10)
    marked = any_store.mark_compromised(key_id, since, NOW + timedelta(hours=1))
    assert marked.status == "compromised" and marked.compromised_since == utc_seconds(since)

    ring = any_store.keyring()
    assert check_record(early, ring).ok
    reasons = check_record(late, ring).reasons
    sentence = next(r for r in reasons if "compromised" in r)
    assert key_id in sentence and "2026-11-26 09:40:15 UTC" in sentence
    assert "+00:00" not in sentence  # a plain sentence, not a raw timestamp
    # no key signs any more: issuing must stop until a rotation
    with pytest.raises(KeyStoreError, match="keys rotate"):
        any_store.signer()
    new = any_store.rotate(NOW + timedelta(hours=2))
    assert any_store.signer().key_id == new.key_id
    assert check_record(early, any_store.keyring()).ok


def test_compromise_rules(any_store: Store) -> None:
    key_id = any_store.signer().key_id
    now = NOW + timedelta(hours=1)
    with pytest.raises(InvalidInput, match="future"):
        any_store.mark_compromised(key_id, now + timedelta(seconds=5), now)
    with pytest.raises(InvalidInput, match="time zone"):
        any_store.mark_compromised(key_id, datetime(2026, 11, 26, 9, 40), now)
    with pytest.raises(NotFound):
        any_store.mark_compromised("rk-missing", NOW, now)
    any_store.mark_compromised(key_id, NOW + timedelta(minutes=20), now)
    # a later time would trust more: refused; an earlier one distrusts more: accepted
    with pytest.raises(Conflict, match="already marked compromised"):
        any_store.mark_compromised(key_id, NOW + timedelta(minutes=40), now)
    moved = any_store.mark_compromised(key_id, NOW + timedelta(minutes=5), now)
    assert moved.compromised_since == utc_seconds(NOW + timedelta(minutes=5))
    with pytest.raises(Conflict, match="compromised"):
        any_store.retire(key_id, now, rotate=True)


def test_parse_since() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("2026-11-26T09:30:00Z", now) == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    tehran = parse_since("2026-11-26T13:00:00+03:30", now)
    assert tehran == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert parse_since("2026-11-26T09:30:00.900Z", now).microsecond == 0  # the whole second
    for text, words in [
        ("yesterday", "not an ISO 8601 time"),
        ("2026-11-26T09:30:00", "time zone"),
        ("2026-11-26", "time zone"),
        ("2026-11-27T00:00:00Z", "future"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            parse_since(text, now)


def test_changes_are_written_atomically_and_private_keys_never_rewritten(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    first = store.signer().key_id
    private_before = {p.name: p.read_bytes() for p in key_dir.glob("*.pem")}
    new = store.rotate(NOW + timedelta(days=1))
    store.mark_compromised(first, NOW + timedelta(hours=3), NOW + timedelta(days=2))
    for name, data in private_before.items():
        assert (key_dir / name).read_bytes() == data
    assert stat.S_IMODE((key_dir / f"record-key-{new.key_id}.pem").stat().st_mode) == 0o600
    assert not list(key_dir.glob(".*.tmp"))
    metadata = json.loads((key_dir / "record-keys.json").read_bytes())
    assert [(k["key_id"], k["status"]) for k in metadata["keys"]] == [
        (first, "compromised"),
        (new.key_id, "active"),
    ]
    assert metadata["keys"][0]["compromised_since"] == "2026-11-26T12:30:15Z"
    reopened = FileKeyStore(key_dir, PASSPHRASE, institution)
    assert reopened.entries() == store.entries()
    assert reopened.signer().key_id == new.key_id


def test_concurrent_rotations_keep_every_key(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    """Two processes rotating at once (two store objects on one directory): the lock
    makes them take turns, so neither loses the other's key."""
    others = [FileKeyStore(key_dir, PASSPHRASE, institution) for _ in range(4)]
    made: list[RecordKey] = []

    def rotate(s: FileKeyStore) -> None:
        made.append(s.rotate(NOW + timedelta(hours=1)))

    threads = [threading.Thread(target=rotate, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = FileKeyStore(key_dir, PASSPHRASE, institution).entries()
    assert len(entries) == 5
    assert {k.key_id for k in made} <= {e.key_id for e in entries}
    assert sum(e.status == "active" for e in entries) == 1
    for entry in entries:
        assert (key_dir / f"record-key-{entry.key_id}.pem").is_file()


def test_did_document_lists_every_key_with_its_window(
    any_store: Store, institution: Institution
) -> None:
    first = any_store.signer().key_id
    second = any_store.rotate(NOW + timedelta(days=1))
    third = any_store.rotate(NOW + timedelta(days=2))
    any_store.mark_compromised(
        second.key_id, NOW + timedelta(days=1, hours=1), NOW + timedelta(days=3)
    )
    doc = did_document(institution, any_store.keyring())

    assert doc["id"] == institution.did == "did:web:diplomas.example.org"
    assert doc["@context"][:2] == [
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/multikey/v1",
    ]
    methods = {m["id"]: m for m in doc["verificationMethod"]}
    assert list(methods) == [f"{institution.did}#{k}" for k in (first, second.key_id, third.key_id)]
    assert doc["assertionMethod"] == list(methods)
    for entry in any_store.entries():
        m = methods[entry.verification_method]
        assert m["type"] == "Multikey" and m["controller"] == institution.did
        assert m["publicKeyMultibase"] == entry.public_key_multibase
        assert m["publicKeyMultibase"].startswith("z6Mk")
        assert m["diplomas:keyStatus"] == entry.status
    assert "expires" not in methods[f"{institution.did}#{third.key_id}"]
    assert methods[f"{institution.did}#{first}"]["expires"] == "2026-11-27T09:30:16Z"
    assert methods[f"{institution.did}#{second.key_id}"]["revoked"] == "2026-11-27T10:30:15Z"


def test_did_document_survives_json_ld_expansion(
    any_store: Store, institution: Institution
) -> None:
    """Every property is defined by a context (none silently dropped): expires and revoked
    by the Multikey context, ours under the institution's own namespace."""
    from pyld import jsonld

    from diplomas.core.contexts import document_loader

    first = any_store.signer().key_id
    any_store.rotate(NOW + timedelta(days=1))
    any_store.mark_compromised(first, NOW + timedelta(hours=1), NOW + timedelta(days=2))
    [expanded] = jsonld.expand(
        did_document(institution, any_store.keyring()), {"documentLoader": document_loader}
    )
    security = "https://w3id.org/security#"
    ours = "https://diplomas.example.org/ns/keys#"
    methods = expanded[f"{security}verificationMethod"]
    assert len(methods) == 2 and len(expanded[f"{security}assertionMethod"]) == 2
    old = next(m for m in methods if m["@id"].endswith(first))
    assert old[f"{security}revoked"][0]["@value"] == "2026-11-26T10:30:15Z"
    assert old[f"{security}expiration"][0]["@value"] == "2026-11-27T09:30:16Z"
    assert old[f"{ours}keyStatus"][0]["@value"] == "compromised"
    for method in methods:
        compact_keys = {k.rsplit("#", 1)[-1] for k in method}
        assert {"controller", "publicKeyMultibase", "validFrom", "keyStatus"} <= compact_keys


def test_a_wrong_passphrase_adds_no_key(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    before = {p.name: p.read_bytes() for p in key_dir.iterdir()}
    wrong = FileKeyStore(key_dir, b"not the passphrase", institution)
    with pytest.raises(KeyStoreError, match="passphrase"):
        wrong.rotate(NOW + timedelta(days=1))
    with pytest.raises(KeyStoreError, match="passphrase"):
        wrong.retire(store.signer().key_id, NOW + timedelta(days=1), rotate=True)
    assert {p.name: p.read_bytes() for p in key_dir.iterdir()} == before
