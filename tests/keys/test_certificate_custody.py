"""The document-signing certificate over its life, with the root kept offline: renewing it
(with the root in the store, or brought in for one command), distrusting it from a
moment, and what verifiers make of a signature by a distrusted certificate."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from pdfsign.conftest import RECORD, failed, make_unsigned_pdf
from pyhanko.sign.signers import pdf_signer as pyhanko_pdf_signer

from diplomas.core.errors import Conflict, KeyStoreError, NotFound
from diplomas.core.model import Institution
from diplomas.keys import FileKeyStore, init_key_store, load_bundle
from diplomas.keys.distrust import DistrustedCertificate
from diplomas.keys.offline_root import open_root
from diplomas.keys.signing import LIST_FILE
from diplomas.keys.store import ROOT_CERT_FILE, ROOT_KEY_FILE
from diplomas.pdfsign import PadesSigner, PadesValidator
from diplomas.pdfsign.signatures import signatures_in

from .conftest import PASSPHRASE

ROOT_PASSPHRASE = b"a different, long root passphrase"


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def live_store(key_dir: Path, institution: Institution) -> FileKeyStore:
    """A store made at the real time: pyHanko stamps signatures with the real clock."""
    return init_key_store(key_dir, PASSPHRASE, institution, now())


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != ".lock"}


def validator_for(store: FileKeyStore) -> PadesValidator:
    """The validator as the server builds it for this one institution."""
    did = store.institution.did
    return PadesValidator(
        issuers={did: store.trust_roots()},
        ca_issued={did: store.ca_issued()},
        distrusted={did: store.distrusted_certificates()},
    )


@contextmanager
def claimed_time(moment: datetime) -> Iterator[None]:
    """pyHanko's clock set to `moment` while signing: what a thief holding the key does
    to make a signature claim an earlier time (the signing-time attribute and /M)."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Clock:  # type: ignore[override]
            return cls.fromtimestamp(moment.timestamp(), tz=UTC)

    real = pyhanko_pdf_signer.datetime
    pyhanko_pdf_signer.datetime = Clock  # type: ignore[misc]
    try:
        yield
    finally:
        pyhanko_pdf_signer.datetime = real  # type: ignore[misc]


# -- renewing -------------------------------------------------------------------------


def test_renew_with_the_root_in_the_store(live_store: FileKeyStore, key_dir: Path) -> None:
    first = live_store.signing_certificates().current()
    old_pdf = live_store.pdf_signer().sign(make_unsigned_pdf(), RECORD)

    entry = live_store.renew_certificate(now())

    listed = live_store.signing_certificates()
    assert [e.cert_id for e in listed.entries] == [first.cert_id, entry.cert_id]
    assert listed.current() == entry and entry.source == "self-made"
    assert entry.root_file == ROOT_CERT_FILE and entry.serial != first.serial
    for name in (entry.key_file, entry.certificate_file):
        assert stat.S_IMODE((key_dir / name).stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (key_dir / entry.key_file).read_bytes()
    # a store opened afresh signs with the new certificate; both PDFs verify
    reopened = FileKeyStore(key_dir, PASSPHRASE, live_store.institution)
    assert reopened.document_signing_certificate().serial_number == int(entry.serial, 16)
    new_pdf = reopened.pdf_signer().sign(make_unsigned_pdf(), RECORD)
    for pdf in (old_pdf, new_pdf):
        assert not failed(validator_for(reopened).inspect(pdf))


def test_export_root_moves_the_key_out_only_after_reading_it_back(
    live_store: FileKeyStore, key_dir: Path, tmp_path: Path
) -> None:
    root_certificate = x509.load_pem_x509_certificate((key_dir / ROOT_CERT_FILE).read_bytes())
    out = tmp_path / "usb" / "root.json"
    out.parent.mkdir()

    live_store.export_root(out, ROOT_PASSPHRASE)

    assert not (key_dir / ROOT_KEY_FILE).exists() and (key_dir / ROOT_CERT_FILE).exists()
    assert live_store.root_is_offline()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in out.read_bytes()  # only ciphertext and the certificate
    root = open_root(out.read_bytes(), ROOT_PASSPHRASE, str(out))
    assert root.certificate == root_certificate
    assert "PRIVATE" not in repr(root)
    # the signing key still signs, and what it signs verifies under the same root
    pdf = live_store.pdf_signer().sign(make_unsigned_pdf(), RECORD)
    assert not failed(validator_for(live_store).inspect(pdf))
    # a second export has nothing to move, and never writes over a file
    with pytest.raises(KeyStoreError, match="offline already"):
        live_store.export_root(tmp_path / "again.json", ROOT_PASSPHRASE)
    assert not (tmp_path / "again.json").exists()


def test_export_root_refuses_a_weak_or_shared_passphrase_and_an_existing_file(
    live_store: FileKeyStore, key_dir: Path, tmp_path: Path
) -> None:
    before = snapshot(key_dir)
    with pytest.raises(KeyStoreError, match="shorter than"):
        live_store.export_root(tmp_path / "a.json", b"short")
    with pytest.raises(KeyStoreError, match="key store's passphrase"):
        live_store.export_root(tmp_path / "b.json", PASSPHRASE)
    taken = tmp_path / "taken.json"
    taken.write_bytes(b"someone's file")
    with pytest.raises(KeyStoreError, match="exists already"):
        live_store.export_root(taken, ROOT_PASSPHRASE)
    assert taken.read_bytes() == b"someone's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys", "taken.json"]
    assert snapshot(key_dir) == before


