"""Attacked files derived from genuine diplomas, in families, for the tamper suite.

`corpus(...)` issues a few genuine diplomas with a real instance (one co-issued) and derives
attacked copies from them: byte flips in every region of the file, truncations, appended
bytes, incremental updates, copies re-saved by other PDF libraries, removed and moved
signatures, pasted QR codes, and the attack classes of the published research on PDF
signatures (Mladenov et al., "1 Trillion Dollar Refund", CCS 2019: universal signature
forgery, incremental saving attacks, signature wrapping; Mainka et al., "Shadow Attacks",
NDSS 2021: hide, replace, hide-and-replace). `tests/tamper/` runs a sample (`scale="fast"`),
`bench/tamper.py` the full set.

Every attack here must be refused by every verifier; `Genuine` copies must be accepted.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import random
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pikepdf
import pypdf
import qrcode
from asn1crypto import cms as asn1_cms
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.pdfgen import canvas

from diplomas.core.credential import PublicClaims, claims_from_credential
from diplomas.core.model import Institution
from diplomas.core.verification import parse_record
from diplomas.keys import MemoryKeyStore
from diplomas.pdfsign import RECORD_FILE_NAME

REGIONS = (
    "header",
    "page-content",
    "fonts",
    "record",
    "sig-dict",
    "contents-hex",
    "byterange",
    "xref",
    "trailer",
    "other-objects",
)


@dataclass(frozen=True)
class Attack:
    family: str
    label: str
    pdf: bytes
    source: str = ""


@dataclass(frozen=True)
class Genuine:
    label: str
    pdf: bytes
    record: bytes
    claims: PublicClaims


@dataclass
class Corpus:
    genuine: list[Genuine]
    attacks: list[Attack] = field(default_factory=list)

    def families(self) -> dict[str, list[Attack]]:
        out: dict[str, list[Attack]] = {}
        for attack in self.attacks:
            out.setdefault(attack.family, []).append(attack)
        return out


# -- structure of a signed file ---------------------------------------------------------


def eof_ends(pdf: bytes) -> list[int]:
    """The end of each revision: just after each `%%EOF` (and its line break)."""
    ends = []
    for m in re.finditer(rb"%%EOF(\r\n|\r|\n)?", pdf):
        ends.append(m.end())
    return ends


def byte_ranges(pdf: bytes) -> list[list[int]]:
    return [
        [int(v) for v in m] for m in re.findall(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", pdf)
    ]


def regions(pdf: bytes) -> dict[str, list[tuple[int, int]]]:
    """Byte spans of each region of a signed diploma, found independently of any PDF library."""
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in REGIONS}
    first = re.search(rb"\d+ 0 obj", pdf)
    assert first is not None
    out["header"].append((0, first.start()))
    font_refs = {int(n) for n in re.findall(rb"/FontFile\d? (\d+) 0 R", pdf)}
    content_refs = {int(n) for n in re.findall(rb"/Contents (\d+) 0 R", pdf)}
    for m in re.finditer(rb"(\d+) 0 obj(.*?)endobj", pdf, re.S):
        number, body, span = int(m.group(1)), m.group(2), (m.start(), m.end())
        if b"/Type /Sig" in body:
            hexes = re.search(rb"/Contents <([0-9A-Fa-f]*)>", body)
            ranges = re.search(rb"/ByteRange \[[^\]]*\]", body)
            assert hexes is not None and ranges is not None
            base = m.start(2)
            h0, h1 = base + hexes.start(1), base + hexes.end(1)
            r0, r1 = base + ranges.start(), base + ranges.end()
            out["contents-hex"].append((h0, h1))
            out["byterange"].append((r0, r1))
            out["sig-dict"].extend([(m.start(), h0), (h1, r0), (r1, m.end())])
        elif b"/Type /EmbeddedFile" in body or b"/Type /Filespec" in body:
            out["record"].append(span)
        elif number in font_refs or re.search(rb"/Type /(Font|FontDescriptor)\b", body):
            out["fonts"].append(span)
        elif number in content_refs:
            out["page-content"].append(span)
        else:
            out["other-objects"].append(span)
    for m in re.finditer(rb"\nxref\n.*?(?=trailer)", pdf, re.S):
        out["xref"].append((m.start() + 1, m.end()))
    for m in re.finditer(rb"trailer.*?%%EOF", pdf, re.S):
        out["trailer"].append((m.start(), m.end()))
    return {k: [s for s in v if s[1] > s[0]] for k, v in out.items()}


def _contents_gap(pdf: bytes) -> tuple[int, int]:
    """Start and end of the last signature's `<…>` /Contents string (delimiters included)."""
    r = byte_ranges(pdf)[-1]
    return r[1], r[2]


def _same_length(pdf: bytes, old: bytes, new: bytes, *, last: bool = True) -> bytes:
    """Replace `old` by `new` padded with spaces to the same length (offsets kept)."""
    at = pdf.rfind(old) if last else pdf.find(old)
    assert at >= 0, old[:40]
    assert len(new) <= len(old), (new[:40], len(new), len(old))
    return pdf[:at] + new.ljust(len(old)) + pdf[at + len(old) :]


# -- writing updates --------------------------------------------------------------------


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _serialize(obj: Any) -> bytes:
    buffer = io.BytesIO()
    obj.write_to_stream(buffer, None)
    return buffer.getvalue()


