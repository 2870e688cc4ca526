"""The distrust rule against real RFC 3161 timestamps: a trusted timestamp from before the
distrust proves a signature earlier, an untrusted one or a later one does not.

The signatures are made with pyHanko and its DummyTimeStamper (a time-stamping authority
in the test, with a certificate of its own under a root made here) and validated by
pyHanko; the rule (`distrust_reason`) is then applied to pyHanko's status, as
`PadesValidator` does. The whole validator is not used: it refuses any unsigned attribute
in the CMS envelope until timestamps become part of the signer (another branch)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pdfsign.conftest import make_unsigned_pdf
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from diplomas.core.model import Institution
from diplomas.keys import FileKeyStore, init_key_store
from diplomas.keys.distrust import DistrustedCertificate
from diplomas.pdfsign.signer import to_asn1
from diplomas.pdfsign.validator import distrust_index, distrust_reason

from .conftest import PASSPHRASE

STAMPED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def _tsa() -> tuple[x509.Certificate, x509.Certificate, rsa.RSAPrivateKey]:
    """(TSA root, TSA certificate, TSA key); pyHanko's dummy TSA signs with RSA only."""
    start = datetime.now(UTC) - timedelta(days=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA Root")])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    tsa = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")]))
        .issuer_name(root_name)
        .public_key(tsa_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return root, tsa, tsa_key


@pytest.fixture(scope="module")
def stamped() -> tuple[bytes, FileKeyStore, x509.Certificate]:
    """A PDF signed by a store's certificate with a timestamp made at STAMPED_AT, the
    store, and the TSA's root."""
    import tempfile
    from pathlib import Path

    directory = Path(tempfile.mkdtemp()) / "keys"
    institution = Institution(
        slug="acme",
        name="مؤسسه آموزش کارآفرینی",
        name_en="Acme Entrepreneurship Institute",
        public_url="https://diplomas.example.org",
        serial_prefix="AC",
    )
    store = init_key_store(directory, PASSPHRASE, institution, datetime.now(UTC))
    key_pem = (directory / "document-signing.key.pem").read_bytes()
    signer = signers.SimpleSigner(
        signing_cert=to_asn1(store.document_signing_certificate()),
        signing_key=load_private_key_from_pemder_data(key_pem, PASSPHRASE),
        cert_registry=None,  # type: ignore[arg-type]
    )
    tsa_root, tsa, tsa_key = _tsa()
    tsa_key_info = load_private_key_from_pemder_data(
        tsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        None,
    )
    stamper = DummyTimeStamper(tsa_cert=to_asn1(tsa), tsa_key=tsa_key_info, fixed_dt=STAMPED_AT)
    output = signers.sign_pdf(
        IncrementalPdfFileWriter(BytesIO(make_unsigned_pdf())),
        signers.PdfSignatureMetadata(field_name="Sig"),
        signer=signer,
        timestamper=stamper,
    )
    return output.getvalue(), store, tsa_root


def _status(pdf: bytes, roots: list[x509.Certificate]) -> tuple[PdfSignatureStatus, PdfFileReader]:
    reader = PdfFileReader(BytesIO(pdf))
    [embedded] = reader.embedded_signatures
    context = ValidationContext(
        trust_roots=[to_asn1(r) for r in roots], allow_fetching=False, revocation_mode="soft-fail"
    )
    return validate_pdf_signature(embedded, signer_validation_context=context), reader


def _distrusted_from(store: FileKeyStore, since: datetime) -> DistrustedCertificate:
    certificate = store.document_signing_certificate()
    return DistrustedCertificate(
        certificate.serial_number, certificate.issuer.rfc4514_string(), since
    )


def test_a_trusted_timestamp_before_the_distrust_proves_the_signature_earlier(
    stamped: tuple[bytes, FileKeyStore, x509.Certificate],
) -> None:
    pdf, store, tsa_root = stamped
    status, reader = _status(pdf, [*store.trust_roots(), tsa_root])
    [embedded] = reader.embedded_signatures
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert status.timestamp_validity.timestamp == STAMPED_AT

    later = distrust_index([_distrusted_from(store, STAMPED_AT + timedelta(minutes=1))])
    assert distrust_reason(embedded, status, later) is None

    earlier = distrust_index([_distrusted_from(store, STAMPED_AT - timedelta(minutes=1))])
    reason = distrust_reason(embedded, status, earlier)
    assert reason is not None and "its trusted timestamp" in reason and "is not earlier" in reason


def test_a_timestamp_from_an_authority_not_trusted_proves_nothing(
    stamped: tuple[bytes, FileKeyStore, x509.Certificate],
) -> None:
    pdf, store, _ = stamped
    status, reader = _status(pdf, store.trust_roots())  # the TSA's root is not trusted
    [embedded] = reader.embedded_signatures
    assert status.timestamp_validity is not None and not status.timestamp_validity.trusted
    index = distrust_index([_distrusted_from(store, STAMPED_AT + timedelta(minutes=1))])
    reason = distrust_reason(embedded, status, index)
    assert reason is not None and "not from a trusted time-stamping authority" in reason


def test_another_certificate_with_the_same_serial_is_not_distrusted(
    stamped: tuple[bytes, FileKeyStore, x509.Certificate],
) -> None:
    pdf, store, tsa_root = stamped
    status, reader = _status(pdf, [*store.trust_roots(), tsa_root])
    [embedded] = reader.embedded_signatures
    serial = store.document_signing_certificate().serial_number
    other = DistrustedCertificate(serial, "CN=Some Other CA", STAMPED_AT - timedelta(days=1))
    assert distrust_reason(embedded, status, distrust_index([other])) is None