def test_renew_with_the_root_offline_needs_the_root_and_its_passphrase(
    live_store: FileKeyStore, key_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "root.json"
    live_store.export_root(out, ROOT_PASSPHRASE)
    before = snapshot(key_dir)

    with pytest.raises(KeyStoreError, match=r"kept offline.*--root FILE"):
        live_store.renew_certificate(now())
    with pytest.raises(KeyStoreError, match="passphrase does not open"):
        open_root(out.read_bytes(), b"not the root passphrase", str(out))
    with pytest.raises(KeyStoreError, match="passphrase does not open"):
        open_root(out.read_bytes(), PASSPHRASE, str(out))  # the store's is not the root's
    # another institution's root is not this store's
    other_dir = tmp_path / "other"
    other = init_key_store(other_dir, PASSPHRASE, live_store.institution, now())
    other.export_root(tmp_path / "other-root.json", ROOT_PASSPHRASE)
    foreign = open_root((tmp_path / "other-root.json").read_bytes(), ROOT_PASSPHRASE, "other")
    with pytest.raises(KeyStoreError, match="not this store's root"):
        live_store.renew_certificate(now(), foreign)
    assert snapshot(key_dir) == before

    root = open_root(out.read_bytes(), ROOT_PASSPHRASE, str(out))
    entry = live_store.renew_certificate(now(), root)
    assert live_store.signing_certificates().current() == entry
    assert not (key_dir / ROOT_KEY_FILE).exists()  # the root did not stay behind


def test_a_damaged_root_file_is_refused_in_plain_words(
    live_store: FileKeyStore, tmp_path: Path
) -> None:
    out = tmp_path / "root.json"
    live_store.export_root(out, ROOT_PASSPHRASE)
    document = json.loads(out.read_bytes())
    document["ciphertext"] = document["ciphertext"][:-8] + "AAAAAAA="
    with pytest.raises(KeyStoreError, match=r"passphrase is wrong .* or the file was altered"):
        open_root(json.dumps(document).encode(), ROOT_PASSPHRASE, "root.json")
    document = json.loads(out.read_bytes())
    for n, r in ((2**30, 8), (2**20, 16)):  # a file asking for 1 TiB, or 2 GiB, of memory
        document["kdf"]["n"], document["kdf"]["r"] = n, r
        with pytest.raises(KeyStoreError, match="damaged"):
            open_root(json.dumps(document).encode(), ROOT_PASSPHRASE, "root.json")
    with pytest.raises(KeyStoreError, match="not an offline root file"):
        open_root(b'{"format": "diplomas-trust-bundle", "version": 1}', ROOT_PASSPHRASE, "x")
    pem = (live_store.directory / "root-ca.pem").read_bytes()  # the public half, by mistake
    with pytest.raises(KeyStoreError, match=r"is a PEM file .*, not an offline root file"):
        open_root(pem, ROOT_PASSPHRASE, "root-ca.pem")


def test_init_with_an_offline_root_never_writes_the_root_key_to_the_store(
    key_dir: Path, institution: Institution, tmp_path: Path
) -> None:
    out = tmp_path / "root.json"
    store = init_key_store(
        key_dir, PASSPHRASE, institution, now(), offline_root=(out, ROOT_PASSPHRASE)
    )
    assert sorted(os.listdir(key_dir)) == sorted(
        [
            ".lock",
            "document-signing.key.pem",
            "document-signing.pem",
            "national-id-secret.json",
            "record-keys.json",
            f"record-key-{store.entries()[0].key_id}.pem",
            ROOT_CERT_FILE,
        ]
    )
    root = open_root(out.read_bytes(), ROOT_PASSPHRASE, str(out))
    assert root.certificate == store.trust_roots()[0]
    store.document_signing_certificate().verify_directly_issued_by(root.certificate)
    # a second init finds everything and leaves the root where it is
    again = init_key_store(key_dir, PASSPHRASE, institution, now())
    assert again.root_is_offline()


def test_init_with_an_offline_root_moves_a_root_already_in_the_store(
    live_store: FileKeyStore, key_dir: Path, institution: Institution, tmp_path: Path
) -> None:
    root = live_store.trust_roots()[0]
    out = tmp_path / "root.json"
    again = init_key_store(
        key_dir, PASSPHRASE, institution, now(), offline_root=(out, ROOT_PASSPHRASE)
    )
    assert again.root_is_offline() and not (key_dir / ROOT_KEY_FILE).exists()
    assert open_root(out.read_bytes(), ROOT_PASSPHRASE, str(out)).certificate == root
    # once offline, a further init with the option writes no second file
    other = tmp_path / "second.json"
    init_key_store(key_dir, PASSPHRASE, institution, now(), offline_root=(other, ROOT_PASSPHRASE))
    assert not other.exists()


# -- distrusting ----------------------------------------------------------------------


def test_distrust_refuses_the_current_certificate_and_a_later_time(
    live_store: FileKeyStore, key_dir: Path
) -> None:
    first = live_store.signing_certificates().current()
    with pytest.raises(Conflict, match="signs PDFs now: make a new one first"):
        live_store.distrust_certificate(first.cert_id, now(), now())
    with pytest.raises(NotFound, match="no document-signing certificate 'dsc-0000"):
        live_store.distrust_certificate("dsc-0000000000000000", now(), now())
    live_store.renew_certificate(now())
    since = now() - timedelta(minutes=5)
    # by serial, as `openssl x509 -serial` prints it (upper case, colons)
    serial = ":".join(
        first.serial.upper().zfill(len(first.serial) + len(first.serial) % 2)[i : i + 2]
        for i in range(0, len(first.serial) + len(first.serial) % 2, 2)
    )
    entry = live_store.distrust_certificate(serial, since, now(), "key   copied\nto a USB stick")
    assert entry.cert_id == first.cert_id
    assert entry.distrusted_since == since.replace(microsecond=0)
    assert entry.distrust_reason == "key copied to a USB stick"
    with pytest.raises(Conflict, match="already distrusted since"):
        live_store.distrust_certificate(first.cert_id, now(), now())
    earlier = live_store.distrust_certificate(first.cert_id, since - timedelta(days=1), now())
    assert earlier.distrusted_since == (since - timedelta(days=1)).replace(microsecond=0)
    with pytest.raises(Exception, match="in the future"):
        live_store.distrust_certificate(first.cert_id, now() + timedelta(hours=1), now())

    document = json.loads((key_dir / LIST_FILE).read_bytes())
    [distrusted] = [c for c in document["certificates"] if "distrusted_since" in c]
    assert distrusted["id"] == first.cert_id and distrusted["distrust_reason"]
    reopened = FileKeyStore(key_dir, PASSPHRASE, live_store.institution)
    [listed] = reopened.distrusted_certificates()
    assert listed.serial == int(first.serial, 16) and listed.since == earlier.distrusted_since


def test_a_list_that_distrusts_the_current_certificate_is_refused(
    live_store: FileKeyStore, key_dir: Path
) -> None:
    live_store.renew_certificate(now())
    document = json.loads((key_dir / LIST_FILE).read_bytes())
    document["certificates"][1]["distrusted_since"] = "2026-01-01T00:00:00Z"
    (key_dir / LIST_FILE).write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match=r"current certificate .* is distrusted"):
        live_store.signing_certificates()


