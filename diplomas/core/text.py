"""Normalising Persian (and Latin) input before it is validated, signed and printed.

Spreadsheets and keyboards mix Arabic and Persian code points for the same letters; a name
typed on an Arabic layout must sign and print exactly like the same name on a Persian one.
"""

from __future__ import annotations

import re
import unicodedata

ZWNJ = "\u200c"

# Arabic code points that Persian writes with its own letters.
_LETTERS = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})
_ARABIC_INDIC_TO_PERSIAN = str.maketrans("٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹")
_ANY_TO_ASCII_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_ASCII_TO_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")

# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt, unchanged since
# Unicode 6.2): characters that render as nothing, so that two names which look alike
# would be different strings (U+2060 word joiner, U+180E Mongolian vowel separator, the
# U+E00xx tag characters...), and bidi controls that make a printed name read differently
# from the stored one. All are removed, except ZWNJ (U+200C), part of Persian spelling.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200d-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\r\n\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_ZWNJ_RUNS = re.compile(f"(?:\\s*{ZWNJ}\\s*)+")

_PERSIAN_LETTER = re.compile(
    "[\u0621-\u063a\u0641-\u064a\u067e\u0686\u0698\u06a9\u06af\u06cc\u0622]"
)
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_LATIN_NAME = re.compile(r"^[A-Za-z\u00c0-\u024f][A-Za-z\u00c0-\u024f .'\-]*$")


def normalize(value: str) -> str:
    """Return the canonical form of free text: NFC, Persian letters, tidy spacing."""
    text = unicodedata.normalize("NFC", value)
    text = text.translate(_LETTERS).translate(_ARABIC_INDIC_TO_PERSIAN)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = _ZWNJ_RUNS.sub(ZWNJ, text)
    return text.strip(" " + ZWNJ)


def ascii_digits(value: str) -> str:
    """Digits from either Persian or Arabic-Indic script, as ASCII."""
    return value.translate(_ANY_TO_ASCII_DIGITS)


def persian_digits(value: str) -> str:
    return value.translate(_ASCII_TO_PERSIAN_DIGITS)


def has_persian_letters(value: str) -> bool:
    return bool(_PERSIAN_LETTER.search(value))


def has_latin_letters(value: str) -> bool:
    return bool(_LATIN_LETTER.search(value))


def is_latin_name(value: str) -> bool:
    return bool(_LATIN_NAME.match(value))


# Letters that people type for one another when searching: Arabic and Persian forms of
# yeh, kaf and heh, and alef wasla. Hamza and madda seats (أ إ آ ؤ ئ ۀ) lose their marks
# in the decomposition that `search_key` starts with, so they need no entry here.
_SEARCH_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي Arabic yeh
        "\u0649": "\u06cc",  # ى alef maksura
        "\u06cd": "\u06cc",  # ۍ yeh with tail
        "\u06d0": "\u06cc",  # ې e
        "\u0643": "\u06a9",  # ك Arabic kaf
        "\u06aa": "\u06a9",  # ڪ swash kaf
        "\u0629": "\u0647",  # ة teh marbuta
        "\u06d5": "\u0647",  # ە ae (what ۀ decomposes to)
        "\u06be": "\u0647",  # ھ heh doachashmee
        "\u06c1": "\u0647",  # ہ heh goal
        "\u0671": "\u0627",  # ٱ alef wasla
        "\u0640": None,  # ـ tatweel (kashida): drawn length, not a letter
    }
)


def search_key(value: str) -> str:
    """The form of `value` that searching compares: two spellings people consider the
    same name (or serial, or email) give the same key.

    Compatibility forms are unfolded (presentation forms, ligatures, full-width), marks are
    dropped (harakat, hamza and madda seats, Latin accents), Arabic letters become the
    Persian ones, digits of any script become ASCII, letters are case-folded, and
    everything that is not a letter or a digit goes: spaces, ZWNJ, punctuation. So
    «محمدی‌نژاد», «محمدی نژاد» and «محمدینژاد» share the key «محمدینژاد», and
    «TBZMED-۱۴۰۵-۰۰۰۰۱۱» the key «tbzmed1405000011». The key holds letters and digits
    only: a separator such as '|' never occurs in one.
    """
    decomposed = unicodedata.normalize("NFKD", value).translate(_SEARCH_LETTERS)
    kept: list[str] = []
    for char in decomposed.casefold():
        if char.isdecimal():
            kept.append(str(unicodedata.decimal(char)))
        elif char.isalnum():
            kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))
