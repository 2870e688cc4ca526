"""The rendered PDF, looked at the way a person or another program would: rasterised and
scanned, text extracted by poppler, fonts listed by pdffonts."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pypdfium2
import pytest
import zxingcpp
from PIL.Image import Image
from reportlab.lib.units import mm
from reportlab.pdfbase.ttfonts import TTFontFace

from diplomas.core.credential import PublicClaims
from diplomas.core.dates import format_gregorian, format_solar_hijri
from diplomas.render import TemplateRenderer

A4_LANDSCAPE = (841.89, 595.28)
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u200e\u200f]")


def first_page(pdf: bytes, dpi: int = 200) -> Image:
    document = pypdfium2.PdfDocument(pdf)
    try:
        image: Image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    return image


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [document[i].get_size() for i in range(len(document))]
    finally:
        document.close()


def pdftotext(pdf: bytes, *args: str) -> str:
    """poppler's text, NFKC-normalised (presentation forms back to letters) and without
    the bidi embedding marks poppler wraps right-to-left runs in."""
    out = subprocess.run(["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True)
    return _BIDI_CONTROLS.sub("", unicodedata.normalize("NFKC", out.stdout.decode("utf-8")))


def squash(text: str) -> str:
    """`text` without whitespace, quotes or brackets, for comparing Persian that mixes in
    digits. poppler attaches the space beside a run of digits to the wrong side of it, and
    it reports a mirrored glyph as drawn: «…» is drawn as the glyph of » on the right, and
    extracted so."""
    return re.sub(r"[\s«»()\[\]]+", "", text)


def words(text: str) -> list[str]:
    return re.findall(r"[\w\u200c]+", text)


def has_words(expected: str, text: str) -> bool:
    """Every word of `expected` is a word of `text`. poppler takes the Persian comma for
    a left-to-right character and may swap the clauses around it, so sentences with one
    are compared word by word."""
    found = set(words(text))
    return all(w in found for w in words(expected))


def latin_vs_persian_letters(text: str) -> tuple[int, int]:
    latin = sum(1 for c in text if unicodedata.bidirectional(c) == "L" and c.isalpha())
    return latin, sum(1 for c in text if unicodedata.bidirectional(c) in ("R", "AL"))


def pdffonts(pdf: bytes, folder: Path) -> list[dict[str, str]]:
    path = folder / "diploma.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, check=True, text=True
    ).stdout.splitlines()
    header, rule, *rows = out
    columns = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    names = [
        header[a:b].strip() if i < len(columns) - 1 else header[a:].strip()
        for i, (a, b) in enumerate(columns)
    ]
    return [{n: row[a:b].strip() for n, (a, b) in zip(names, columns, strict=True)} for row in rows]


@pytest.fixture(scope="module")
def pdf(renderer: TemplateRenderer, claims: PublicClaims) -> bytes:
    return renderer.render(claims, "classic")


def test_one_a4_landscape_page(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert page_sizes(pdf) == [pytest.approx(A4_LANDSCAPE, abs=0.01)]


def test_qr_code_scans_to_the_verify_url(pdf: bytes, claims: PublicClaims) -> None:
    image = first_page(pdf, dpi=200)
    codes = [
        r.text for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode
    ]
    assert codes == [claims.qr_text]


def test_qr_code_scans_at_print_resolution_of_a_phone_photo(
    pdf: bytes, claims: PublicClaims
) -> None:
    # A coarse greyscale raster, nearer to a phone photo of the paper than the 200 dpi one.
    image = first_page(pdf, dpi=100).convert("L")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [claims.qr_text]


def test_extracted_text_reads_in_logical_order(pdf: bytes, claims: PublicClaims) -> None:
    text = pdftotext(pdf)
    assert "\u200c" in claims.name
    assert claims.name in text  # with its ZWNJ: «محمدی‌نژاد», not «محمدینژاد»
    assert claims.award in text
    assert claims.name_en in text
    assert claims.serial in text
    assert format_gregorian(claims.issued_on) in text
    assert claims.verify_url in text
    assert "به پاس تلاش‌های ارزشمند در تأسیس و توسعهٔ شرکت دانش‌بنیان" in text
    # On this page English outweighs Persian, so poppler reads the mixed date line left
    # to right (see the next test); every character of the date is on that line.
    date = format_solar_hijri(claims.issued_on)
    date_lines = [line for line in text.splitlines() if "آذر" in line and "۱۴۰۵" in line]
    assert [sorted(squash(line)) for line in date_lines] == [sorted(squash(date))]


def test_solar_hijri_date_and_citation_read_in_logical_order(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    """pdftotext picks one reading direction for a whole page, by counting Latin against
    Persian letters, and sets lines that mix Persian with digits in that direction. On a
    page with more Persian than Latin letters, as a diploma with a citation has, the date
    and the digits in the citation come out in logical order. (Where English outweighs
    Persian, poppler reads «۱۴۰۵ آذر ۵»; the drawn page is the same either way.)"""
    claims = claims_with(
        name_en="",
        citation=claims_with().citation + " با همکاری "
        "پژوهشگران دانشگاه و حمایت صندوق نوآوری و شکوفایی",
    )
    text = pdftotext(renderer.render(claims, "classic"))
    latin, persian = latin_vs_persian_letters(text)
    assert persian > latin
    assert squash(format_solar_hijri(claims.issued_on)) in squash(text)
    assert squash(claims.citation) in squash(text)
    assert claims.name in text


def test_layout_mode_extraction_also_reads_the_name(pdf: bytes, claims: PublicClaims) -> None:
    assert claims.name in pdftotext(pdf, "-layout")


def test_co_issued_diploma_names_both_institutions(pdf: bytes, claims: PublicClaims) -> None:
    text = pdftotext(pdf)
    for issuer in claims.issuers:
        assert issuer.name_en in text
        assert has_words(issuer.name, text)
    for person in claims.signatories:
        assert person.name in text
        assert person.title_en in text


def test_single_issuer_diploma(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    claims = claims_with(
        issuers=claims_with().issuers[:1], signatories=claims_with().signatories[:1]
    )
    text = pdftotext(renderer.render(claims, "classic"))
    assert claims.issuers[0].name_en in text
    assert "East Azerbaijan" not in text
    assert claims.signatories[0].name in text


def test_fonts_are_embedded_subsets(pdf: bytes, tmp_path: Path) -> None:
    fonts = pdffonts(pdf, tmp_path)
    assert fonts, "no fonts listed"
    for font in fonts:
        assert font["emb"] == "yes", font
        assert font["sub"] == "yes", font
        assert font["uni"] == "yes", font
        assert "Vazirmatn" in font["name"], font


def test_longest_values_render_and_extract(
    renderer: TemplateRenderer, longest: PublicClaims
) -> None:
    pdf = renderer.render(longest, "classic")
    assert len(page_sizes(pdf)) == 1
    text = pdftotext(pdf)
    assert squash(longest.award_en.upper()) in squash(text)
    assert squash(longest.citation) in squash(text)


def test_words_stay_on_the_page(renderer: TemplateRenderer, longest: PublicClaims) -> None:
    html = pdftotext(renderer.render(longest, "classic"), "-bbox")
    page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', html)
    assert page
    width, height = float(page.group(1)), float(page.group(2))
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)"', html
    )
    assert len(words) > 50
    for box in words:
        x0, y0, x1, y1 = map(float, box)
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height, box


def test_same_claims_give_the_same_bytes(renderer: TemplateRenderer, claims: PublicClaims) -> None:
    assert renderer.render(claims, "classic") == renderer.render(claims, "classic")


def test_document_metadata(pdf: bytes, claims: PublicClaims) -> None:
    document = pypdfium2.PdfDocument(pdf)
    try:
        metadata = document.get_metadata_dict()
    finally:
        document.close()
    assert claims.name in metadata["Title"]
    assert claims.serial in metadata["Subject"]


def test_pages_rendered_on_many_threads_are_intact(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims]
) -> None:
    # The subsetter reads the parsed font through a cursor; each subset is cut from its
    # own copy. Accented names need subsets made for their page, first on many threads
    # at once (the English name of the first half), then from the cache.
    accents = "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝàáâãäåæçèéêëìíîïñòóôõöøùúûüý"
    batch = [
        claims_with(serial=f"TBZMED-1405-{i:06d}", name_en=f"Zahra {accents[i % 12 :: 12]}")
        for i in range(24)
    ]
    with ThreadPoolExecutor(6) as pool:
        rendered = list(pool.map(lambda c: renderer.render(c, "classic"), batch))
    assert rendered == [renderer.render(c, "classic") for c in batch]
    for claims, pdf in zip(batch[:3], rendered, strict=False):
        assert claims.name_en in pdftotext(pdf)


def test_characters_beyond_the_common_ones_are_embedded_and_extracted(
    renderer: TemplateRenderer, claims_with: Callable[..., PublicClaims], tmp_path: Path
) -> None:
    # Accented Latin letters and Arabic vowel marks are in the font but not in the
    # subsets every page shares; they go into subsets of their own.
    claims = claims_with(name_en="José Núñez-Öztürk", citation="به پاسِ تلاشِ بی‌وقفهٔ اَو")
    pdf = renderer.render(claims, "classic")
    text = pdftotext(pdf)
    assert claims.name_en in text
    assert has_words(unicodedata.normalize("NFKC", claims.citation), text)
    fonts = pdffonts(pdf, tmp_path)
    assert len(fonts) > len(pdffonts(renderer.render(claims_with(), "classic"), tmp_path))
    assert all((f["emb"], f["sub"], f["uni"]) == ("yes", "yes", "yes") for f in fonts)


def test_cross_reference_table_points_at_every_object(pdf: bytes) -> None:
    # pyHanko appends the signature as an incremental update that relies on these offsets.
    start = int(pdf.rsplit(b"startxref", 1)[1].split()[0])
    assert pdf[start:].startswith(b"xref\n0 ")
    header, *rows = pdf[start:].split(b"trailer")[0].splitlines()[1:]
    count = int(header.split()[1])
    assert len(rows) == count and rows[0].startswith(b"0000000000 65535 f")
    for number, row in enumerate(rows[1:], 1):
        offset = int(row.split()[0])
        assert pdf[offset:].startswith(b"%d 0 obj" % number), number
    checked = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    assert checked.stderr == b""


def test_a_diploma_embeds_one_common_subset_per_font_and_stays_small(
    renderer: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    pdf: bytes,
    tmp_path: Path,
) -> None:
    # Each weight the page uses is one subset, the same on every page (ASCII, Persian in
    # all its forms, digits, punctuation), so that it is built once per process.
    fonts = [f["name"] for f in pdffonts(pdf, tmp_path)]
    assert sorted(fonts) == ["AAAAAA+Vazirmatn-Bold", "AAAAAA+Vazirmatn-Regular"]
    other = renderer.render(
        claims_with(name="علی رضایی", name_en="Ali Rezaei", serial="TBZMED-1405-000999"),
        "classic",
    )
    assert font_files(other) == font_files(pdf)
    assert len(pdf) < 55_000


def font_files(pdf: bytes) -> list[bytes]:
    """The embedded font programs (the streams with a /Length1), in the PDF's order."""
    found = re.findall(rb"<<[^>]*/Length1[^>]*>>\s*stream\r?\n(.*?)endstream", pdf, re.S)
    assert found
    return found