def test_the_bundle_carries_the_distrust_and_its_loader_checks_it(
    live_store: FileKeyStore,
) -> None:
    first = live_store.signing_certificates().current()
    live_store.renew_certificate(now())
    live_store.distrust_certificate(
        first.cert_id, now(), now(), "stolen", vouched=lambda _: ["ab" * 32, "cd" * 32]
    )
    exported = live_store.export_bundle()
    [item] = exported["distrusted_certificates"]
    assert item["serial"] == first.serial and item["issuer"] == first.issuer
    assert item["sha256"] == first.sha256 and item["reason"] == "stolen"
    assert item["vouched_signatures"] == ["ab" * 32, "cd" * 32]
    loaded = load_bundle(json.dumps(exported).encode())
    assert loaded.distrusted == live_store.distrusted_certificates()
    assert loaded.distrusted[0].vouched == {"ab" * 32, "cd" * 32}

    for field, value, message in (
        ("serial", "not hex", "serial must be the serial number in hex"),
        ("issuer", "", "issuer must name the issuing CA"),
        ("since", "yesterday", "since must be a time with a time zone"),
        ("since", "2026-01-01T00:00:00", "since must be a time with a time zone"),
        ("sha256", "abc", "sha256 must be 64 hex digits"),
        ("vouched_signatures", ["abc"], "must be a list of SHA-256 digests"),
        ("vouched_signatures", "0" * 64, "must be a list of SHA-256 digests"),
    ):
        broken = json.loads(json.dumps(exported))
        broken["distrusted_certificates"][0][field] = value
        with pytest.raises(KeyStoreError, match=message):
            load_bundle(json.dumps(broken).encode())
    broken = {**exported, "distrusted_certificates": {"serial": "1"}}
    with pytest.raises(KeyStoreError, match="distrusted_certificates must be a list"):
        load_bundle(json.dumps(broken).encode())