def _trailer_value(pdf: bytes, key: bytes) -> bytes:
    found = re.findall(rb"/" + key + rb" (\d+ \d+ R)", pdf[pdf.rfind(b"trailer") :])
    return found[0] if found else b""


def _last_startxref(pdf: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])


def _size(pdf: bytes) -> int:
    return int(re.findall(rb"/Size (\d+)", pdf[pdf.rfind(b"trailer") :])[0])


def raw_update(
    pdf: bytes,
    objects: Mapping[int, bytes],
    *,
    free: Sequence[int] = (),
    xref: bool = True,
    trailer: bool = True,
    root: bytes | None = None,
    prev: int | None = None,
) -> bytes:
    """A hand-written incremental update: new object bodies, then (optionally) an xref
    section and a trailer, the way the research's incremental saving attacks vary them."""
    out = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets = {}
    for number, body in objects.items():
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    size = max([_size(pdf), *(n + 1 for n in offsets), *(n + 1 for n in free)])
    if xref:
        out += b"xref\n"
        rows = sorted([(n, b"%010d 00000 n " % o) for n, o in offsets.items()])
        rows += sorted((n, b"0000000000 00001 f ") for n in free)
        for number, row in sorted(rows):
            out += b"%d 1\n%s\n" % (number, row)
    if trailer:
        previous = _last_startxref(pdf) if prev is None else prev
        out += b"trailer\n<< /Size %d /Root %s /Prev %d >>\n" % (
            size,
            root or _trailer_value(pdf, b"Root"),
            previous,
        )
    out += b"startxref\n%d\n%%%%EOF\n" % (start if xref else _last_startxref(pdf))
    return bytes(out)


def _page(writer: IncrementalPdfFileWriter | PdfFileReader) -> tuple[Any, Any]:
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    return page_ref, page_ref.get_object()


def _helvetica() -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )


def _form(writer: IncrementalPdfFileWriter, data: bytes) -> Any:
    """A form XObject drawing `data` with its own Helvetica /F1."""
    stream = generic.StreamObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/XObject"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Form"),
            generic.pdf_name("/BBox"): generic.ArrayObject(
                map(generic.NumberObject, (0, 0, 842, 595))
            ),
            generic.pdf_name("/Resources"): generic.DictionaryObject(
                {
                    generic.pdf_name("/Font"): generic.DictionaryObject(
                        {generic.pdf_name("/F1"): _helvetica()}
                    )
                }
            ),
        },
        stream_data=data,
    )
    return writer.add_object(stream)


FORGED_TEXT = (
    b"q 1 1 1 rg 60 200 720 160 re f Q BT /F1 40 Tf 0 0 0 rg 120 270 Td (Forged Person) Tj ET"
)


def _draw_on_page(writer: IncrementalPdfFileWriter, data: bytes, name: str = "/Forge") -> None:
    """Append to the first page a content stream that draws form `data` (shared helper)."""
    _, page = _page(writer)
    form = _form(writer, data)
    resources = page["/Resources"]
    xobjects = generic.DictionaryObject(dict(resources.get("/XObject", {}).items()))
    xobjects[generic.pdf_name(name)] = form
    new_resources = generic.DictionaryObject(dict(resources.items()))
    new_resources[generic.pdf_name("/XObject")] = xobjects
    page[generic.pdf_name("/Resources")] = new_resources
    drawing = writer.add_object(generic.StreamObject(stream_data=b"q %s Do Q" % name.encode()))
    contents = page.raw_get("/Contents")
    existing = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    page[generic.pdf_name("/Contents")] = generic.ArrayObject([*existing, drawing])
    writer.update_container(page)


def update_with(pdf: bytes, edit: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    edit(writer)
    return _written(writer)


def _annotation(writer: IncrementalPdfFileWriter, annot: generic.DictionaryObject) -> None:
    _, page = _page(writer)
    annots = page.get("/Annots")
    existing = list(annots) if annots is not None else []
    raw = page.raw_get("/Annots") if "/Annots" in page else None
    refs = list(raw) if isinstance(raw, generic.ArrayObject) else existing
    page[generic.pdf_name("/Annots")] = generic.ArrayObject([*refs, writer.add_object(annot)])
    writer.update_container(page)


def _rect(*values: float) -> generic.ArrayObject:
    return generic.ArrayObject(generic.FloatObject(v) for v in values)


def _cover_annotation(writer: IncrementalPdfFileWriter) -> None:
    """A white square annotation with a forged name over where the recipient's name is."""
    appearance = _form(writer, FORGED_TEXT)
    annot = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Square"),
            generic.pdf_name("/Rect"): _rect(0, 0, 842, 595),
            generic.pdf_name("/IC"): _rect(1, 1, 1),
            generic.pdf_name("/F"): generic.NumberObject(4),
            generic.pdf_name("/AP"): generic.DictionaryObject({generic.pdf_name("/N"): appearance}),
        }
    )
    _annotation(writer, annot)


def _free_text(writer: IncrementalPdfFileWriter) -> None:
    annot = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/FreeText"),
            generic.pdf_name("/Rect"): _rect(100, 250, 700, 330),
            generic.pdf_name("/Contents"): generic.pdf_string("Forged Person"),
            generic.pdf_name("/DA"): generic.pdf_string("/Helv 36 Tf 0 g"),
        }
    )
    _annotation(writer, annot)


