from __future__ import annotations

import io
import shutil
import statistics
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from diplomas.core.errors import DocumentError
from diplomas.core.ports import PdfReport
from diplomas.keys import MemoryKeyStore
from diplomas.pdfsign import RECORD_FILE_NAME, PadesValidator
from diplomas.pdfsign.signer import to_asn1

from .conftest import INSTITUTION, NOW, RECORD, failed, make_unsigned_pdf


def _pyhanko_statuses(pdf: bytes, keys: MemoryKeyStore) -> list:  # type: ignore[type-arg]
    reader = PdfFileReader(io.BytesIO(pdf))
    roots = [to_asn1(root) for root in keys.trust_roots()]
    return [
        validate_pdf_signature(
            signature,
            ValidationContext(trust_roots=roots, allow_fetching=False),
        )
        for signature in reader.embedded_signatures
    ]


def test_pyhanko_finds_an_intact_trusted_pades_signature(
    signed_pdf: bytes, keys: MemoryKeyStore
) -> None:
    [status] = _pyhanko_statuses(signed_pdf, keys)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    reader = PdfFileReader(io.BytesIO(signed_pdf))
    [embedded] = reader.embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert embedded.field_name == "DiplomaSignature"
    assert embedded.md_algorithm == "sha256"
    assert embedded.sig_object["/Reason"] == f"Diploma issued by {INSTITUTION.name_en}"
    assert embedded.sig_object["/Location"] == INSTITUTION.public_url
    assert embedded.sig_object["/Name"] == INSTITUTION.name_en


def test_the_record_is_attached_in_the_signed_revision(
    signed_pdf: bytes, unsigned_pdf: bytes
) -> None:
    assert signed_pdf.startswith(unsigned_pdf)  # one incremental update
    reader = PdfFileReader(io.BytesIO(signed_pdf))
    assert reader.total_revisions == PdfFileReader(io.BytesIO(unsigned_pdf)).total_revisions + 1
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert names[0] == RECORD_FILE_NAME
    spec = names[1]
    assert spec["/Desc"].startswith("Signed diploma record")
    assert spec["/EF"]["/F"]["/Subtype"] == "/application/vc+ld+json"
    assert spec["/EF"]["/F"].data == RECORD


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler's pdfsig is not installed")
def test_poppler_says_the_signature_is_valid(signed_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed_pdf)
    out = subprocess.run(["pdfsig", str(path)], capture_output=True, check=False, text=True)
    assert "Signature Validation: Signature is Valid." in out.stdout, out.stdout + out.stderr
    assert "Total document signed" in out.stdout


def test_inspect_accepts_the_signed_pdf(signed_pdf: bytes, validator: PadesValidator) -> None:
    report = validator.inspect(signed_pdf)
    assert not failed(report), report
    [check] = report.signatures
    assert check.ok
    assert "Acme Entrepreneurship Institute" in check.signer
    assert report.record == RECORD


def test_signatures_are_checked_at_signing_time(signed_pdf: bytes, keys: MemoryKeyStore) -> None:
    """The document-signing certificate lives 5 years; diplomas must verify for longer."""
    later = PadesValidator(keys.trust_roots(), now=lambda: NOW + timedelta(days=20 * 365))
    assert not failed(later.inspect(signed_pdf))


def test_co_issuer_signature(
    signed_pdf: bytes, keys: MemoryKeyStore, validator: PadesValidator
) -> None:
    co_issuer = MemoryKeyStore(INSTITUTION, NOW)
    both = co_issuer.pdf_signer().sign_additional(signed_pdf)
    assert both.startswith(signed_pdf)
    trusting_both = PadesValidator([*keys.trust_roots(), *co_issuer.trust_roots()])
    report = trusting_both.inspect(both)
    assert not failed(report), report
    assert len(report.signatures) == 2
    assert report.record == RECORD
    statuses = _pyhanko_statuses(both, co_issuer)
    assert statuses[1].trusted and statuses[1].coverage == SignatureCoverageLevel.ENTIRE_FILE
    # the institution alone does not know the co-issuer's root: the second signature is
    # unknown, and so the update it made is not vouched for either (said as such, not as
    # a change to the document)
    only_first = validator.inspect(both)
    assert any("does not chain" in r for r in only_first.signatures[1].reasons)
    assert any("intact but not trusted here" in r for r in only_first.signatures[0].reasons)


def test_unsigned_and_unreadable_input(unsigned_pdf: bytes, validator: PadesValidator) -> None:
    report = validator.inspect(unsigned_pdf)
    assert report.signatures == () and report.record is None
    assert report.problems == ("the PDF carries no digital signature",)
    for junk in (b"", b"hello", b"%PDF-1.7\n garbage", b"\x00" * 100):
        report = validator.inspect(junk)
        assert report.signatures == () and report.record is None
        assert len(report.problems) == 1


def test_signing_garbage_is_a_document_error(keys: MemoryKeyStore) -> None:
    with pytest.raises(DocumentError):
        keys.pdf_signer().sign(b"not a pdf", RECORD)


def _median_ms(action: object, runs: int = 50) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        action()  # type: ignore[operator]
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


def test_timing(
    keys: MemoryKeyStore, validator: PadesValidator, capsys: pytest.CaptureFixture[str]
) -> None:
    unsigned = make_unsigned_pdf()
    signer = keys.pdf_signer()
    signed = signer.sign(unsigned, RECORD)
    sign_ms = _median_ms(lambda: signer.sign(unsigned, RECORD))
    inspect_ms = _median_ms(lambda: validator.inspect(signed))
    with capsys.disabled():
        print(
            f"\n  PadesSigner.sign: {sign_ms:.2f} ms median; "
            f"PadesValidator.inspect: {inspect_ms:.2f} ms median (50 runs, {len(signed)} bytes)"
        )
    assert sign_ms < 50 and inspect_ms < 200  # generous: catches regressions by 10x


def test_one_signer_serves_many_threads(keys: MemoryKeyStore, validator: PadesValidator) -> None:
    from concurrent.futures import ThreadPoolExecutor

    signer = keys.pdf_signer()
    records = [b'{"n": %d}' % n for n in range(24)]
    unsigned = make_unsigned_pdf()
    with ThreadPoolExecutor(max_workers=4) as pool:
        signed = list(pool.map(lambda record: signer.sign(unsigned, record), records))
    for record, pdf in zip(records, signed, strict=True):
        report = validator.inspect(pdf)
        assert not failed(report) and report.record == record


def test_usable_from_inside_an_event_loop(unsigned_pdf: bytes) -> None:
    """An `async def` web handler may call the synchronous ports directly."""
    import asyncio

    async def handler() -> PdfReport:
        keys = MemoryKeyStore(INSTITUTION, NOW)
        signed = keys.pdf_signer().sign(unsigned_pdf, RECORD)
        return PadesValidator(keys.trust_roots()).inspect(signed)

    report = asyncio.run(handler())
    assert not failed(report) and report.record == RECORD
