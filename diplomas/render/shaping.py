"""Persian text turned into the glyph order a PDF draws, which knows neither.

A PDF draws glyphs left to right with no shaping, so Persian text is shaped first (each
letter replaced by its isolated, initial, medial or final presentation form) and then
reordered into visual order with the Unicode bidirectional algorithm. Text extractors such
as pdftotext reverse the order again, and NFKC maps the presentation forms back to the
letters, so the PDF still reads as the logical text.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from arabic_reshaper import ArabicReshaper
from bidi.algorithm import get_display

from ..core.text import ZWNJ

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc"
_ZWNJ_IN_WORD = re.compile(f"(?<=[{_ARABIC}]){ZWNJ}(?=[{_ARABIC}])")

# The bidi algorithm drops ZWNJ (a boundary-neutral character), which would lose it from
# copied and extracted text. Inside a word it stands between two Arabic-script letters, so
# an Arabic-letter stand-in resolves exactly as ZWNJ would and is swapped back afterwards.
# U+08A1 never occurs in Persian; text that happens to hold it just loses its ZWNJ.
_STAND_IN = "\u08a1"


@cache
def _reshaper() -> ArabicReshaper:
    return ArabicReshaper(
        configuration={
            # Keep the hamza of «زمینهٔ» and other marks: deleting them would change the words.
            "delete_harakat": False,
            # «عبدالله» is a name, not the word Allah; the ligature glyph would be wrong there.
            "ARABIC LIGATURE ALLAH": False,
        }
    )


def is_rtl(text: str) -> bool:
    """Whether `text` holds right-to-left letters, so its paragraph reads right to left."""
    return bool(_RTL.search(text))


def shape_word(text: str) -> str:
    """Presentation forms for `text`, still in logical order: what layout measures.

    Arabic letters join only within a word, so the width of a line is the sum of the
    widths of its shaped words and spaces; wrapping can measure each word once.
    """
    if not is_rtl(text):
        return text
    return _reshape(text)


@lru_cache(maxsize=4096)
def _reshape(text: str) -> str:
    # Fitting shapes a paragraph and drawing shapes each of its lines: for the common
    # one-line box the two are the same text, shaped once.
    return str(_reshaper().reshape(text))


@lru_cache(maxsize=4096)
def visual(text: str, rtl: bool) -> str:
    """The glyph sequence to draw left to right for one line of logical `text`.

    `rtl` is the paragraph direction: a Persian line that starts with a Latin word must
    still read from the right.
    """
    if not is_rtl(text):
        return text
    shaped = _reshape(text)
    keep_zwnj = _STAND_IN not in shaped
    if keep_zwnj:
        shaped = _ZWNJ_IN_WORD.sub(_STAND_IN, shaped)
    display = str(get_display(shaped, base_dir="R" if rtl else "L"))
    if keep_zwnj:
        display = display.replace(_STAND_IN, ZWNJ)
    return display