def _new_page(writer: IncrementalPdfFileWriter) -> None:
    pages = writer.root["/Pages"]
    form = _form(writer, FORGED_TEXT)
    content = writer.add_object(generic.StreamObject(stream_data=b"q /Forge Do Q"))
    page = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/Parent"): writer.root.raw_get("/Pages"),
            generic.pdf_name("/MediaBox"): _rect(0, 0, 842, 595),
            generic.pdf_name("/Contents"): content,
            generic.pdf_name("/Resources"): generic.DictionaryObject(
                {
                    generic.pdf_name("/XObject"): generic.DictionaryObject(
                        {generic.pdf_name("/Forge"): form}
                    )
                }
            ),
        }
    )
    kids = pages["/Kids"]
    kids.append(writer.add_object(page))
    pages[generic.pdf_name("/Count")] = generic.NumberObject(len(kids))
    writer.update_container(pages)


def _touch_root(writer: IncrementalPdfFileWriter) -> None:
    writer.update_root()


def _swap_record(record: bytes) -> Callable[[IncrementalPdfFileWriter], None]:
    def edit(writer: IncrementalPdfFileWriter) -> None:
        names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
        forged = embed.EmbeddedFileObject.from_file_data(
            writer, data=record, mime_type="application/vc+ld+json"
        )
        spec = embed.FileSpec(
            file_spec_string=RECORD_FILE_NAME, file_name=RECORD_FILE_NAME, embedded_data=forged
        )
        names[1] = writer.add_object(spec.as_pdf_object())
        writer.update_container(names)

    return edit


def _change_info(writer: IncrementalPdfFileWriter) -> None:
    info = generic.DictionaryObject(
        {generic.pdf_name("/Title"): generic.pdf_string("Diploma of Forged Person")}
    )
    writer.trailer[generic.pdf_name("/Info")] = writer.add_object(info)


def _forged_record(record: bytes, name: str = "شخص جعلی") -> bytes:
    text = record.decode()
    original = parse_record(record)["credentialSubject"]["name"]
    value = original if isinstance(original, str) else None
    if value:
        return text.replace(value, name).encode()
    return re.sub(r'"name":"[^"]*"', f'"name":"{name}"', text, count=1).encode()


# -- other libraries --------------------------------------------------------------------


def pikepdf_resave(pdf: bytes, how: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pikepdf warns about the signature widget
        return _pikepdf_resave(pdf, how)


def _pikepdf_resave(pdf: bytes, how: str) -> bytes:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        if how == "edit-text":
            page = doc.pages[0]
            page.contents_add(doc.make_stream(b"BT /F1 1 Tf (x) Tj ET"), prepend=False)
        elif how == "drop-acroform":
            del doc.Root.AcroForm
        elif how == "info":
            doc.docinfo["/Title"] = "Forged"
        out = io.BytesIO()
        if how == "object-streams":
            doc.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        elif how == "linearize":
            doc.save(out, linearize=True)
        elif how == "qdf":
            doc.save(out, qdf=True, static_id=True)
        else:
            doc.save(out)
        return out.getvalue()


def pypdf_resave(pdf: bytes, how: str) -> bytes:
    out = io.BytesIO()
    if how == "incremental":
        writer = pypdf.PdfWriter(io.BytesIO(pdf), incremental=True)
        writer.add_metadata({"/Title": "Forged"})
    else:
        writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
        if how == "compress":
            writer.compress_identical_objects()
        elif how == "blank-page":
            writer.add_blank_page(842, 595)
    writer.write(out)
    return out.getvalue()


# -- QR code and foreign PDFs -----------------------------------------------------------


def qr_page(text: str, caption: str, record: bytes | None = None) -> bytes:
    """A one-page PDF with `text`'s QR code and a caption, optionally with `record` attached
    (unsigned): what someone pasting a valid diploma's QR code onto another page makes."""
    matrix = qrcode.QRCode(border=0)
    matrix.add_data(text)
    matrix.make(fit=True)
    modules = matrix.get_matrix()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(842, 595))
    page.setFont("Helvetica", 28)
    page.drawString(72, 400, caption)
    cell = 2.0
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                page.rect(650 + x * cell, 150 - y * cell, cell, cell, stroke=0, fill=1)
    page.showPage()
    page.save()
    pdf = buffer.getvalue()
    if record is None:
        return pdf
    from diplomas.pdfsign.signer import embed_record

    return update_with(pdf, lambda w: embed_record(w, record))


def _qr_overlay(text: str) -> bytes:
    matrix = qrcode.QRCode(border=0)
    matrix.add_data(text)
    matrix.make(fit=True)
    cells = [
        b"%d %d 2 2 re" % (650 + 2 * x, 150 - 2 * y)
        for y, row in enumerate(matrix.get_matrix())
        for x, dark in enumerate(row)
        if dark
    ]
    return b"q 1 1 1 rg 600 40 240 200 re f 0 g " + b" ".join(cells) + b" f Q"


# -- the families -----------------------------------------------------------------------


