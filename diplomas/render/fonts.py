"""TrueType fonts registered with reportlab once per process and shared by every template.

reportlab keeps fonts in a process-wide registry and parsing a TTF takes about ten
milliseconds, so each file is registered the first time a template asks for it and reused
by every later page in the process. Nothing is read at import: a worker process (spawned
or forked) builds its own cache on first use. The cache holds no lock, so a fork can never
inherit one held by another thread; two threads that load the same file at once both
parse it and the first to finish is kept. The registered name is derived from the file's
path because the font's own name would clash when two templates ship different files
called the same.

reportlab embeds a TrueType font as subsets of up to 256 characters, numbered in the order
the document first draws each character, and builds every subset (the font file, its
widths and its ToUnicode map, compressed) when the document is saved: with three weights
that was three quarters of a page's time. `FixedSubsetFont` makes the first subset the
same on every page (ASCII, the Persian letters in all their shaped forms, digits and
punctuation, filled up with rarer characters) by assigning those characters, through
reportlab's own `splitString`, before anything else a document draws. Its font file,
widths and ToUnicode map are then made once per process, compressed, and handed to each
document as reportlab stream objects whose /Filter is already set, which reportlab writes
as they are. A character outside it (an accented Latin letter, an Arabic vowel mark)
starts a further subset, cut by reportlab's subsetter for that page and kept in a small
cache, since a roster repeats its rare spellings.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import SUBSETN, TTFError, TTFont, makeToUnicodeCMap

from ..core.errors import ConfigurationError
from .shaping import shape_word

_EXTRA_CACHE = 64
"""Subsets outside the fixed one kept per font (a roster repeats its rare spellings)."""


@dataclass(frozen=True, eq=False)
class Font:
    """A registered font: the name to pass to the canvas and the metrics layout needs."""

    name: str
    """The name registered with reportlab; stable across processes for the same path."""
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
        return self.units(text) * size / 1000

    def units(self, text: str) -> float:
        """Advance width of `text` in thousandths of the font size."""
        widths = self._widths
        default = self._default_width
        return sum(widths.get(ord(c), default) for c in text)


@cache
def common_characters() -> str:
    """The characters every page's first subset holds, most common first: ASCII; the
    forms shaping gives the Persian letters (with the lam-alef ligatures); Persian digits
    and punctuation; then, as room allows, the forms of the letters Persian borrows
    rarely from Arabic, Arabic digits, the marks and accented Latin letters. A subset
    holds 159 characters besides ASCII: everything before the rare forms fits. Computed
    on first use: shaping runs through arabic_reshaper."""
    letters = "ءآأؤإئابةتثجحخدذرزسشصضطظعغفقلمنهوپچژکگیۀ"
    forms: dict[str, None] = {}
    for letter in letters:
        contexts = (letter, f"ب{letter}ب", f"{letter}ب", f"ب{letter}")
        ligatures = (f"ل{letter}", f"بل{letter}")
        for text in (*contexts, *ligatures):
            forms.update(dict.fromkeys(shape_word(text)))
    rare = set(shape_word("ة بة إ بإ لإ بلإ"))  # teh marbuta, alef with hamza below
    persian = [c for c in sorted(forms) if c not in rare]
    ascii_ = [chr(c) for c in range(0x20, 0x7F)]
    punctuation = list("۰۱۲۳۴۵۶۷۸۹،؛؟«»٪٫٬ـ\u200c\u0654–—")
    then = [c for c in sorted(forms) if c in rare] + list("٠١٢٣٤٥٦٧٨٩‘’“”…•")
    marks = list("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670\u0653\u0655")
    accented = [chr(c) for c in range(0xC0, 0x180)]
    return "".join(dict.fromkeys(ascii_ + persian + punctuation + then + marks + accented))


@dataclass(frozen=True)
class _Subset:
    """One subset's PDF parts that do not depend on the document, compressed once."""

    font_file: bytes
    length1: int
    to_unicode: bytes
    widths: bytes
    """The /Widths array as reportlab formats it."""


