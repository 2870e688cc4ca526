"""The verification QR code: what it encodes, how big it may get, how it is printed."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pypdfium2
import pytest
import qrcode
import zxingcpp
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.units import mm

from diplomas.core.credential import PublicClaims
from diplomas.core.errors import ConfigurationError
from diplomas.render import TemplateRenderer
from diplomas.render.qr import MASK_PATTERN, MAX_VERSION, encode

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
REALISTIC_URL = "https://diplomas.tbzmed.ac.ir/v/" + "8Zq3mXn2Wd7Lk5Pr9Tb4Hc"


def test_realistic_verify_url_fits_a_small_version() -> None:
    assert len(REALISTIC_URL) == 32 + 22
    code = encode(REALISTIC_URL)
    assert code.version <= MAX_VERSION
    assert code.modules == 17 + 4 * code.version


def test_runs_redraw_exactly_the_encoded_matrix() -> None:
    reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=MASK_PATTERN)
    reference.add_data(REALISTIC_URL)
    reference.make(fit=True)
    code = encode(REALISTIC_URL)
    redrawn = [[False] * code.modules for _ in range(code.modules)]
    for row, runs in enumerate(code.runs):
        for col, length in runs:
            for i in range(col, col + length):
                redrawn[row][i] = True
    assert redrawn == reference.get_matrix()


def test_longest_url_of_version_10_is_accepted_and_one_more_byte_refused() -> None:
    # Version 10 at level M holds 213 bytes in byte mode.
    longest = "https://x.example/v/" + "a" * (213 - 20)
    assert encode(longest).version == MAX_VERSION
    with pytest.raises(ConfigurationError, match="public URL"):
        encode(longest + "a")


@pytest.mark.parametrize("template", TemplateRenderer(TEMPLATES).names())
def test_printed_symbol_scans_with_level_m_fixed_mask_and_is_30_mm_wide(
    renderer: TemplateRenderer, claims: PublicClaims, template: str
) -> None:
    dpi = 200
    document = pypdfium2.PdfDocument(renderer.render(claims, template))
    try:
        image = document[0].render(scale=dpi / 72).to_pil()
    finally:
        document.close()
    (result,) = zxingcpp.read_barcodes(image)
    assert result.text == claims.verify_url
    assert result.ec_level == "M"
    extra = cast("dict[str, object]", result.extra)
    assert extra["DataMask"] == MASK_PATTERN
    assert int(str(extra["Version"])) <= MAX_VERSION
    position = result.position
    width_px = position.top_right.x - position.top_left.x
    assert width_px / dpi * 25.4 >= 29.5


def test_quiet_zone_is_four_modules_of_background(
    renderer: TemplateRenderer, claims: PublicClaims
) -> None:
    placed = renderer.layout(claims, "classic").qr
    side = placed.code.modules * placed.module
    assert placed.module * placed.code.modules == pytest.approx(30 * mm)
    assert placed.quiet_zone.width == pytest.approx(side + 8 * placed.module)
    assert placed.quiet_zone.x == pytest.approx(placed.x - 4 * placed.module)
