"""A CA-issued document-signing certificate brought into the key store: what is checked
before, what is stored, and that what was signed before keeps verifying."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from certauthority import MadeCA, institution_subject, key_pem, make_ca, pem, pkcs12_file
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID
from pdfsign.conftest import make_unsigned_pdf

from diplomas.core.errors import InvalidInput, KeyStoreError
from diplomas.keys import FileKeyStore
from diplomas.keys.importing import check_certificate, read_pem, read_pkcs12
from diplomas.keys.signing import LIST_FILE, certificate_id
from diplomas.pdfsign import PadesValidator

from .conftest import NOW, PASSPHRASE

CA_NOW = NOW  # the CA issues at the same (fixed) moment the store was made


@pytest.fixture(scope="module")
def ca() -> MadeCA:
    return make_ca(CA_NOW)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _refusal(excinfo: pytest.ExceptionInfo[InvalidInput]) -> str:
    [problem] = excinfo.value.problems
    return f"{problem.field}: {problem.message}"


def test_import_makes_the_ca_certificate_current_and_keeps_the_old_root(
    store: FileKeyStore, key_dir: Path, ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    self_made = store.document_signing_certificate()
    [own_root] = store.trust_roots()
    unsigned = make_unsigned_pdf()
    before = store.pdf_signer().sign(unsigned, b"{}")

    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    checked = check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    entry = store.import_certificate(checked)

    assert store.document_signing_certificate() == certificate
    assert store.trust_roots() == [own_root, ca.root]
    listed = store.signing_certificates()
    assert [e.source for e in listed.entries] == ["self-made", "imported"]
    assert listed.current() == entry and listed.entries[0].sha256 != entry.sha256
    assert entry.serial == format(certificate.serial_number, "x")
    assert "OU=Vice-Chancellery for Research and Technology" in entry.subject

    # new files only, all private; the key encrypted with the store's passphrase
    for name in (entry.key_file, entry.certificate_file, entry.chain_file, entry.root_file):
        assert name is not None
        assert stat.S_IMODE((key_dir / name).stat().st_mode) == 0o600
    stored_key = (key_dir / entry.key_file).read_bytes()
    assert b"ENCRYPTED PRIVATE KEY" in stored_key
    assert load_pem_private_key(stored_key, PASSPHRASE).public_key() == rsa_key.public_key()
    assert x509.load_pem_x509_certificates((key_dir / entry.chain_file).read_bytes()) == [
        ca.intermediate
    ]
    assert (key_dir / "document-signing.pem").read_bytes() == pem(self_made)
    document = json.loads((key_dir / LIST_FILE).read_bytes())
    assert document["format"] == "diplomas-signing-certificates" and document["version"] == 1
    assert document["current"] == entry.cert_id

    # a store opened afterwards signs with the imported certificate; both PDFs verify
    reopened = FileKeyStore(key_dir, PASSPHRASE, store.institution)
    after = reopened.pdf_signer().sign(unsigned, b"{}")
    assert reopened.pdf_signer().certificate == certificate
    # pyHanko stamps signatures with the real clock, so they are checked at the real time
    validator = PadesValidator(issuers={store.institution.did: reopened.trust_roots()})
    for pdf in (before, after):
        [check] = validator.inspect(pdf).signatures
        assert check.ok and store.institution.did in check.issuers, check


def test_the_same_certificate_twice_is_refused(
    store: FileKeyStore, ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    checked = check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    store.import_certificate(checked)
    with pytest.raises(KeyStoreError, match="is in the store already"):
        store.import_certificate(checked)


def test_a_swapped_certificate_file_is_refused(
    store: FileKeyStore, key_dir: Path, ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    entry = store.import_certificate(
        check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    )
    other = ca.issue(rsa_key.public_key(), CA_NOW)  # same key, another certificate
    path = key_dir / entry.certificate_file
    path.chmod(0o600)
    path.write_bytes(pem(other))
    reopened = FileKeyStore(key_dir, PASSPHRASE, store.institution)
    with pytest.raises(KeyStoreError, match="is not the certificate that"):
        reopened.pdf_signer()


def test_pkcs12_and_pem_give_the_same_checked_certificate(
    ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    # a PKCS#12 file lists its CA certificates in any order
    key, certificates = read_pkcs12(
        pkcs12_file(rsa_key, certificate, [ca.root, ca.intermediate], b"secret"), b"secret"
    )
    from_p12 = check_certificate(key, certificates, None, NOW)
    key, certificates = read_pem(
        key_pem(rsa_key, b"pem secret"), pem(certificate, ca.intermediate), b"pem secret"
    )
    from_pem = check_certificate(key, certificates, ca.root, NOW)
    for checked in (from_p12, from_pem):
        assert checked.certificate == certificate
        assert checked.intermediates == (ca.intermediate,) and checked.root == ca.root


# -- refusals, one sentence each -----------------------------------------------------------


def _check(ca: MadeCA, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **issue: object) -> str:
    certificate = ca.issue(key.public_key(), CA_NOW, **issue)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(key, [certificate, ca.intermediate, ca.root], None, NOW)
    return _refusal(excinfo)


def test_refused_key_that_is_not_the_certificates(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(other.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    assert _refusal(excinfo) == "key: the private key does not belong to the certificate"


def test_refused_without_digital_signature_usage(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    encipherment_only = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    assert _check(ca, rsa_key, key_usage=encipherment_only) == (
        "certificate: the certificate's key usage does not allow digital signatures"
    )


def test_refused_for_tls_only(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _check(ca, rsa_key, extended=[ExtendedKeyUsageOID.SERVER_AUTH]) == (
        "certificate: the certificate's extended key usage does not allow signing documents "
        "(it needs document signing or email protection)"
    )


def test_refused_when_expired(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    refusal = _check(ca, rsa_key, start=timedelta(days=-400))
    assert refusal.startswith("certificate: the certificate expired on 2026-10-")


def test_refused_when_not_valid_yet(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    refusal = _check(ca, rsa_key, start=timedelta(days=2))
    assert refusal.startswith("certificate: the certificate is not valid yet (from 2026-11-28")


def test_refused_ca_certificate_as_signer(ca: MadeCA) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(ca.intermediate_key, [ca.intermediate, ca.root], None, NOW)
    assert _refusal(excinfo) == (
        "certificate: the certificate is a CA certificate, not one for signing"
    )


def test_refused_without_the_root(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(rsa_key, [certificate, ca.intermediate], None, NOW)
    assert _refusal(excinfo) == (
        "chain: the chain does not reach a CA root: nothing given issued "
        "CN=Test Trust Services Signing CA,O=Test Trust Services,C=IR (its issuer is "
        "CN=Test Trust Services Root CA,O=Test Trust Services,C=IR); add the CA's "
        "certificates to the chain, or give its root with --root"
    )


def test_refused_with_another_cas_root(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    """Same names, other keys: the chain is followed by signature, not by name."""
    impostor = make_ca(CA_NOW)
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(rsa_key, [certificate, impostor.intermediate, impostor.root], None, NOW)
    assert _refusal(excinfo).startswith(
        "chain: the chain does not reach a CA root: nothing given issued "
        "CN=Tabriz University of Medical Sciences Diplomas"
    )


def test_refused_when_an_end_entity_issued_the_certificate(
    ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    """A certificate "issued" by another signing certificate's key: not a CA."""
    middle_key = ec.generate_private_key(ec.SECP256R1())
    middle = ca.issue(middle_key.public_key(), CA_NOW, subject=_named("Not A CA"))
    fake_ca = MadeCA(ca.root_key, ca.root, middle_key, middle)
    certificate = fake_ca.issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(rsa_key, [certificate, middle, ca.intermediate, ca.root], None, NOW)
    assert _refusal(excinfo) == (
        "chain: CN=Not A CA issued a certificate but is not a CA certificate"
    )