class FixedSubsetFont(TTFont):  # type: ignore[misc]  # reportlab has no type hints
    """A reportlab TrueType font whose first subset is the same on every page and is
    built once per process (see the module's notes).

    Each document still has its own state in reportlab's `TTFont.state`, so pages can be
    written on several threads at once; the subsetter, which reads the parsed file
    through a cursor, runs on a shallow copy of the face for the same reason.
    """

    def __init__(self, name: str, filename: str) -> None:
        super().__init__(name, filename, asciiReadable=True)
        self._fixed, self._fixed_key = self._first_subset()
        self._fixed_built: _Subset | None = None
        self._extras: dict[tuple[int, ...], _Subset] = {}

    def _first_subset(self) -> tuple[str, tuple[int, ...]]:
        """The characters subset 0 holds after ASCII (the common ones this font has, then
        any others it has, until the subset is full) and the subset's content, found by
        letting reportlab assign them for a throwaway document."""
        scratch = _Scratch()
        has = self.face.charToGlyph
        common = [c for c in common_characters() if ord(c) in has]
        others = [chr(c) for c in sorted(has) if c > 0xA0 and chr(c) not in common]
        fixed = []
        for char in common + others:
            if TTFont.splitString(self, char, scratch)[0][0] != 0:
                break
            fixed.append(char)
        key = tuple(self.state[scratch].subsets[0])
        del self.state[scratch]
        return "".join(fixed), key

    def splitString(self, text: Any, doc: Any, encoding: str = "utf-8") -> Any:
        if doc not in self.state:
            # A new document: the fixed characters take subset 0 before anything else.
            TTFont.splitString(self, self._fixed, doc, encoding)
        return TTFont.splitString(self, text, doc, encoding)

    def addObjects(self, doc: Any) -> None:
        """reportlab's `TTFont.addObjects`, with each subset's font file, widths and
        ToUnicode map taken from the process's cache (built on a miss)."""
        state = self._assignState(doc)
        state.frozen = 1
        face = self.face
        compress = bool(doc.compression)
        for n, subset in enumerate(state.subsets):
            internal = self.getSubsetInternalName(n, doc)[1:]
            base_font = b"".join((SUBSETN(n), b"+", face.name, face.subfontNameX)).decode("pdfdoc")
            built = self._subset(n, tuple(subset), base_font, doc)

            font = pdfdoc.PDFTrueTypeFont()
            font.__Comment__ = f"Font {self.fontName} subset {n}"
            font.Name = internal
            font.BaseFont = base_font
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = built.widths  # reportlab copies formatted bytes as they are
            font.ToUnicode = doc.Reference(
                _stream(built.to_unicode, compress, None), "toUnicodeCMap:" + base_font
            )
            font_file = doc.Reference(
                _stream(built.font_file, compress, built.length1),
                f"fontFile:{face.filename}({base_font})",
            )
            descriptor = pdfdoc.PDFDictionary(
                {
                    "Type": "/FontDescriptor",
                    "Ascent": face.ascent,
                    "CapHeight": face.capHeight,
                    "Descent": face.descent,
                    # Symbolic: glyphs are reached through the subset's own code table.
                    "Flags": (face.flags & ~(1 << 5)) | (1 << 2),
                    "FontBBox": pdfdoc.PDFArray(face.bbox),
                    "FontName": pdfdoc.PDFName(base_font),
                    "ItalicAngle": face.italicAngle,
                    "StemV": face.stemV,
                    "FontFile2": font_file,
                    "MissingWidth": face.defaultWidth,
                }
            )
            font.FontDescriptor = doc.Reference(descriptor, "fontDescriptor:" + base_font)
            doc.Reference(font, internal)
            doc.idToObject["BasicFonts"].dict[internal] = font
        del self.state[doc]

    def _subset(self, n: int, subset: tuple[int, ...], base_font: str, doc: Any) -> _Subset:
        if n == 0 and subset == self._fixed_key:
            if self._fixed_built is None:
                self._fixed_built = self._build(subset, base_font, doc)
            return self._fixed_built
        key = (n, *subset)
        built = self._extras.get(key)
        if built is None:
            built = self._build(subset, base_font, doc)
            if len(self._extras) >= _EXTRA_CACHE:
                self._extras = {}
            self._extras[key] = built
        return built

    def _build(self, subset: tuple[int, ...], base_font: str, doc: Any) -> _Subset:
        # On a copy of the face: makeSubset moves the face's read cursor.
        data: bytes = copy.copy(self.face).makeSubset(list(subset))
        cmap = makeToUnicodeCMap(base_font, list(subset)).encode("latin-1")
        widths = pdfdoc.PDFArray(list(map(self.face.getCharWidth, subset)))
        return _Subset(
            pdfdoc.PDFZCompress.encode(data),
            len(data),
            pdfdoc.PDFZCompress.encode(cmap),
            pdfdoc.format(widths, doc),
        )


class _Scratch:
    """A stand-in document (reportlab keys a font's per-document state weakly on it)."""


def _stream(compressed: bytes, compress: bool, length1: int | None) -> pdfdoc.PDFStream:
    """A stream of already-compressed content; reportlab applies no filter to a stream
    whose dictionary names its /Filter."""
    stream = pdfdoc.PDFStream()
    if compress:
        stream.content = compressed
        stream.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
    else:
        stream.content = pdfdoc.PDFZCompress.decode(compressed)
    if length1 is not None:
        stream.dictionary["Length1"] = length1
    return stream


_fonts: dict[Path, Font] = {}


def load_font(path: Path) -> Font:
    """Register the TrueType file at `path` (once per process) and return it."""
    path = path.resolve()
    font = _fonts.get(path)
    if font is None:
        font = _fonts.setdefault(path, _register(path))
    return font


def _register(path: Path) -> Font:
    name = "diplomas-" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    try:
        ttf = FixedSubsetFont(name, str(path))
    except (OSError, TTFError) as exc:
        raise ConfigurationError(f"cannot load the font {path}: {exc}") from None
    # Two threads registering the same file at once register equal fonts; the last wins.
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