def flips(genuine: Genuine, per_region: int, rng: random.Random) -> Iterator[Attack]:
    spans = regions(genuine.pdf)
    for region in REGIONS:
        available = spans[region]
        assert available, f"{genuine.label}: no {region} region found"
        for i in range(per_region):
            start, end = rng.choice(available)
            position = rng.randrange(start, end)
            data = bytearray(genuine.pdf)
            data[position] ^= rng.randrange(1, 256) if i else 0x01
            yield Attack(f"flip:{region}", f"{genuine.label}@{position}", bytes(data))


def truncations(genuine: Genuine, count: int, rng: random.Random) -> Iterator[Attack]:
    pdf = genuine.pdf
    cuts = {1, 2, len(pdf) // 2, len(pdf) - 7, len(pdf) - 6, len(pdf) - 1}
    cuts.update(end for end in eof_ends(pdf)[:-1])  # exactly at an earlier revision's end
    cuts.update(end - 1 for end in eof_ends(pdf)[:-1])
    while len(cuts) < count:
        cuts.add(rng.randrange(1, len(pdf)))
    for cut in sorted(cuts)[: max(count, 8)]:
        yield Attack("truncation", f"{genuine.label}[:{cut}]", pdf[:cut])


APPENDED = (
    b"\n",
    b" ",
    b"\x00",
    b"\r\n",
    b"%%EOF\n",
    b"% a comment\n",
    b"1 0 obj\n(x)\nendobj\n",
    b"\nstartxref\n0\n%%EOF\n",
    b"<html><body>Forged</body></html>",
)


def appended(genuine: Genuine) -> Iterator[Attack]:
    for i, extra in enumerate(APPENDED):
        yield Attack("appended-bytes", f"{genuine.label}+{i}", genuine.pdf + extra)
    yield Attack("appended-bytes", f"{genuine.label}+itself", genuine.pdf + genuine.pdf)
    yield Attack("appended-bytes", f"{genuine.label}+64k", genuine.pdf + bytes(65536))


def incremental(genuine: Genuine, other: Genuine) -> Iterator[Attack]:
    pdf, family = genuine.pdf, "incremental-update"
    yield Attack(
        family, f"{genuine.label} text", update_with(pdf, lambda w: _draw_on_page(w, FORGED_TEXT))
    )
    yield Attack(family, f"{genuine.label} cover-annot", update_with(pdf, _cover_annotation))
    yield Attack(family, f"{genuine.label} freetext", update_with(pdf, _free_text))
    yield Attack(family, f"{genuine.label} new-page", update_with(pdf, _new_page))
    yield Attack(family, f"{genuine.label} info", update_with(pdf, _change_info))
    forged = _forged_record(genuine.record)
    yield Attack(family, f"{genuine.label} record-forged", update_with(pdf, _swap_record(forged)))
    yield Attack(
        family, f"{genuine.label} record-swapped", update_with(pdf, _swap_record(other.record))
    )
    yield Attack(
        family,
        f"{genuine.label} record-swapped+text",
        update_with(
            update_with(pdf, _swap_record(other.record)), lambda w: _draw_on_page(w, FORGED_TEXT)
        ),
    )
    from diplomas.pdfsign.signer import embed_record

    yield Attack(
        family,
        f"{genuine.label} second-record",
        update_with(pdf, lambda w: embed_record(w, forged)),
    )
    yield Attack(family, f"{genuine.label} empty-update", raw_update(pdf, {}))
    yield Attack(family, f"{genuine.label} catalog-rewritten", update_with(pdf, _touch_root))


def resaved(genuine: Genuine) -> Iterator[Attack]:
    for how in (
        "plain",
        "object-streams",
        "linearize",
        "qdf",
        "edit-text",
        "info",
        "drop-acroform",
    ):
        yield Attack("resaved-pikepdf", f"{genuine.label} {how}", pikepdf_resave(genuine.pdf, how))
    for how in ("plain", "compress", "blank-page", "incremental"):
        yield Attack("resaved-pypdf", f"{genuine.label} {how}", pypdf_resave(genuine.pdf, how))


def _drop_signatures(keep: int) -> Callable[[IncrementalPdfFileWriter], None]:
    """Remove the signature value (/V) from every signature field after the first `keep`."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        form = writer.root["/AcroForm"]
        for index, ref in enumerate(form["/Fields"]):
            if index < keep:
                continue
            fld = ref.get_object()
            if "/V" in fld:
                del fld["/V"]
                writer.mark_update(ref)

    return edit


def _drop_acroform(writer: IncrementalPdfFileWriter) -> None:
    del writer.root["/AcroForm"]
    writer.update_root()


def removed(genuine: Genuine) -> Iterator[Attack]:
    pdf, family = genuine.pdf, "signature-removed"
    a, b = _contents_gap(pdf)
    zeros = pdf[:a] + b"<" + b"0" * (b - a - 2) + b">" + pdf[b:]
    yield Attack(family, f"{genuine.label} contents-zeroed", zeros)
    yield Attack(family, f"{genuine.label} contents-empty", pdf[:a] + b"<>".ljust(b - a) + pdf[b:])
    yield Attack(family, f"{genuine.label} value-dropped", update_with(pdf, _drop_signatures(0)))
    yield Attack(family, f"{genuine.label} acroform-dropped", update_with(pdf, _drop_acroform))
    yield Attack(family, f"{genuine.label} pikepdf-unsigned", pikepdf_resave(pdf, "drop-acroform"))
    yield Attack(
        family, f"{genuine.label} sig-type-renamed", _same_length(pdf, b"/Type /Sig", b"/Type /Xig")
    )
    yield Attack(family, f"{genuine.label} unsigned-base", pdf[: eof_ends(pdf)[0]])
    if len(byte_ranges(pdf)) > 1:  # co-issued: drop only the co-issuer's signature
        yield Attack(
            family, f"{genuine.label} second-value-dropped", update_with(pdf, _drop_signatures(1))
        )
        yield Attack(family, f"{genuine.label} cut-to-first-signature", pdf[: eof_ends(pdf)[1]])
        first = byte_ranges(pdf)[0]
        yield Attack(
            family,
            f"{genuine.label} first-zeroed",
            pdf[: first[1] + 1] + b"0" * (first[2] - first[1] - 2) + pdf[first[2] - 1 :],
        )


def moved(genuine: Genuine, other: Genuine, impostor: MemoryKeyStore) -> Iterator[Attack]:
    family = "signature-moved"
    own_base = eof_ends(genuine.pdf)[0]
    other_base = other.pdf[: eof_ends(other.pdf)[0]]
    yield Attack(
        family, f"{genuine.label} update-on-{other.label}", other_base + genuine.pdf[own_base:]
    )
    a, b = _contents_gap(genuine.pdf)
    oa, ob = _contents_gap(other.pdf)
    cms = genuine.pdf[a:b]
    transplanted = other.pdf[:oa] + cms[: ob - oa].ljust(ob - oa, b"0")[:-1] + b">" + other.pdf[ob:]
    yield Attack(family, f"{genuine.label} cms-into-{other.label}", transplanted)
    foreign = qr_page("https://example.org", "Entrepreneurship Diploma", None)
    yield Attack(family, f"{genuine.label} prefixed-by-other", foreign + genuine.pdf)
    yield Attack(family, f"{genuine.label} update-on-other-pdf", foreign + genuine.pdf[own_base:])
    self_signed = impostor.pdf_signer().sign(foreign, genuine.record)
    sa, sb = _contents_gap(self_signed)
    swapped = self_signed[:sa] + cms[: sb - sa].ljust(sb - sa, b"0")[:-1] + b">" + self_signed[sb:]
    yield Attack(family, f"{genuine.label} cms-into-other-pdf", swapped)
    yield Attack(family, f"{genuine.label} impostor-signed-record", self_signed)
    yield Attack(
        family,
        f"{genuine.label} impostor-resigned-{other.label}",
        impostor.pdf_signer().sign(other_base, genuine.record),
    )
    yield Attack(family, f"{genuine.label} update-twice", genuine.pdf + genuine.pdf[own_base:])


def pasted_qr(genuine: Genuine, other: Genuine, impostor: MemoryKeyStore) -> Iterator[Attack]:
    family = "qr-pasted"
    text = genuine.claims.qr_text
    caption = "Forged Person - Entrepreneurship Diploma"
    yield Attack(family, f"{genuine.label} bare-page", qr_page(text, caption))
    yield Attack(family, f"{genuine.label} page+record", qr_page(text, caption, genuine.record))
    yield Attack(
        family,
        f"{genuine.label} page+record impostor-signed",
        impostor.pdf_signer().sign(qr_page(text, caption), genuine.record),
    )
    yield Attack(
        family,
        f"{genuine.label} qr-on-{other.label}",
        update_with(other.pdf, lambda w: _draw_on_page(w, _qr_overlay(text))),
    )
    yield Attack(
        family,
        f"{genuine.label} qr+record-on-{other.label}",
        update_with(
            update_with(other.pdf, lambda w: _draw_on_page(w, _qr_overlay(text))),
            _swap_record(genuine.record),
        ),
    )
    base = other.pdf[: eof_ends(other.pdf)[0]]
    yield Attack(
        family,
        f"{genuine.label} qr-on-{other.label}-base+signature",
        update_with(base, lambda w: _draw_on_page(w, _qr_overlay(text)))
        + genuine.pdf[eof_ends(genuine.pdf)[0] :],
    )


_USF_CONTENTS = (
    b"/Contents null",
    b"/Contents <>",
    b"/Contents ()",
    b"/Contents 0",
    b"/Contentz <00>",
)
_USF_RANGES = (
    b"/ByteRange null",
    b"/ByteRange []",
    b"/ByteRange [0 0 0 0]",
    b"/ByteRange [0 -1 0 -1]",
    b"/ByteRangX [0 0 0 0]",
    b"/ByteRange (0 1 2 3)",
    b"/ByteRange [0 1 2]",
    b"/ByteRange [0 99999999 0 0]",
    b"/ByteRange [0 1 2 3 4 5]",
)


def usf(genuine: Genuine) -> Iterator[Attack]:
    """Universal signature forgery: /Contents or /ByteRange missing, null or malformed, in
    the signed file itself and on a copy whose page was changed by an update."""
    family = "usf"
    changed = update_with(genuine.pdf, lambda w: _draw_on_page(w, FORGED_TEXT))
    for base_label, base in (("", genuine.pdf), (" +text", changed)):
        a, b = _contents_gap(base)
        value = base[a - len(b"/Contents ") : b]
        for new in _USF_CONTENTS:
            yield Attack(
                family,
                f"{genuine.label}{base_label} {new.decode()}",
                _same_length(base, value, new),
            )
        old_range = re.findall(rb"/ByteRange \[[^\]]*\]", base)[-1]
        for new in _USF_RANGES:
            if len(new) <= len(old_range):
                yield Attack(
                    family,
                    f"{genuine.label}{base_label} {new.decode()}",
                    _same_length(base, old_range, new),
                )
    # a fresh signature dictionary written by an update, with malformed values
    sig_number = _sig_object_number(genuine.pdf)
    for new in (
        b"/Contents null /ByteRange null",
        b"/ByteRange [0 0 0 0]",
        b"/Contents <30> /ByteRange []",
    ):
        body = (
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached " + new + b" >>"
        )
        yield Attack(
            family,
            f"{genuine.label} redefined {new.decode()}",
            raw_update(changed, {sig_number: body}),
        )


def _sig_object_number(pdf: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(pdf))
    ref = reader.embedded_signatures[-1].sig_field.raw_get("/V")
    number: int = ref.idnum
    return number


def _content_number(pdf: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(pdf))
    contents = _page(reader)[1].raw_get("/Contents")
    ref = contents.raw_get(0) if isinstance(contents, generic.ArrayObject) else contents
    number: int = ref.idnum
    return number


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def isa(genuine: Genuine) -> Iterator[Attack]:
    """Incremental saving attacks: a content object redefined after signing, with the
    update's xref and trailer in each of the shapes the research tried."""
    family = "isa"
    number = _content_number(genuine.pdf)
    body = {number: _stream(b"BT /F1 40 Tf 120 270 Td (Forged Person) Tj ET")}
    pdf = genuine.pdf
    yield Attack(family, f"{genuine.label} xref+trailer", raw_update(pdf, body))
    yield Attack(
        family, f"{genuine.label} body-only", raw_update(pdf, body, xref=False, trailer=False)
    )
    yield Attack(family, f"{genuine.label} no-xref", raw_update(pdf, body, xref=False))
    yield Attack(family, f"{genuine.label} no-trailer", raw_update(pdf, body, trailer=False))
    yield Attack(family, f"{genuine.label} bad-prev", raw_update(pdf, body, prev=0))
    yield Attack(
        family, f"{genuine.label} sig-freed", raw_update(pdf, {}, free=[_sig_object_number(pdf)])
    )
    yield Attack(family, f"{genuine.label} content-freed", raw_update(pdf, {}, free=[number]))
    # the update's xref section squeezed into the end of the signed file's last line
    inplace = raw_update(pdf, body)
    yield Attack(family, f"{genuine.label} eof-stripped", inplace.replace(b"%%EOF", b"%%EOX", 1))


def wrapping(genuine: Genuine) -> Iterator[Attack]:
    """Signature wrapping: the second signed part moved further on, the /ByteRange
    rewritten to point at it, and new content in the gap that the signature leaves out."""
    family = "wrapping"
    pdf = genuine.pdf
    _start, first, second, length = byte_ranges(pdf)[-1]
    hex_digits = pdf[first + 1 : second - 1].rstrip(b"0")
    if len(hex_digits) % 2:
        hex_digits += b"0"
    number = _content_number(pdf)
    injected = b"\n%d 0 obj\n%s\nendobj\n" % (
        number,
        _stream(b"BT /F1 40 Tf 120 270 Td (Forged Person) Tj ET"),
    )
    for variant in ("gap", "gap+xref", "padded"):
        new_second = first + 2 + len(hex_digits) + len(injected) + 80
        new_range = b"/ByteRange [0 %d %d %d]" % (first, new_second, length)
        gap = b"<" + hex_digits + b"> " + new_range + b" >>\nendobj\n" + injected
        gap = gap.ljust(new_second - first, b" ")
        moved = pdf[:first] + gap + pdf[second : second + length]
        if variant == "gap+xref":
            moved = raw_update(moved, {number: _stream(b"BT /F1 40 Tf (Forged) Tj ET")})
        elif variant == "padded":
            moved = pdf[:first] + b"<" + hex_digits + b">" + injected + pdf[second:]
        yield Attack(family, f"{genuine.label} {variant}", moved)
    # same length: a /ByteRange pointing at a copy of the signed part placed in the gap
    yield Attack(
        family,
        f"{genuine.label} range-shifted",
        _same_length(
            pdf,
            b"/ByteRange [0 %d %d %d]" % (first, second, length),
            b"/ByteRange [0 %d %d %d]" % (first, second + 1, length - 1),
        ),
    )


def _hidden_fake(writer: IncrementalPdfFileWriter) -> tuple[Any, Any]:
    """Prepare, before signing: a fake text stream and a white cover stream over it, both
    drawn on the page (so the fake is hidden in the signed view)."""
    page_ref, page = _page(writer)
    fake_form = _form(writer, b"BT /F1 30 Tf 0 0 1 rg 120 80 Td (Grade: A+ with honours) Tj ET")
    cover = writer.add_object(generic.StreamObject(stream_data=b"q 1 1 1 rg 100 60 640 70 re f Q"))
    fake = writer.add_object(generic.StreamObject(stream_data=b"q /Shadow Do Q"))
    resources = generic.DictionaryObject(dict(page["/Resources"].items()))
    resources[generic.pdf_name("/XObject")] = generic.DictionaryObject(
        {generic.pdf_name("/Shadow"): fake_form}
    )
    page[generic.pdf_name("/Resources")] = resources
    contents = page.raw_get("/Contents")
    existing = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
    page[generic.pdf_name("/Contents")] = generic.ArrayObject([*existing, fake, cover])
    writer.update_container(page)
    return page_ref, cover


def shadow(
    genuine: Genuine,
    sign: Callable[[bytes, bytes], bytes],
) -> Iterator[Attack]:
    """Shadow attacks: content prepared before signing, signed with the institution's own
    PadesSigner (as if the attacker had got it signed), then activated by an update."""
    family = "shadow"
    base = genuine.pdf[: eof_ends(genuine.pdf)[0]]

    # hide: the fake is drawn but covered; the update uncovers it
    refs: dict[str, Any] = {}

    def prepare_hide(writer: IncrementalPdfFileWriter) -> None:
        refs["page"], refs["cover"] = _hidden_fake(writer)

    prepared = update_with(base, prepare_hide)
    signed = sign(prepared, genuine.record)
    cover = refs["cover"].idnum
    yield Attack(
        family, f"{genuine.label} hide: cover emptied", raw_update(signed, {cover: _stream(b"")})
    )
    yield Attack(family, f"{genuine.label} hide: cover freed", raw_update(signed, {}, free=[cover]))

    def uncover(writer: IncrementalPdfFileWriter) -> None:
        _, page = _page(writer)
        page[generic.pdf_name("/Contents")] = generic.ArrayObject(
            list(page.raw_get("/Contents"))[:-1]
        )
        writer.update_container(page)

    yield Attack(family, f"{genuine.label} hide: contents shortened", update_with(signed, uncover))

    # replace: a form field whose value and appearance are swapped after signing
    def prepare_field(writer: IncrementalPdfFileWriter) -> None:
        appearance = _form(writer, b"BT /F1 12 Tf 0 0 Td (note) Tj ET")
        widget = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
                generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
                generic.pdf_name("/T"): generic.pdf_string("note"),
                generic.pdf_name("/V"): generic.pdf_string("note"),
                generic.pdf_name("/Rect"): _rect(0, 0, 842, 595),
                generic.pdf_name("/AP"): generic.DictionaryObject(
                    {generic.pdf_name("/N"): appearance}
                ),
            }
        )
        ref = writer.add_object(widget)
        refs["field"] = ref
        _, page = _page(writer)
        page[generic.pdf_name("/Annots")] = generic.ArrayObject([ref])
        writer.update_container(page)
        writer.root[generic.pdf_name("/AcroForm")] = generic.DictionaryObject(
            {generic.pdf_name("/Fields"): generic.ArrayObject([ref])}
        )
        writer.update_root()

    signed_field = sign(update_with(base, prepare_field), genuine.record)

    def fill(writer: IncrementalPdfFileWriter) -> None:
        ref = refs["field"]
        widget = ref.get_object()
        widget[generic.pdf_name("/V")] = generic.pdf_string("Forged Person")
        widget[generic.pdf_name("/AP")] = generic.DictionaryObject(
            {generic.pdf_name("/N"): _form(writer, FORGED_TEXT)}
        )
        writer.mark_update(ref)

    yield Attack(family, f"{genuine.label} replace: field value", update_with(signed_field, fill))
    fake_number = _shadow_stream_number(signed)
    yield Attack(
        family,
        f"{genuine.label} replace: drawn stream redefined",
        raw_update(signed, {fake_number: _stream(FORGED_TEXT.replace(b"/F1 40", b"/F1 1"))}),
    )

    # hide-and-replace: a whole shadow page signed unused; the update only points at it
    def prepare_shadow(writer: IncrementalPdfFileWriter) -> None:
        fake = writer.add_object(generic.StreamObject(stream_data=b"q /Shadow Do Q"))
        form = _form(writer, FORGED_TEXT)
        _, page = _page(writer)
        shadow_page = generic.DictionaryObject(dict(page.items()))
        resources = generic.DictionaryObject(dict(page["/Resources"].items()))
        resources[generic.pdf_name("/XObject")] = generic.DictionaryObject(
            {generic.pdf_name("/Shadow"): form}
        )
        shadow_page[generic.pdf_name("/Resources")] = resources
        shadow_page[generic.pdf_name("/Contents")] = generic.ArrayObject(
            [page.raw_get("/Contents"), fake]
        )
        refs["shadow_page"] = writer.add_object(shadow_page)
        refs["shadow_content"] = fake

    signed_shadow = sign(update_with(base, prepare_shadow), genuine.record)
    content = _content_number(signed_shadow)

    def point_at_shadow(writer: IncrementalPdfFileWriter) -> None:
        pages = writer.root["/Pages"]
        pages[generic.pdf_name("/Kids")] = generic.ArrayObject([refs["shadow_page"]])
        writer.update_container(pages)

    yield Attack(
        family,
        f"{genuine.label} hide-and-replace: kids",
        update_with(signed_shadow, point_at_shadow),
    )
    yield Attack(
        family,
        f"{genuine.label} hide-and-replace: content object",
        raw_update(signed_shadow, {content: _stream(b"q /Shadow Do Q")}),
    )

    def page_contents(writer: IncrementalPdfFileWriter) -> None:
        _, page = _page(writer)
        page[generic.pdf_name("/Contents")] = refs["shadow_content"]
        writer.update_container(page)

    yield Attack(
        family,
        f"{genuine.label} hide-and-replace: contents",
        update_with(signed_shadow, page_contents),
    )


