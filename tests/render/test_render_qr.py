"""The verification QR code: what it encodes, how big it may get, how it is printed."""

from __future__ import annotations

from typing import cast

import pypdfium2
import pytest
import qrcode
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M
from qrcode.util import MODE_8BIT_BYTE, QRData
from reportlab.lib.units import mm

from diplomas.core.credential import PublicClaims
from diplomas.core.errors import ConfigurationError
from diplomas.render import BUILTIN_DESIGNS, TemplateRenderer
from diplomas.render.qr import MASK_PATTERN, MAX_VERSION, QUIET_ZONE, QrCode, encode, version_for

TEMPLATES = BUILTIN_DESIGNS
REALISTIC_URL = "https://diplomas.tbzmed.ac.ir/v/" + "8Zq3mXn2Wd7Lk5Pr9Tb4Hc"


def test_realistic_verify_url_fits_a_small_version() -> None:
    assert len(REALISTIC_URL) == 32 + 22
    code = encode(REALISTIC_URL)
    assert code.version <= MAX_VERSION
    assert code.modules == 17 + 4 * code.version


def test_runs_redraw_a_symbol_of_the_version_level_and_mask_asked_for() -> None:
    code = encode(REALISTIC_URL)
    assert decoded(code) == (version_for(REALISTIC_URL), REALISTIC_URL)
    # The same version as the reference encoder fits for the same bytes.
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    reference.add_data(QRData(REALISTIC_URL.encode(), mode=MODE_8BIT_BYTE))
    assert reference.best_fit() == code.version


def test_longest_text_of_version_15_is_accepted_and_one_more_byte_refused() -> None:
    # Version 15 at level M holds 412 bytes in byte mode.
    longest = "https://x.example/v/" + "a" * (412 - 20)
    assert encode(longest).version == MAX_VERSION
    with pytest.raises(ConfigurationError, match="public URL"):
        encode(longest + "a")


@pytest.mark.parametrize("template", TemplateRenderer(TEMPLATES).names())
def test_printed_symbol_scans_with_level_m_fixed_mask_and_is_34_mm_wide(
    renderer: TemplateRenderer, claims: PublicClaims, template: str
) -> None:
    dpi = 200
    document = pypdfium2.PdfDocument(renderer.render(claims, template))
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    (result,) = zxingcpp.read_barcodes(image)
    assert result.text == claims.qr_text
    assert result.text.startswith(claims.verify_url + "#1.")
    assert result.ec_level == "M"
    extra = cast("dict[str, object]", result.extra)
    assert extra["DataMask"] == MASK_PATTERN
    assert int(str(extra["Version"])) <= MAX_VERSION
    position = result.position
    width_px = position.top_right.x - position.top_left.x
    assert width_px / dpi * 25.4 >= 33.5


def test_quiet_zone_is_four_modules_of_background(
    renderer: TemplateRenderer, claims: PublicClaims
) -> None:
    placed = renderer.layout(claims, "classic").qr
    side = placed.code.modules * placed.module
    assert placed.module * placed.code.modules == pytest.approx(34 * mm)
    assert placed.quiet_zone.width == pytest.approx(side + 8 * placed.module)
    assert placed.quiet_zone.x == pytest.approx(placed.x - 4 * placed.module)


def reference_matrix(text: str) -> tuple[int, list[list[bool]]]:
    """The `qrcode` package's symbol for `text` in byte mode, level M, the same mask, with
    the version left for `qrcode` to fit (`encode` looks it up by length instead)."""
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=MASK_PATTERN)
    reference.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    reference.make(fit=True)
    return reference.version, reference.get_matrix()


def matrix(code: QrCode) -> list[list[bool]]:
    out = [[False] * code.modules for _ in range(code.modules)]
    for row, runs in enumerate(code.runs):
        for col, length in runs:
            out[row][col : col + length] = [True] * length
    return out


# The longest text of each version at level M in byte mode (ISO/IEC 18004 table 7).
CAPACITY = {1: 14, 2: 26, 3: 42, 4: 62, 5: 84, 6: 106, 7: 122, 8: 152, 9: 180, 10: 213}


def decoded(code: QrCode) -> tuple[int, str]:
    """The version and text a reader takes from the drawn runs."""
    scale, quiet = 4, QUIET_ZONE
    side = (code.modules + 2 * quiet) * scale
    image = Image.new("L", (side, side), 255)
    for row, runs in enumerate(code.runs):
        for col, length in runs:
            x, y = (col + quiet) * scale, (row + quiet) * scale
            image.paste(0, (x, y, x + length * scale, y + scale))
    (result,) = zxingcpp.read_barcodes(image)
    assert result.ec_level == "M"
    extra = cast("dict[str, object]", result.extra)
    assert extra["DataMask"] == MASK_PATTERN
    return int(str(extra["Version"])), result.text


@pytest.mark.parametrize("version", sorted(CAPACITY))
def test_every_version_reads_as_the_text_at_the_reference_encoders_version(version: int) -> None:
    for length in (CAPACITY[version], CAPACITY[version] - 1):
        text = ("https://diplomas.example/v/" + "8Zq3mXn2Wd7Lk5Pr9Tb4Hc" * 10)[:length]
        code = encode(text)
        assert code.version == reference_matrix(text)[0] == version
        assert decoded(code) == (version, text)
    if version < MAX_VERSION:
        assert encode("a" * (CAPACITY[version] + 1)).version == version + 1


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=213).filter(bool)
)
def test_any_ascii_text_reads_back_at_the_reference_encoders_version(text: str) -> None:
    code = encode(text)
    assert code.version == version_for(text) == reference_matrix(text)[0]
    assert decoded(code) == (code.version, text)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=100).filter(lambda t: not t.isascii()))
def test_any_other_text_is_the_reference_encoders_symbol(text: str) -> None:
    code = encode(text)
    assert (code.version, matrix(code)) == reference_matrix(text)


@pytest.mark.parametrize("version", [1, 4, 7, 10])
def test_symbols_of_each_size_decode(version: int) -> None:
    text = ("https://diplomas.example/v/" + "8Zq3mXn2Wd7Lk5Pr9Tb4Hc" * 10)[: CAPACITY[version]]
    assert decoded(encode(text)) == (version, text)