def _named(common_name: str) -> x509.Name:
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def test_refused_wrong_pkcs12_password(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    data = pkcs12_file(rsa_key, certificate, [ca.intermediate, ca.root], b"right")
    with pytest.raises(InvalidInput) as excinfo:
        read_pkcs12(data, b"wrong")
    assert _refusal(excinfo) == (
        "p12: the PKCS#12 file cannot be opened: the password is wrong or it is not PKCS#12"
    )


def test_refused_encrypted_key_without_password(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        read_pem(key_pem(rsa_key, b"secret"), pem(certificate), None)
    assert _refusal(excinfo) == (
        "key: the key file is encrypted: give its password with --password-stdin or "
        "DIPLOMAS_P12_PASSWORD"
    )


@pytest.mark.parametrize(
    ("key", "refusal"),
    [
        (
            rsa.generate_private_key(public_exponent=65537, key_size=1024),
            "key: the key is RSA of 1024 bits; at least 2048 are needed",
        ),
        (
            ec.generate_private_key(ec.SECP521R1()),
            "key: the key is ECDSA on secp521r1; P-256 or P-384 are supported",
        ),
    ],
    ids=["rsa-1024", "p521"],
)
def test_refused_keys_the_signer_cannot_use(
    ca: MadeCA, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, refusal: str
) -> None:
    certificate = ca.issue(key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        read_pem(key_pem(key), pem(certificate, ca.intermediate, ca.root), None)
    assert _refusal(excinfo) == refusal


def test_subject_of_the_test_ca_holds_the_full_name() -> None:
    """The subject the tests' CA issues: the institution's whole name, unit and organization."""
    subject = institution_subject().rfc4514_string()
    assert "OU=Vice-Chancellery for Research and Technology" in subject
    assert "O=Tabriz University of Medical Sciences" in subject


def test_only_the_registered_certificate_speaks_for_the_institution(
    store: FileKeyStore, ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The CA issues certificates to others too: one of theirs, under the same root and
    with the institution's very name, is not the institution's signature, in the store's
    validator or in a trust bundle exported from it."""
    from diplomas.keys import load_bundle
    from diplomas.pdfsign import PadesSigner

    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    store.import_certificate(
        check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    )
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = PadesSigner(
        stranger_key,
        ca.issue(stranger_key.public_key(), CA_NOW),
        [ca.intermediate, ca.root],
    )
    ours, theirs = (s.sign(make_unsigned_pdf(), b"{}") for s in (store.pdf_signer(), stranger))

    bundle = load_bundle(json.dumps(store.export_bundle()).encode())
    assert bundle.ca_issued == ((ca.root, certificate),)
    did = store.institution.did
    for validator in (
        PadesValidator(issuers={did: store.trust_roots()}, ca_issued={did: store.ca_issued()}),
        PadesValidator(issuers={did: bundle.trust_roots()}, ca_issued={did: bundle.ca_issued}),
    ):
        [check] = validator.inspect(ours).signatures
        assert check.ok, check
        [check] = validator.inspect(theirs).signatures
        assert check.reasons == (
            "signed by a certificate that the institution's CA issued, but not one that the "
            "institution registered (signer: Tabriz University of Medical Sciences Diplomas, "
            "Vice-Chancellery for Research and Technology, Tabriz University of Medical "
            "Sciences)",
        ), check


def test_refused_pkcs12_without_a_key(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    data = pkcs12.serialize_key_and_certificates(
        b"x", None, certificate, [ca.root], BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidInput) as excinfo:
        read_pkcs12(data, b"pw")
    assert _refusal(excinfo) == "p12: the PKCS#12 file holds no private key"


def test_refused_password_for_a_plain_key(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        read_pem(key_pem(rsa_key), pem(certificate), b"unneeded")
    assert _refusal(excinfo) == "key: the key file is not encrypted, but a password was given"


def test_refused_chain_without_certificates(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        read_pem(key_pem(rsa_key), b"not a certificate\n", None)
    assert _refusal(excinfo) == "chain: the chain file holds no PEM certificate"


def test_refused_deeper_chain_than_the_ca_allows(ca: MadeCA, rsa_key: rsa.RSAPrivateKey) -> None:
    """The intermediate may issue end-entity certificates only (path length 0)."""
    from certauthority import ca_certificate

    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = ca_certificate(
        _named("Sub CA"), sub_key, ca.intermediate.subject, ca.intermediate_key, CA_NOW, 0
    )
    certificate = MadeCA(ca.root_key, ca.root, sub_key, sub).issue(rsa_key.public_key(), CA_NOW)
    with pytest.raises(InvalidInput) as excinfo:
        check_certificate(rsa_key, [certificate, sub, ca.intermediate, ca.root], None, NOW)
    assert _refusal(excinfo) == (
        "chain: CN=Test Trust Services Signing CA,O=Test Trust Services,C=IR may not have "
        "1 CA certificate(s) below it"
    )


def test_a_file_left_by_an_interrupted_import_is_not_overwritten(
    store: FileKeyStore, key_dir: Path, ca: MadeCA, rsa_key: rsa.RSAPrivateKey
) -> None:
    certificate = ca.issue(rsa_key.public_key(), CA_NOW)
    checked = check_certificate(rsa_key, [certificate, ca.intermediate, ca.root], None, NOW)
    left = key_dir / f"document-signing-{certificate_id(certificate)}.pem"
    left.write_bytes(b"left over")
    with pytest.raises(KeyStoreError, match="left by an interrupted import"):
        store.import_certificate(checked)
    assert left.read_bytes() == b"left over"
    assert not left.with_name(left.name.replace(".pem", ".key.pem")).exists()
    assert len(store.signing_certificates().entries) == 1