def _shadow_stream_number(pdf: bytes) -> int:
    reader = PdfFileReader(io.BytesIO(pdf))
    contents = _page(reader)[1].raw_get("/Contents")
    number: int = contents.raw_get(len(contents) - 2).idnum
    return number


# -- the corpus -------------------------------------------------------------------------


NAMES = (
    ("زهرا محمدی‌نژاد", "Zahra Mohammadinejad", ()),
    ("علی رضایی", "Ali Rezaei", ("samt",)),
    ("مریم احمدی", "Maryam Ahmadi", ()),
)

IMPOSTOR = Institution(
    slug="tbzmed",
    name="دانشگاه جعلی",
    name_en="Impostor University",
    public_url="http://127.0.0.1:8000",
    serial_prefix="TBZMED",
)


def issue_genuine(service: Any) -> list[Genuine]:
    out = []
    for name, name_en, co in NAMES:
        outcome = service.issue({"name": name, "name_en": name_en, "co_issuers": list(co)})
        record = _attached_record(outcome.pdf)
        claims = claims_from_credential(parse_record(record))
        label = name_en.split()[0].lower() + ("+samt" if co else "")
        out.append(Genuine(label, outcome.pdf, record, claims))
    return out


def _attached_record(pdf: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(pdf))
    names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    data: bytes = names[1]["/EF"]["/F"].data
    return data


