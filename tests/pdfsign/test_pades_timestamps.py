"""PAdES B-T and B-LT against trust services run in the test (certomancer over HTTP): a CA
with an OCSP responder and CRLs, and a timestamp authority under a root of its own.

What outside validators say (pyHanko's own validator, poppler's pdfsig with NSS trusting
the CA), what ours says (`proven_time`, the embedded revocation data), and the refusals:
a revoked certificate cannot make a long-term signature, a signature made after the
revocation with a clock set back fails on the embedded data, and a timestamp authority
that does not answer stops the signature with a sentence naming it.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
import tsa
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from certauthority import nss_database
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import pdf_signer as pyhanko_pdf_signer
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from diplomas.core.errors import ConfigurationError
from diplomas.keys import MemoryKeyStore
from diplomas.keys.distrust import DistrustedCertificate
from diplomas.pdfsign import PadesSigner, PadesValidator
from diplomas.pdfsign.signer import Timestamping, to_asn1

from .conftest import INSTITUTION, RECORD, failed, make_unsigned_pdf


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tsa.TrustServices]:
    running = tsa.start(tmp_path_factory.mktemp("certomancer"))
    yield running
    running.stop()


def _signer(
    services: tsa.TrustServices, label: str = "signer", *, timestamped: bool = True
) -> PadesSigner:
    key = load_pem_private_key(services.key_pem(label), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    chain = [services.certificate("interm"), services.certificate("root")]
    timestamping = (
        Timestamping(services.tsa_url, roots=(services.certificate("tsa-root"),))
        if timestamped
        else None
    )
    return PadesSigner(key, services.certificate(label), chain, timestamping=timestamping)


@pytest.fixture(scope="module")
def long_term_pdf(services: tsa.TrustServices) -> bytes:
    return _signer(services).sign(make_unsigned_pdf(), RECORD)


def _validator(services: tsa.TrustServices, *, timestamp_roots: bool = True) -> PadesValidator:
    roots = [services.certificate("tsa-root")] if timestamp_roots else []
    return PadesValidator([services.certificate("root")], timestamp_roots=roots)


def test_pyhanko_finds_a_trusted_timestamp_and_the_validation_data_embedded(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    reader = PdfFileReader(BytesIO(long_term_pdf))
    dss = DocumentSecurityStore.read_dss(reader)
    embedded_certs = {c.subject.native["common_name"] for c in dss.load_certs()}
    assert {"Test Trust Services Signing CA", "Test Time Stamping Authority"} <= embedded_certs
    assert len(dss.ocsps) >= 1 and len(dss.crls) >= 1
    # offline, revocation required where declared: only what the DSS holds can satisfy it
    known = {
        "allow_fetching": False,
        "revocation_mode": "hard-fail",
    }
    signer_context = dss.as_validation_context(
        {**known, "trust_roots": [to_asn1(services.certificate("root"))]}
    )
    timestamp_context = dss.as_validation_context(
        {**known, "trust_roots": [to_asn1(services.certificate("tsa-root"))]}
    )
    [embedded] = reader.embedded_signatures
    status = validate_pdf_signature(
        embedded,
        signer_validation_context=signer_context,
        ts_validation_context=timestamp_context,
    )
    assert status.bottom_line, status.pretty_print_details()
    timestamp = status.timestamp_validity
    assert timestamp is not None and timestamp.intact and timestamp.valid and timestamp.trusted
    assert abs(timestamp.timestamp - datetime.now(UTC)) < timedelta(minutes=5)
    assert status.modification_level is not None and status.modification_level.name == "LTA_UPDATES"


def test_our_validator_reports_the_proven_time(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    report = _validator(services).inspect(long_term_pdf)
    assert not failed(report), report
    [check] = report.signatures
    assert check.proven_time is not None
    assert abs(check.proven_time - datetime.now(UTC)) < timedelta(minutes=5)
    assert report.record == RECORD

    # a verifier that does not trust the authority: the signature stands on its own
    # (as a B-B one), but nothing is proven about its time
    untrusting = _validator(services, timestamp_roots=False).inspect(long_term_pdf)
    assert not failed(untrusting), untrusting
    assert untrusting.signatures[0].proven_time is None


def test_timestamp_without_validation_data_is_b_t(services: tsa.TrustServices) -> None:
    key = load_pem_private_key(services.key_pem("signer"), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signer = PadesSigner(
        key,
        services.certificate("signer"),
        [services.certificate("interm"), services.certificate("root")],
        timestamping=Timestamping(
            services.tsa_url,
            roots=(services.certificate("tsa-root"),),
            embed_validation_info=False,
        ),
    )
    pdf = signer.sign(make_unsigned_pdf(), RECORD)
    assert b"/DSS" not in pdf
    report = _validator(services).inspect(pdf)
    assert not failed(report), report
    assert report.signatures[0].proven_time is not None


def test_a_backdated_timestamp_token_is_refused(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    """The token sits in the signature's unsigned attributes, outside what the document
    signature covers: changing its time (here two years back) must break the authority's
    signature on it, and then nothing is proven."""
    [embedded] = PdfFileReader(BytesIO(long_term_pdf)).embedded_signatures
    token = embedded.signer_info["unsigned_attrs"][0]["values"][0]
    info = token["content"]["encap_content_info"]["content"].parsed
    gen_time = info["gen_time"].dump()
    contents = embedded.pkcs7_content
    assert contents.count(gen_time) == 1
    year = str(info["gen_time"].native.year).encode()
    earlier = gen_time.replace(year, str(int(year) - 2).encode(), 1)
    hex_before = binascii.hexlify(contents).upper()
    hex_after = binascii.hexlify(contents.replace(gen_time, earlier)).upper()
    assert long_term_pdf.count(hex_before) == 1
    tampered = long_term_pdf.replace(hex_before, hex_after)

    report = _validator(services).inspect(tampered)
    [check] = report.signatures
    assert any("timestamp does not match" in r for r in check.reasons), report
    assert check.proven_time is None


def test_a_co_issuer_adds_its_long_term_signature(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    """A jointly awarded diploma: the co-issuer (its own self-made root here) signs after
    the first B-LT signature, and adds its validation data to the same DSS."""
    co_issuer = MemoryKeyStore(INSTITUTION, datetime.now(UTC))
    own = co_issuer.pdf_signer()
    key = own._cms_signer._key
    signer = PadesSigner(
        key,
        own.certificate,
        co_issuer.trust_roots(),
        timestamping=Timestamping(services.tsa_url, roots=(services.certificate("tsa-root"),)),
    )
    both = signer.sign_additional(long_term_pdf)
    validator = PadesValidator(
        [services.certificate("root"), *co_issuer.trust_roots()],
        timestamp_roots=[services.certificate("tsa-root")],
    )
    report = validator.inspect(both)
    assert not failed(report), report
    assert len(report.signatures) == 2
    assert all(s.proven_time is not None for s in report.signatures)


def test_bytes_after_the_validation_data_are_refused(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    for extra in (b"\n", b"%%EOF\n", b"junk"):
        report = _validator(services).inspect(long_term_pdf + extra)
        assert failed(report), extra


@pytest.mark.parametrize("change", ["title", "annotation"])
def test_more_than_validation_data_after_the_signature_is_refused(
    services: tsa.TrustServices, long_term_pdf: bytes, change: str
) -> None:
    """pyHanko's difference analysis lets an update that adds validation data also change
    the document information; ours allows nothing but the DSS (and the times writers
    refresh)."""
    writer = IncrementalPdfFileWriter(BytesIO(long_term_pdf))
    if change == "title":
        info = writer.trailer["/Info"]
        info[generic.pdf_name("/Title")] = generic.pdf_string("Diploma of Someone Else")
        writer.update_container(info)
    else:
        page_ref = writer.root["/Pages"]["/Kids"][0]
        page = page_ref.get_object()
        note = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/FreeText"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (72, 300, 500, 360)]
                ),
                generic.pdf_name("/Contents"): generic.pdf_string("Forged"),
            }
        )
        page[generic.pdf_name("/Annots")] = generic.ArrayObject([writer.add_object(note)])
        writer.update_container(page_ref)
    out = BytesIO()
    writer.write(out)
    report = _validator(services).inspect(out.getvalue())
    reasons = " ".join(r for s in report.signatures for r in s.reasons)
    assert "changed after it was signed" in reasons, report


def test_pdfsig_validates_the_long_term_signature(
    services: tsa.TrustServices, long_term_pdf: bytes, tmp_path: Path
) -> None:
    if shutil.which("pdfsig") is None or shutil.which("certutil") is None:
        pytest.skip("needs poppler's pdfsig and NSS's certutil (make system-deps)")
    pdf = tmp_path / "diploma.pdf"
    pdf.write_bytes(long_term_pdf)
    nss = nss_database(tmp_path / "nss", services.certificate("root"))
    # pdfsig asks the certificate's OCSP responder (the test's certomancer) itself;
    # poppler 22 prints no line about the timestamp
    report = _pdfsig(nss, pdf)
    assert "- Signature Validation: Signature is Valid." in report, report
    assert "- Certificate Validation: Certificate is Trusted." in report, report
    assert "- Signature Type: ETSI.CAdES.detached" in report, report
    # the DSS update comes after the signed revision
    assert "- Not total document signed" in report, report


def _pdfsig(nss: str, pdf: Path) -> str:
    args = ["pdfsig", "-nssdir", nss, str(pdf)]
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


def test_pdfsig_refuses_a_revoked_certificate(services: tsa.TrustServices, tmp_path: Path) -> None:
    if shutil.which("pdfsig") is None or shutil.which("certutil") is None:
        pytest.skip("needs poppler's pdfsig and NSS's certutil (make system-deps)")
    pdf = tmp_path / "revoked.pdf"
    signer = _signer(services, "signer-revoked", timestamped=False)
    pdf.write_bytes(signer.sign(make_unsigned_pdf(), RECORD))
    report = _pdfsig(nss_database(tmp_path / "nss", services.certificate("root")), pdf)
    assert "- Signature Validation: Signature is Valid." in report, report
    assert "- Certificate Validation: Certificate has been Revoked." in report, report


def test_a_revoked_certificate_cannot_make_a_long_term_signature(
    services: tsa.TrustServices,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _signer(services, "signer-revoked").sign(make_unsigned_pdf(), RECORD)
    message = str(raised.value)
    assert "revoked" in message and "Nothing was signed" in message


def _ocsp_response(services: tsa.TrustServices, label: str) -> asn1_ocsp.OCSPResponse:
    """Ask the CA's responder, over HTTP, about the certificate `label`."""
    certificate = to_asn1(services.certificate(label))
    issuer: asn1_x509.Certificate = to_asn1(services.certificate("interm"))
    request = asn1_ocsp.OCSPRequest(
        {
            "tbs_request": {
                "request_list": [
                    {
                        "req_cert": {
                            "hash_algorithm": {"algorithm": "sha1"},
                            "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),
                            "issuer_key_hash": issuer.public_key.sha1,
                            "serial_number": certificate.serial_number,
                        }
                    }
                ]
            }
        }
    )
    answer = httpx.post(
        services.ocsp_url(),
        content=request.dump(),
        headers={"Content-Type": "application/ocsp-request"},
    )
    answer.raise_for_status()
    return asn1_ocsp.OCSPResponse.load(answer.content)


