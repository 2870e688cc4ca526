"""Any change to a signed diploma PDF must show up as a reason in the report."""

from __future__ import annotations

import binascii
import io
import re

import pytest
from asn1crypto import cms as asn1_cms
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from diplomas.keys import MemoryKeyStore
from diplomas.pdfsign import RECORD_FILE_NAME, PadesValidator
from diplomas.pdfsign.signer import P256_ORDER, embed_record

from .conftest import INSTITUTION, NOW, RECORD, failed


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _contents_span(pdf: bytes) -> tuple[int, int]:
    """Start and end (exclusive) of the hex digits of the (last) signature's /Contents."""
    byte_range = [int(v) for v in re.findall(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", pdf)[-1]]
    return byte_range[1] + 1, byte_range[2] - 1


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_flipped_byte_is_noticed(
    signed_pdf: bytes, validator: PadesValidator, data: st.DataObject
) -> None:
    position = data.draw(st.integers(0, len(signed_pdf) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(signed_pdf)
    tampered[position] ^= mask
    assert failed(validator.inspect(bytes(tampered)))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_truncation_is_noticed(
    signed_pdf: bytes, validator: PadesValidator, data: st.DataObject
) -> None:
    length = data.draw(st.integers(0, len(signed_pdf) - 1), label="length")
    assert failed(validator.inspect(signed_pdf[:length]))


@settings(max_examples=100, deadline=None)
@given(junk=st.binary(max_size=2000))
def test_junk_never_raises(junk: bytes) -> None:
    validator = PadesValidator([])
    for document in (junk, b"%PDF-1.7\n" + junk):
        report = validator.inspect(document)
        assert failed(report)


def test_hex_digit_case_changed(signed_pdf: bytes, validator: PadesValidator) -> None:
    start, end = _contents_span(signed_pdf)
    letter = next(i for i in range(start, end) if signed_pdf[i : i + 1] in b"ABCDEF")
    tampered = (
        signed_pdf[:letter] + signed_pdf[letter : letter + 1].lower() + signed_pdf[letter + 1 :]
    )
    report = validator.inspect(tampered)
    assert failed(report)
    assert any("unsigned gap" in r for r in report.signatures[0].reasons), report


def test_non_zero_padding_after_the_der(signed_pdf: bytes, validator: PadesValidator) -> None:
    _, end = _contents_span(signed_pdf)
    assert signed_pdf[end - 1 : end] == b"0"
    tampered = signed_pdf[: end - 1] + b"1" + signed_pdf[end:]
    report = validator.inspect(tampered)
    assert any("extra data after its end" in r for r in report.signatures[0].reasons), report


def test_whitespace_in_the_hex(signed_pdf: bytes, validator: PadesValidator) -> None:
    start, _ = _contents_span(signed_pdf)
    tampered = signed_pdf[: start + 4] + b" " + signed_pdf[start + 5 :]
    assert failed(validator.inspect(tampered))


@pytest.mark.parametrize("extra", [b"\n", b"%%EOF\n", b"\x00" * 10, b"trailing junk " * 50])
def test_bytes_appended(signed_pdf: bytes, validator: PadesValidator, extra: bytes) -> None:
    report = validator.inspect(signed_pdf + extra)
    assert failed(report), report


def test_appended_newline_is_named(signed_pdf: bytes, validator: PadesValidator) -> None:
    report = validator.inspect(signed_pdf + b"\n")
    assert report.signatures[0].reasons == ("1 byte was added to the file after it was signed",)


@pytest.mark.parametrize("cut", [1, 10, 100, 3000])
def test_truncated(signed_pdf: bytes, validator: PadesValidator, cut: int) -> None:
    assert failed(validator.inspect(signed_pdf[:-cut]))


def test_incremental_update_with_an_annotation(
    signed_pdf: bytes, validator: PadesValidator
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    page = page_ref.get_object()
    annotation = generic.DictionaryObject(  # type: ignore[no-untyped-call]
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Text"),
            generic.pdf_name("/Rect"): generic.ArrayObject(
                map(generic.NumberObject, (0, 0, 20, 20))
            ),
            generic.pdf_name("/Contents"): generic.pdf_string("Grade: A+ (forged)"),
        }
    )
    page["/Annots"] = generic.ArrayObject([writer.add_object(annotation)])
    writer.update_container(page)
    out = _written(writer)
    report = validator.inspect(out)
    assert report.record == RECORD
    assert any("changed after it was signed" in r for r in report.signatures[0].reasons), report


def test_incremental_update_replacing_the_record(
    signed_pdf: bytes, validator: PadesValidator
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    forged = embed.EmbeddedFileObject.from_file_data(writer, data=b'{"forged": true}')
    spec = embed.FileSpec(file_spec_string=RECORD_FILE_NAME, embedded_data=forged)
    names[1] = writer.add_object(spec.as_pdf_object())
    writer.update_container(names)
    out = _written(writer)
    report = validator.inspect(out)
    assert report.record == RECORD  # the signed one, never the forgery
    assert "the PDF's attachments were changed after it was signed" in report.problems
    assert any("changed after it was signed" in r for r in report.signatures[0].reasons)


def test_second_record_attached_later(signed_pdf: bytes, validator: PadesValidator) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    embed_record(writer, b'{"forged": true}')
    out = _written(writer)
    report = validator.inspect(out)
    assert report.record == RECORD
    assert report.problems and failed(report)


def test_signed_by_another_root(unsigned_pdf: bytes, validator: PadesValidator) -> None:
    impostor = MemoryKeyStore(INSTITUTION, NOW)  # same names, different keys
    forged = impostor.pdf_signer().sign(unsigned_pdf, RECORD)
    report = validator.inspect(forged)
    [check] = report.signatures
    assert any(
        "does not chain to the institution's root" in r and "unknown signer" in r
        for r in check.reasons
    ), report
    assert report.record == RECORD  # readable, but the report fails


def test_modified_then_resigned_by_someone_else(
    signed_pdf: bytes, validator: PadesValidator
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    embed_record(writer, b'{"forged": true}')
    out = _written(writer)
    impostor = MemoryKeyStore(INSTITUTION, NOW)
    resigned = impostor.pdf_signer().sign_additional(out)
    report = validator.inspect(resigned)
    assert len(report.signatures) == 2
    assert not report.signatures[0].ok and not report.signatures[1].ok
    assert report.record == RECORD


def test_unsigned_pdf_with_a_record_gives_no_record(
    unsigned_pdf: bytes, validator: PadesValidator
) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf))
    embed_record(writer, RECORD)
    out = _written(writer)
    report = validator.inspect(out)
    assert report.record is None
    assert report.problems == ("the PDF carries no digital signature",)


def test_bytes_appended_after_a_co_signature(
    signed_pdf: bytes, keys: MemoryKeyStore, validator: PadesValidator
) -> None:
    both = keys.pdf_signer().sign_additional(signed_pdf)
    assert not failed(validator.inspect(both))
    report = validator.inspect(both + b"\n")
    first, second = report.signatures
    assert second.reasons == ("1 byte was added to the file after it was signed",)
    assert any("changed after it was signed" in r for r in first.reasons)


def test_der_length_stretched_over_the_padding(
    signed_pdf: bytes, validator: PadesValidator
) -> None:
    """A longer outer length swallows two padding zeros: the gap stays canonical hex and
    asn1crypto still parses the CMS object, so only a strict DER check notices."""
    start, _ = _contents_span(signed_pdf)
    header = signed_pdf[start : start + 8]
    assert header[:4] == b"3082"
    longer = b"%04X" % (int(header[4:], 16) + 2)
    tampered = signed_pdf[: start + 4] + longer + signed_pdf[start + 8 :]
    report = validator.inspect(tampered)
    assert any("canonical DER" in r for r in report.signatures[0].reasons), report


def test_signer_identifier_spelt_differently(signed_pdf: bytes, validator: PadesValidator) -> None:
    """Certificate names compare case-insensitively, so an issuer name in the (unsigned)
    signer identifier with one letter in another case still finds the certificate."""
    start, end = _contents_span(signed_pdf)
    needle = binascii.hexlify(b"Root CA").upper()
    cert_issuer = signed_pdf.index(needle, start, end)
    sid_issuer = signed_pdf.index(needle, cert_issuer + 1, end)
    assert signed_pdf[sid_issuer : sid_issuer + 2] == b"52"  # "R"
    tampered = signed_pdf[:sid_issuer] + b"72" + signed_pdf[sid_issuer + 2 :]  # "r"
    report = validator.inspect(tampered)
    assert any("never writes" in r for r in report.signatures[0].reasons), report


def test_malleated_ecdsa_signature(signed_pdf: bytes, validator: PadesValidator) -> None:
    """(r, n - s) verifies as well as (r, s); the signer only writes the low-s form."""
    start, end = _contents_span(signed_pdf)
    contents = binascii.unhexlify(signed_pdf[start:end])
    content_info = asn1_cms.ContentInfo.load(contents)
    signer_info = content_info["content"]["signer_infos"][0]
    r, s = decode_dss_signature(signer_info["signature"].native)
    assert s <= P256_ORDER // 2
    signer_info["signature"] = encode_dss_signature(r, P256_ORDER - s)
    new_hex = binascii.hexlify(content_info.dump(force=True)).upper()
    new_hex += b"0" * (end - start - len(new_hex))
    tampered = signed_pdf[:start] + new_hex + signed_pdf[end:]
    report = validator.inspect(tampered)
    assert report.signatures[0].reasons == (
        "the signature value is not in the form this service's signer writes (an ECDSA "
        "P-256 signature with low s)",
    ), report