def corpus(service: Any, *, scale: str = "full", seed: int = 20261126) -> Corpus:
    """Genuine diplomas issued by `service` and the attacks derived from them.

    `scale="full"`: at least 1,000 attacks; `"fast"`: a sample of every family (the flips
    and truncations thinned out) for the test suite.
    """
    rng = random.Random(seed)
    genuine = issue_genuine(service)
    impostor = MemoryKeyStore(IMPOSTOR, _now(service))
    per_region, cuts = (28, 30) if scale == "full" else (2, 5)
    targets = genuine if scale == "full" else genuine[:2]
    out = Corpus(genuine)

    def sign(pdf: bytes, record: bytes, co: bool) -> bytes:
        signed: bytes = service.pdf_signer.sign(pdf, record)
        if co:
            signed = service.co_issuer_keys["samt"].pdf_signer().sign_additional(signed)
        return signed

    for index, g in enumerate(targets):
        other = genuine[(index + 2) % len(genuine)] if index != 2 else genuine[0]
        co = "+samt" in g.label
        out.attacks.extend(flips(g, per_region, rng))
        out.attacks.extend(truncations(g, cuts, rng))
        out.attacks.extend(appended(g))
        out.attacks.extend(incremental(g, other))
        out.attacks.extend(resaved(g))
        out.attacks.extend(removed(g))
        out.attacks.extend(moved(g, other, impostor))
        out.attacks.extend(pasted_qr(g, other, impostor))
        out.attacks.extend(usf(g))
        out.attacks.extend(isa(g))
        out.attacks.extend(wrapping(g))
        out.attacks.extend(shadow(g, lambda pdf, record, co=co: sign(pdf, record, co)))
    return out