def test_a_signature_made_after_the_revocation_fails_though_it_claims_earlier(
    services: tsa.TrustServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone holding the revoked key signs today with a clock set back to before the
    revocation; the PDF's /M says so. The revocation data (the CA's OCSP answer, embedded
    as B-LT does) shows the revocation, and nothing proves the earlier time: refused."""
    backdated = services.revoked_since - timedelta(days=2)

    class _SetBack(datetime):
        @classmethod
        def now(cls, tz: object = None) -> _SetBack:  # type: ignore[override]
            return cls.fromtimestamp(backdated.timestamp(), UTC)

    monkeypatch.setattr(pyhanko_pdf_signer, "datetime", _SetBack)
    forged = _signer(services, "signer-revoked", timestamped=False).sign(
        make_unsigned_pdf(), RECORD
    )
    monkeypatch.undo()
    validator = _validator(services)
    [claimed] = [s for s in PdfFileReader(BytesIO(forged)).embedded_signatures]
    assert claimed.self_reported_timestamp < services.revoked_since

    response = _ocsp_response(services, "signer-revoked")
    status = response["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
    assert status["cert_status"].name == "revoked"
    out = BytesIO(forged)
    DocumentSecurityStore.add_dss(
        out,
        None,
        certs=[to_asn1(services.certificate("interm"))],
        ocsps=[response],
        force_write=True,
    )
    report = validator.inspect(out.getvalue())
    reasons = " ".join(r for s in report.signatures for r in s.reasons)
    assert "revoked" in reasons and "nothing proves" in reasons, report
    assert report.signatures[0].proven_time is None


def test_a_timestamp_from_before_the_revocation_keeps_the_signature_good(
    tmp_path: Path,
) -> None:
    """Signed (B-LT) while the certificate was good; revoked a moment later, and the CA's
    answer saying so added to the PDF afterwards. The trusted timestamp proves the
    signature came first: still good. Without trusting the authority, nothing proves it."""
    revocation = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    services = tsa.start(tmp_path / "certomancer", revoked_since=revocation)
    try:
        signed = _signer(services, "signer-revoked").sign(make_unsigned_pdf(), RECORD)
        while datetime.now(UTC) <= revocation + timedelta(seconds=1):
            time.sleep(0.2)
        response = _ocsp_response(services, "signer-revoked")
    finally:
        services.stop()
    out = BytesIO(signed)
    DocumentSecurityStore.add_dss(out, None, ocsps=[response], force_write=True)
    later = out.getvalue()

    report = _validator(services).inspect(later)
    assert not failed(report), report
    proven = report.signatures[0].proven_time
    assert proven is not None and proven < revocation

    untrusting = _validator(services, timestamp_roots=False).inspect(later)
    reasons = " ".join(untrusting.signatures[0].reasons)
    assert "revoked" in reasons and "nothing proves" in reasons, untrusting


def test_the_distrust_rule_takes_the_proven_time(
    services: tsa.TrustServices, long_term_pdf: bytes
) -> None:
    """The institution distrusts its certificate from a moment (its key may be in other
    hands). The whole validator, with real timestamps: a signature whose trusted timestamp
    is earlier stands; one timestamped after is refused; with the authority not trusted,
    nothing proves the earlier one's time either."""
    # the authority (certomancer here) answers in whole seconds
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < since + timedelta(seconds=1):
        time.sleep(0.1)
    after = _signer(services).sign(make_unsigned_pdf(), RECORD)
    certificate = services.certificate("signer")
    entry = DistrustedCertificate(
        certificate.serial_number, certificate.issuer.rfc4514_string(), since, "key stolen"
    )
    did = "did:web:diplomas.example.org"

    def validator(timestamp_roots: bool) -> PadesValidator:
        return PadesValidator(
            issuers={did: [services.certificate("root")]},
            distrusted={did: [entry]},
            timestamp_roots=[services.certificate("tsa-root")] if timestamp_roots else [],
        )

    before_report = validator(True).inspect(long_term_pdf)
    assert not failed(before_report), before_report
    refused = " ".join(validator(True).inspect(after).signatures[0].reasons)
    assert "distrusts since" in refused and "is not earlier" in refused, refused
    untrusted = " ".join(validator(False).inspect(long_term_pdf).signatures[0].reasons)
    assert "not from a trusted time-stamping authority" in untrusted, untrusted


