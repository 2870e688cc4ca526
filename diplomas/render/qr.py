"""The verification QR code: encoded by zxing-cpp (its version fitted by the `qrcode`
package), drawn as vector rectangles.

Error correction M survives a scuffed or folded paper copy. The text is the verify URL
with its signed fragment (`core.qrproof`): about 210 bytes for a typical name, version 10
(57 modules), 355 bytes and version 14 (73 modules) for the longest name the core accepts,
and at most version 15 (77 modules) allowing for a longer public URL. Printed as a 34 mm
square that makes modules of 0.60 mm (version 10) down to 0.44 mm (version 15), which
ordinary phone cameras read from a hand's length; larger versions are refused. The data is
always one byte-mode segment, so the version depends only on the text's length in bytes
and is looked up once per length instead of fitted per page. The mask is fixed because
choosing the best one tries all eight and costs about five times the whole encoding; any
mask gives a valid symbol, the best one only slightly fewer look-alike patterns.

The symbol itself is made by zxing-cpp's encoder (C++, already here for reading codes):
0.3 ms a page where the pure-Python `qrcode` encoder took 8.8 ms, more than half of a
signed page's whole cost in a batch (see bench/README.md). The verification text is
ASCII (the URL and base64url); a text that is not (an address in Unicode) is encoded by
`qrcode` as before. Both make a valid symbol of the same version, level and mask that
reads as the same text; they may segment and pad it differently, so the drawings differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import qrcode
import zxingcpp
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError
from qrcode.util import MODE_8BIT_BYTE, QRData

from ..core.errors import ConfigurationError

MAX_VERSION = 15
# Bytes a byte-mode symbol holds at level M, by version (ISO/IEC 18004, table 7).
CAPACITY_M = {10: 213, 11: 251, 12: 287, 13: 331, 14: 362, 15: 412}
QUIET_ZONE = 4
"""Light modules around the symbol that readers need to find it (ISO/IEC 18004)."""
MASK_PATTERN = 2


@dataclass(frozen=True)
class QrCode:
    """An encoded symbol: its version and, per row, the dark runs as (column, length)."""

    text: str
    version: int
    modules: int
    runs: tuple[tuple[tuple[int, int], ...], ...]


def version_for(text: str) -> int:
    """The smallest version that holds `text` (UTF-8, byte mode) at level M;
    ConfigurationError if it needs one above the largest that prints readably."""
    return version_for_length(len(text.encode("utf-8")))


def version_for_length(length: int) -> int:
    """The smallest version that holds `length` bytes at level M; ConfigurationError if it
    needs one above MAX_VERSION (the institution's public URL is too long)."""
    version = _version_for_length(length)
    if version > MAX_VERSION:
        raise ConfigurationError(
            f"the QR code's text is {length} bytes long; a QR code that prints readably "
            f"(version ≤ {MAX_VERSION}) holds {CAPACITY_M[MAX_VERSION]}: shorten the "
            "institution's public URL"
        )
    return version


@lru_cache(maxsize=256)
def _version_for_length(length: int) -> int:
    """`qrcode`'s best fit for `length` bytes of byte-mode data at level M (41 if no
    version holds them)."""
    probe = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    probe.add_data(QRData(b"\0" * length, mode=MODE_8BIT_BYTE))
    try:
        return int(probe.best_fit())
    except DataOverflowError:
        return 41


def encode(text: str) -> QrCode:
    """Encode `text` at error correction M with the fixed mask; ConfigurationError if it
    needs a version above 10 (the public URL of the institution is too long)."""
    version = version_for(text)
    if not text.isascii():
        return _encode_in_python(text, version)
    # A str of ASCII: zxing-cpp's encoder never needs more room than one byte-mode segment
    # (it may code a run of digits more tightly), and adds no character set designator.
    symbol = zxingcpp.create_barcode(
        text, zxingcpp.BarcodeFormat.QRCode, ec_level="M", version=version, data_mask=MASK_PATTERN
    )
    image = symbol.to_image(scale=1, add_quiet_zones=False)
    size = image.shape[0]
    pixels = bytes(image)  # type: ignore[call-overload]  # the buffer: a byte a module, 0 dark
    matrix = [[p == 0 for p in pixels[r * size : (r + 1) * size]] for r in range(size)]
    return QrCode(text, version, size, tuple(_runs(row) for row in matrix))


def _encode_in_python(text: str, version: int) -> QrCode:
    """`qrcode`'s symbol: one byte-mode segment of the UTF-8 bytes, with no designator of
    the character set (which zxing-cpp would add, taking room the version may not have)."""
    code = qrcode.QRCode(
        version=version,
        error_correction=ERROR_CORRECT_M,
        box_size=1,
        border=0,
        mask_pattern=MASK_PATTERN,
    )
    code.add_data(QRData(text.encode("utf-8"), mode=MODE_8BIT_BYTE))
    code.make(fit=False)
    matrix: list[list[bool]] = code.get_matrix()
    return QrCode(text, version, len(matrix), tuple(_runs(row) for row in matrix))


def _runs(row: list[bool]) -> tuple[tuple[int, int], ...]:
    # One rectangle per run of dark modules instead of one per module keeps the content
    # stream about three times smaller.
    runs: list[tuple[int, int]] = []
    start = -1
    for col, dark in enumerate(row):
        if dark:
            if start < 0:
                start = col
        elif start >= 0:
            runs.append((start, col - start))
            start = -1
    if start >= 0:
        runs.append((start, len(row) - start))
    return tuple(runs)