def _now(service: Any) -> Any:
    return service.clock.now()


def renamed(genuine: Genuine) -> Genuine:
    return replace(genuine, label=genuine.label + " (renamed copy)")


def contents_hex_is_canonical(pdf: bytes) -> bool:
    """Our own coverage check, independent of the validator: each /ByteRange is [0 a b c],
    the last one ends at the end of the file, and the gap between is exactly `<HEX>`."""
    ranges = byte_ranges(pdf)
    if not ranges or ranges[-1][2] + ranges[-1][3] != len(pdf):
        return False
    for start, first, second, _length in ranges:
        gap = pdf[first:second]
        if start != 0 or not (gap.startswith(b"<") and gap.endswith(b">")):
            return False
        digits = gap[1:-1]
        if not re.fullmatch(rb"[0-9A-F]*", digits) or len(digits) % 2:
            return False
        binascii.unhexlify(digits)
    return True


def independent_coverage_ok(pdf: bytes) -> bool:
    """`contents_hex_is_canonical`, and each signature's CMS messageDigest equals SHA-256
    of the bytes its /ByteRange names (parsed with asn1crypto only, no PDF library)."""
    if not contents_hex_is_canonical(pdf):
        return False
    for _start, first, second, length in byte_ranges(pdf):
        der = binascii.unhexlify(pdf[first + 1 : second - 1])
        try:
            info = asn1_cms.ContentInfo.load(der.rstrip(b"\x00"))
            signer = info["content"]["signer_infos"][0]
            digests = [
                a["values"][0].native
                for a in signer["signed_attrs"]
                if a["type"].native == "message_digest"
            ]
        except (ValueError, KeyError, IndexError, TypeError):
            return False
        covered = pdf[:first] + pdf[second : second + length]
        if digests != [hashlib.sha256(covered).digest()]:
            return False
    return True
