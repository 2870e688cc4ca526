from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from diplomas.core.errors import KeyStoreError
from diplomas.core.keyring import RecordKey
from diplomas.core.model import Institution
from diplomas.keys import FileKeyStore, init_key_store
from diplomas.keys.record import current_entry, key_file_name, utc_seconds

from .conftest import NOW, PASSPHRASE


def _retire(key: RecordKey, at: datetime) -> RecordKey:
    return replace(key, valid_until=utc_seconds(at))


def _compromise(key: RecordKey, since: datetime) -> RecordKey:
    return replace(key, compromised_since=utc_seconds(since))


EXPECTED_FILES = {
    "record-keys.json",
    "root-ca.key.pem",
    "root-ca.pem",
    "document-signing.key.pem",
    "document-signing.pem",
    "national-id-secret.json",
}


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_init_creates_every_file_private(store: FileKeyStore, key_dir: Path) -> None:
    names = {p.name for p in key_dir.iterdir()} - {".lock"}
    record_files = {n for n in names if n.startswith("record-key-rk-")}
    assert names - record_files == EXPECTED_FILES
    assert len(record_files) == 1
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    for path in key_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_private_keys_are_encrypted_pkcs8(store: FileKeyStore, key_dir: Path) -> None:
    private = [p for p in key_dir.iterdir() if p.name.endswith(".key.pem")]
    private += list(key_dir.glob("record-key-*.pem"))
    assert len(private) == 3
    for path in private:
        data = path.read_bytes()
        assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data
        assert b"BEGIN PRIVATE KEY" not in data
        with pytest.raises(TypeError):
            load_pem_private_key(data, None)
        with pytest.raises(ValueError):
            load_pem_private_key(data, b"wrong passphrase")
        assert load_pem_private_key(data, PASSPHRASE) is not None


def test_init_twice_changes_nothing(key_dir: Path, institution: Institution) -> None:
    first = init_key_store(key_dir, PASSPHRASE, institution, NOW)
    before = _snapshot(key_dir)
    second = init_key_store(key_dir, PASSPHRASE, institution, NOW + timedelta(days=3))
    assert _snapshot(key_dir) == before
    assert second.signer().key_id == first.signer().key_id