def test_the_common_subsets_are_built_once_per_process(
    renderer: TemplateRenderer,
    claims_with: Callable[..., PublicClaims],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renderer.render(claims_with(), "classic")
    built: list[int] = []
    make_subset = TTFontFace.makeSubset

    def counting(self: TTFontFace, subset: list[int]) -> bytes:
        built.append(len(subset))
        return make_subset(self, subset)  # type: ignore[no-any-return]

    monkeypatch.setattr(TTFontFace, "makeSubset", counting)
    other = claims_with(name="مریم احمدی", name_en="Maryam Ahmadi", serial="TBZMED-1405-000777")
    renderer.render(other, "classic")
    assert built == []
    # Letters no other test draws: their own subset, cut for this page, then reused.
    rare = claims_with(name_en="Łukasz Żak")
    renderer.render(rare, "classic")
    assert len(built) == 1
    renderer.render(rare, "classic")
    assert len(built) == 1


def test_the_longest_signed_qr_text_still_scans_from_a_coarse_photo(
    renderer: TemplateRenderer, longest: PublicClaims
) -> None:
    """The longest name and its signature make the largest symbol any diploma prints:
    it must still read from a coarse greyscale raster, with modules of 0.44 mm or more."""
    from diplomas.render import layout, qr

    placed = layout.lay_out(renderer.template("classic"), longest).qr
    assert placed.code.version <= qr.MAX_VERSION
    assert placed.module / mm >= 0.44
    image = first_page(renderer.render(longest, "classic"), dpi=100).convert("L")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [longest.qr_text]
