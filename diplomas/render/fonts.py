"""TrueType fonts registered with reportlab once per process and shared by every template.

reportlab keeps fonts in a process-wide registry and parsing a TTF takes tens of
milliseconds, so each file is registered the first time a template asks for it and reused
by every later page. The registered name is derived from the file's path because the
font's own name would clash when two templates ship different files called the same.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from ..core.errors import ConfigurationError


@dataclass(frozen=True, eq=False)
class Font:
    """A registered font: the name to pass to the canvas and the metrics layout needs."""

    name: str
    path: Path
    ascent: float
    """Above the baseline, as a fraction of the font size."""
    descent: float
    """Below the baseline, as a positive fraction of the font size."""
    _widths: dict[int, float]
    _default_width: float

    def has_glyph(self, char: str) -> bool:
        return ord(char) in self._widths

    def width(self, text: str, size: float) -> float:
        """Advance width in points of `text` drawn as given (already shaped, no kerning)."""
        widths = self._widths
        default = self._default_width
        return sum(widths.get(ord(c), default) for c in text) * size / 1000


_lock = threading.Lock()
_fonts: dict[Path, Font] = {}

embedding = threading.Lock()
"""Held while a PDF is written: reportlab subsets a TrueType font by reading the shared,
parsed file through a single cursor, so two pages written at once corrupt each other."""


def load_font(path: Path) -> Font:
    """Register the TrueType file at `path` (once per process) and return it."""
    path = path.resolve()
    with _lock:
        font = _fonts.get(path)
        if font is None:
            font = _fonts[path] = _register(path)
        return font


def _register(path: Path) -> Font:
    name = "diplomas-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    try:
        ttf = TTFont(name, str(path))
    except (OSError, TTFError) as exc:
        raise ConfigurationError(f"cannot load the font {path}: {exc}") from None
    pdfmetrics.registerFont(ttf)
    face = ttf.face
    return Font(
        name=name,
        path=path,
        ascent=face.ascent / 1000,
        descent=-face.descent / 1000,
        _widths=dict(face.charWidths),
        _default_width=face.defaultWidth,
    )