def test_a_distrusted_certificates_signature_fails_whatever_time_it_claims(
    live_store: FileKeyStore,
) -> None:
    stolen: PadesSigner = live_store.pdf_signer()
    first = live_store.signing_certificates().current()
    genuine = stolen.sign(make_unsigned_pdf("The office's own diploma"), RECORD)
    unlisted = stolen.sign(make_unsigned_pdf("Another one, not kept"), RECORD)
    live_store.renew_certificate(now())
    since = now() - timedelta(seconds=1)
    live_store.distrust_certificate(
        first.cert_id, since, now(), "stolen", vouched=lambda _: [signatures_in(genuine)[0].digest]
    )

    # the thief signs now, claiming a time before the distrust (the certificate was
    # valid then, so without the distrust this signature would pass)
    with claimed_time(since - timedelta(minutes=20)):
        forged = stolen.sign(make_unsigned_pdf("A page the institution never made"), RECORD)
    trusting = PadesValidator(live_store.trust_roots())
    assert not failed(trusting.inspect(forged))  # a perfect signature, as far as PKI goes
    report = validator_for(live_store).inspect(forged)
    [check] = report.signatures
    [reason] = check.reasons
    assert "distrusts since" in reason and "(stolen)" in reason
    assert "no timestamp" in reason and "the time the PDF itself claims does not count" in reason

    # what the office vouched for (a diploma its server stored) keeps verifying; a
    # signature of the same certificate that it did not list needs a timestamp
    assert not failed(validator_for(live_store).inspect(genuine))
    [check] = validator_for(live_store).inspect(unlisted).signatures
    assert any("distrusts since" in r for r in check.reasons)

    # the certificate that signs now is not touched by it
    fresh = live_store.pdf_signer().sign(make_unsigned_pdf(), RECORD)
    assert not failed(validator_for(live_store).inspect(fresh))


def test_an_institution_distrusts_only_its_own_certificates(
    live_store: FileKeyStore, tmp_path: Path
) -> None:
    """A distrust speaks for the institution that made it, like its roots: another
    institution's bundle naming this one's certificate silences nothing."""
    from dataclasses import replace

    other = init_key_store(
        tmp_path / "other",
        PASSPHRASE,
        replace(live_store.institution, slug="other", public_url="https://other.example.org"),
        now(),
    )
    pdf = live_store.pdf_signer().sign(make_unsigned_pdf(), RECORD)
    certificate = live_store.document_signing_certificate()
    named = DistrustedCertificate(
        certificate.serial_number, certificate.issuer.rfc4514_string(), now() - timedelta(days=1)
    )
    ours, theirs = live_store.institution.did, other.institution.did
    issuers = {ours: live_store.trust_roots(), theirs: other.trust_roots()}

    by_the_other = PadesValidator(issuers=issuers, distrusted={theirs: [named]})
    assert not failed(by_the_other.inspect(pdf))
    by_its_own = PadesValidator(issuers=issuers, distrusted={ours: [named]})
    [check] = by_its_own.inspect(pdf).signatures
    assert any("distrusts since" in r for r in check.reasons)


def test_a_ca_issued_certificate_is_distrusted_the_same_way(live_store: FileKeyStore) -> None:
    """An imported certificate is named by its CA's issuer name and serial like any other;
    the office renews a self-made one to sign meanwhile, then distrusts the CA's."""
    from certauthority import make_ca
    from cryptography.hazmat.primitives.asymmetric import ec

    from diplomas.keys.importing import check_certificate

    ca = make_ca(now() - timedelta(hours=1))
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(key.public_key(), now() - timedelta(hours=1))
    imported = live_store.import_certificate(
        check_certificate(key, [certificate, ca.intermediate, ca.root], None, now())
    )
    signed = live_store.pdf_signer().sign(make_unsigned_pdf(), RECORD)
    assert not failed(validator_for(live_store).inspect(signed))

    with pytest.raises(Conflict, match="signs PDFs now"):
        live_store.distrust_certificate(imported.serial, now(), now())
    live_store.renew_certificate(now())
    entry = live_store.distrust_certificate(imported.serial, now(), now(), "CA key ceremony")
    assert entry.cert_id == imported.cert_id and entry.issuer == imported.issuer
    [check] = validator_for(live_store).inspect(signed).signatures
    assert any("distrusts since" in r and "CA key ceremony" in r for r in check.reasons)
