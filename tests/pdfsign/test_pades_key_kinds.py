"""Signing with the keys CAs issue: RSA (PKCS#1 v1.5, SHA-256), ECDSA P-256 and P-384.

The CA is made in the test (root, intermediate, document-signing certificate); pyHanko's
own validation and the strict validator both check the result.
"""

from __future__ import annotations

import binascii
import io
import re
from datetime import UTC, datetime

import pytest
from asn1crypto import algos as asn1_algos
from asn1crypto import cms as asn1_cms
from certauthority import MadeCA, make_ca
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from diplomas.pdfsign import PadesSigner, PadesValidator
from diplomas.pdfsign.signer import to_asn1

from .conftest import RECORD, failed

NOW = datetime.now(UTC)
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def ca() -> MadeCA:
    return make_ca(NOW)


def _key(kind: str) -> SigningKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1() if kind == "p256" else ec.SECP384R1())


def _signed(ca: MadeCA, key: SigningKey, unsigned_pdf: bytes) -> bytes:
    certificate = ca.issue(key.public_key(), NOW)
    signer = PadesSigner(key, certificate, [ca.intermediate, ca.root], signer_name="Tabriz")
    return signer.sign(unsigned_pdf, RECORD)


@pytest.fixture(scope="module")
def rsa_pdf(ca: MadeCA, unsigned_pdf: bytes) -> bytes:
    return _signed(ca, _key("rsa"), unsigned_pdf)


@pytest.mark.parametrize(
    ("kind", "algorithm", "digest"),
    [
        ("rsa", "sha256_rsa", "sha256"),
        ("p256", "sha256_ecdsa", "sha256"),
        ("p384", "sha384_ecdsa", "sha384"),
    ],
)
def test_each_key_kind_signs_what_both_validators_accept(
    ca: MadeCA, unsigned_pdf: bytes, kind: str, algorithm: str, digest: str
) -> None:
    pdf = _signed(ca, _key(kind), unsigned_pdf)
    [embedded] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert embedded.signer_info["signature_algorithm"]["algorithm"].native == algorithm
    assert embedded.md_algorithm == digest
    context = ValidationContext(trust_roots=[to_asn1(ca.root)], allow_fetching=False)
    status = validate_pdf_signature(embedded, signer_validation_context=context)
    assert status.bottom_line and status.trusted
    # the intermediate travels in the signature (verifiers bring the root only)
    carried = {c.chosen.dump() for c in embedded.signed_data["certificates"]}
    assert to_asn1(ca.intermediate).dump() in carried and to_asn1(ca.root).dump() not in carried
    report = PadesValidator([ca.root]).inspect(pdf)
    assert not failed(report), report
    assert report.signatures[0].signer == (
        "Tabriz University of Medical Sciences Diplomas, "
        "Vice-Chancellery for Research and Technology, Tabriz University of Medical Sciences"
    )


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ec.generate_private_key(ec.SECP521R1()),
    ],
    ids=["rsa-1024", "p521"],
)
def test_other_keys_are_refused(ca: MadeCA, key: SigningKey) -> None:
    certificate = ca.issue(key.public_key(), NOW)
    with pytest.raises(ValueError, match="RSA \\(2048 bits or more\\) or ECDSA P-256 or P-384"):
        PadesSigner(key, certificate, [ca.intermediate, ca.root])


def _with_signer_info(pdf: bytes, change: object) -> bytes:
    """`pdf` with its CMS SignerInfo changed by `change` and written back in place."""
    byte_range = [int(v) for v in re.findall(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", pdf)[-1]]
    start, end = byte_range[1] + 1, byte_range[2] - 1
    content_info = asn1_cms.ContentInfo.load(binascii.unhexlify(pdf[start:end]))
    change(content_info["content"]["signer_infos"][0])  # type: ignore[operator]
    new_hex = binascii.hexlify(content_info.dump(force=True)).upper()
    return pdf[:start] + new_hex + b"0" * (end - start - len(new_hex)) + pdf[end:]


def test_rsa_signature_longer_than_the_key_is_refused(ca: MadeCA, rsa_pdf: bytes) -> None:
    def pad(signer_info: asn1_cms.SignerInfo) -> None:
        signer_info["signature"] = b"\x00" + signer_info["signature"].native

    report = PadesValidator([ca.root]).inspect(_with_signer_info(rsa_pdf, pad))
    assert (
        "the signature value is not in the form this service's signer writes "
        "(an RSA signature as long as its key)"
    ) in report.signatures[0].reasons, report


def test_rsa_signature_under_another_algorithm_name_is_refused(ca: MadeCA, rsa_pdf: bytes) -> None:
    """rsaEncryption with SHA-256 is the same signature under another name; the signer
    writes sha256WithRSAEncryption only."""

    def rename(signer_info: asn1_cms.SignerInfo) -> None:
        signer_info["signature_algorithm"] = asn1_algos.SignedDigestAlgorithm(
            {"algorithm": "rsassa_pkcs1v15"}
        )

    report = PadesValidator([ca.root]).inspect(_with_signer_info(rsa_pdf, rename))
    assert any("never writes" in r for r in report.signatures[0].reasons), report
