"""The verification QR code: encoded once per page, drawn as vector rectangles.

Error correction M survives a scuffed or folded paper copy; version 10 (57 modules) is the
largest that still scans from a printed 30 mm square with an ordinary phone camera. The
mask is fixed because choosing the best one tries all eight and costs about five times
the whole encoding; any mask gives a valid symbol, the best one only slightly fewer
look-alike patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError

from ..core.errors import ConfigurationError

MAX_VERSION = 10
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


def encode(text: str) -> QrCode:
    """Encode `text` at error correction M with the fixed mask; ConfigurationError if it
    needs a version above 10 (the public URL of the institution is too long)."""
    code = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M, box_size=1, border=0, mask_pattern=MASK_PATTERN
    )
    code.add_data(text)
    try:
        code.make(fit=True)
    except DataOverflowError:
        version = 41
    else:
        version = code.version
    if version > MAX_VERSION:
        raise ConfigurationError(
            f"the verification URL {text!r} is {len(text)} characters long; a QR code that "
            f"prints readably (version ≤ {MAX_VERSION}) holds about 213: shorten the "
            "institution's public URL"
        )
    matrix: list[list[bool]] = code.get_matrix()
    return QrCode(text, version, len(matrix), tuple(_runs(row) for row in matrix))


def _runs(row: list[bool]) -> tuple[tuple[int, int], ...]:
    # One rectangle per run of dark modules instead of one per module keeps the content
    # stream about three times smaller.
    runs: list[tuple[int, int]] = []
    start = -1
    for col, dark in enumerate([*row, False]):
        if dark and start < 0:
            start = col
        elif not dark and start >= 0:
            runs.append((start, col - start))
            start = -1
    return tuple(runs)
