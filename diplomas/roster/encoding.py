"""Guessing how a CSV roster was saved: its text encoding and its delimiter.

What Excel writes, by menu item: "CSV UTF-8" is UTF-8 with a BOM; plain "CSV" is the
Windows code page, Windows-1256 on Persian systems (where ی is written as the Arabic ي,
which the core's normalisation turns back); "Unicode text" is UTF-16 LE with a BOM and
TABs between cells. Bytes that do not decode are never fatal to the reader: they become
marks (`mark_undecodable`) that the reader reports with their row and column.
"""

from __future__ import annotations

import codecs
import re

UNDECODABLE = "diplomas.roster.undecodable"
"""Name of the codec error handler that marks undecodable bytes (see `register_handler`)."""

DELIMITERS = (",", "\t", ";", "\u061b")  # the last is the Arabic semicolon «؛»

_MARKS = re.compile("[\udc00-\udcff]+")


def detect_encoding(head: bytes) -> str:
    """The encoding of a text file, judged from its first bytes.

    A BOM decides (utf-8-sig, utf-16). Without one: UTF-16 when NUL bytes (and the 0x06
    high bytes of Persian letters) fill every other byte; UTF-8 when the head decodes
    strictly as UTF-8 (a character cut at the end of the sample is allowed); otherwise
    cp1256, the Persian Windows code page.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16:
        return utf16
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1256"
    return "utf-8"


def _utf16_without_bom(head: bytes) -> str | None:
    pairs = len(head) // 2
    if pairs == 0:
        return None
    # ASCII has a 0x00 high byte in UTF-16, Persian letters 0x06; neither byte occurs in
    # UTF-8 or cp1256 text.
    even = sum(head[0 : pairs * 2 : 2].count(b) for b in (0, 6))
    odd = sum(head[1 : pairs * 2 : 2].count(b) for b in (0, 6))
    if odd * 2 >= pairs and even * 10 <= pairs:
        return "utf-16-le"
    if even * 2 >= pairs and odd * 10 <= pairs:
        return "utf-16-be"
    return None


def sniff_delimiter(text: str) -> str:
    """The delimiter of the first non-blank line of `text`: the most frequent of
    `DELIMITERS` outside quotes (ties go to the earlier one); "," when there is none."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _mark(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


def register_handler() -> None:
    """Register the `UNDECODABLE` error handler: each byte that does not decode becomes
    a lone surrogate U+DC00 + byte, which no strict decoder ever produces. Idempotent."""
    codecs.register_error(UNDECODABLE, _mark)


def has_undecodable(text: str) -> bool:
    return bool(_MARKS.search(text))


def readable(text: str) -> str:
    """`text` with each run of undecodable bytes shown as one U+FFFD."""
    return _MARKS.sub("\ufffd", text)