def test_the_timestamp_authority_down_stops_signing_with_a_plain_error(
    tmp_path: Path,
) -> None:
    services = tsa.start(tmp_path / "certomancer")
    try:
        signer = _signer(services)
        signer.sign(make_unsigned_pdf(), RECORD)  # up: signs
        services.tsa.stop()
        with pytest.raises(ConfigurationError) as raised:
            signer.sign(make_unsigned_pdf(), RECORD)
    finally:
        services.stop()
    message = str(raised.value)
    assert f"the timestamp authority at {services.tsa_url} did not answer" in message
    assert "nothing was signed" in message and "DIPLOMAS_TIMESTAMP_URL" in message


def test_the_untimestamped_path_is_unchanged(services: tsa.TrustServices) -> None:
    """Without a timestamp authority the signature is B-B, as before: no unsigned
    attributes, no DSS, the signer's own placeholder size."""
    pdf = _signer(services, timestamped=False).sign(make_unsigned_pdf(), RECORD)
    assert b"/DSS" not in pdf
    [embedded] = PdfFileReader(BytesIO(pdf)).embedded_signatures
    assert embedded.signer_info["unsigned_attrs"].native is None
    report = _validator(services).inspect(pdf)
    assert not failed(report), report
    assert report.signatures[0].proven_time is None


def test_credentials_are_not_in_the_settings_repr() -> None:
    timestamping = Timestamping("https://tsa.example.org", username="office", password="s3cret")
    assert "s3cret" not in repr(timestamping)
    assert asyncio.iscoroutinefunction(timestamping.timestamper().async_timestamp)