def test_wrong_passphrase_is_refused(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    before = _snapshot(key_dir)
    with pytest.raises(KeyStoreError, match="passphrase"):
        init_key_store(key_dir, b"not the passphrase", institution, NOW)
    with pytest.raises(KeyStoreError, match="passphrase"):
        FileKeyStore(key_dir, b"not the passphrase", institution).signer()
    assert _snapshot(key_dir) == before


def test_init_completes_a_partial_store_without_replacing_keys(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    (key_dir / "document-signing.pem").unlink()
    (key_dir / "national-id-secret.json").unlink()
    before = _snapshot(key_dir)

    with pytest.raises(KeyStoreError):
        init_key_store(key_dir, b"wrong", institution, NOW)
    assert _snapshot(key_dir) == before  # nothing added under the wrong passphrase

    again = init_key_store(key_dir, PASSPHRASE, institution, NOW)
    after = _snapshot(key_dir)
    assert {k: after[k] for k in before} == before
    certificate = again.document_signing_certificate()
    key = load_pem_private_key(after["document-signing.key.pem"], PASSPHRASE)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate.public_key() == key.public_key()


def test_record_signer(store: FileKeyStore, institution: Institution) -> None:
    signer = store.signer()
    assert signer.key_id.startswith("rk-20261126-")
    assert len(signer.key_id) == len("rk-20261126-") + 6
    assert signer.verification_method == f"{institution.did}#{signer.key_id}"
    signature = signer.sign(b"record bytes")
    key = store.keyring().resolve(signer.verification_method)
    assert key is not None
    assert key.verify(signature, b"record bytes")
    assert not key.verify(signature, b"other bytes")
    # valid from the start of the second, so a proof created at NOW (cut to seconds) is inside
    assert key.valid_from == NOW.replace(microsecond=0)
    assert key.problem_at(NOW.replace(microsecond=0)) is None
    assert key.valid_until is None and key.compromised_since is None


def test_rotate_keeps_old_keys_verifying(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    old = store.signer()
    old_signature = old.sign(b"issued last year")
    new_key = store.rotate(NOW + timedelta(days=365))

    assert store.signer().key_id == new_key.key_id != old.key_id
    reopened = FileKeyStore(key_dir, PASSPHRASE, institution)
    assert reopened.signer().key_id == new_key.key_id
    ring = reopened.keyring()
    assert len(ring) == 2
    old_key = ring.resolve(old.verification_method)
    # the old key is retired at the rotation (rounded up to the second) and still verifies
    assert old_key is not None and old_key.valid_until == utc_seconds(NOW) + timedelta(
        days=365, seconds=1
    )
    assert old_key.verify(old_signature, b"issued last year")
    assert old_key.problem_at(utc_seconds(NOW + timedelta(days=365))) is None
    metadata = json.loads((key_dir / "record-keys.json").read_bytes())
    assert [k["status"] for k in metadata["keys"]] == ["retired", "active"]
    assert stat.S_IMODE((key_dir / "record-keys.json").stat().st_mode) == 0o600


def test_store_notices_rotation_by_another_process(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    other = FileKeyStore(key_dir, PASSPHRASE, institution)
    new_key = other.rotate(NOW + timedelta(hours=1))
    assert store.signer().key_id == new_key.key_id


def test_current_key_is_the_newest_active_one(store: FileKeyStore) -> None:
    store.rotate(NOW + timedelta(days=1))
    entries = store.entries()
    assert current_entry(entries) == entries[1]
    older_active = replace(entries[0], valid_until=None)
    retired = (older_active, _retire(entries[1], NOW + timedelta(days=2)))
    assert current_entry(retired) == older_active
    assert current_entry((_compromise(entries[1], NOW),)) is None


def test_root_certificate(store: FileKeyStore, institution: Institution) -> None:
    [root] = store.trust_roots()
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and not usage.digital_signature
    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    public_key = root.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    lifetime = root.not_valid_after_utc - root.not_valid_before_utc
    assert timedelta(days=20 * 365) <= lifetime <= timedelta(days=20 * 366)
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Acme Entrepreneurship Institute Root CA"
    )
    orgs = [a.value for a in root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == [institution.name_en, institution.name]
    # every name attribute is a UTF8String
    parsed = asn1_x509.Certificate.load(root.public_bytes(Encoding.DER))
    for rdn in parsed["tbs_certificate"]["subject"].chosen:
        for attribute in rdn:
            assert attribute["value"].name == "utf8_string"


def test_document_signing_certificate(store: FileKeyStore) -> None:
    [root] = store.trust_roots()
    certificate = store.document_signing_certificate()
    certificate.verify_directly_issued_by(root)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    extended = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ObjectIdentifier("1.3.6.1.5.5.7.3.36") in extended
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in extended
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=5 * 365) <= lifetime <= timedelta(days=5 * 366)
    assert certificate.not_valid_before_utc <= NOW


def test_pdf_signer_is_built_once(store: FileKeyStore) -> None:
    assert store.pdf_signer() is store.pdf_signer()
    assert store.pdf_signer().certificate == store.document_signing_certificate()


def test_national_id_hasher(
    store: FileKeyStore, key_dir: Path, institution: Institution, tmp_path: Path
) -> None:
    digest = store.national_id_hasher()("0012345679")
    assert len(digest) == 64 and int(digest, 16) >= 0
    reopened = FileKeyStore(key_dir, PASSPHRASE, institution)
    assert reopened.national_id_hasher()("0012345679") == digest
    assert reopened.national_id_hasher()("0012345680") != digest
    other = init_key_store(tmp_path / "other", PASSPHRASE, institution, NOW)
    assert other.national_id_hasher()("0012345679") != digest
    with pytest.raises(KeyStoreError, match="passphrase"):
        FileKeyStore(key_dir, b"wrong", institution).national_id_hasher()


def test_keys_readable_by_others_are_refused(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    entry = store.entries()[0]
    os.chmod(key_dir / key_file_name(entry), 0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        FileKeyStore(key_dir, PASSPHRASE, institution).signer()


def test_swapped_record_key_file_is_refused(
    store: FileKeyStore, key_dir: Path, institution: Institution
) -> None:
    entry = store.entries()[0]
    path = key_dir / key_file_name(entry)
    path.unlink()
    from diplomas.keys._files import write_new_file
    from diplomas.keys.store import _encrypt

    write_new_file(path, _encrypt(Ed25519PrivateKey.generate(), PASSPHRASE))
    with pytest.raises(KeyStoreError, match="does not hold the key"):
        FileKeyStore(key_dir, PASSPHRASE, institution).signer()


def test_opening_a_missing_store(tmp_path: Path, institution: Institution) -> None:
    with pytest.raises(KeyStoreError, match="diplomas init"):
        FileKeyStore(tmp_path / "nothing", PASSPHRASE, institution)


def test_naive_time_is_refused(key_dir: Path, institution: Institution) -> None:
    with pytest.raises(ValueError, match="time zone"):
        init_key_store(key_dir, PASSPHRASE, institution, NOW.replace(tzinfo=None))
    assert not key_dir.exists()


def test_damaged_metadata(store: FileKeyStore, key_dir: Path, institution: Institution) -> None:
    (key_dir / "record-keys.json").write_bytes(b"{not json")
    with pytest.raises(KeyStoreError, match="not valid JSON"):
        FileKeyStore(key_dir, PASSPHRASE, institution).keyring()


def test_private_keys_are_decrypted_once(
    store: FileKeyStore, key_dir: Path, institution: Institution, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization

    calls: list[bytes] = []
    real = serialization.load_pem_private_key

    def counting(data: bytes, password: bytes | None, *args: object, **kwargs: object) -> object:
        calls.append(data)
        return real(data, password)

    monkeypatch.setattr(serialization, "load_pem_private_key", counting)
    fresh = FileKeyStore(key_dir, PASSPHRASE, institution)
    assert calls == []  # opening reads public metadata only
    for _ in range(3):
        fresh.signer().sign(b"x")
        fresh.pdf_signer()
    assert len(calls) == 2  # the record key and the document-signing key, once each
