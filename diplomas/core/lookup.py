"""Finding a diploma by the serial printed on a paper copy and the holder's family name.

For employers holding a paper copy whose QR code no longer scans. The serial alone would
let anyone walk the serials and read who holds each diploma, so the family name must come
with it, and the answer must not tell "no such serial" from "wrong name", not even by its
timing: the caller always reads one row by serial and always compares against the same
number of names (a fixed dummy holder when there is no row), in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from .text import ascii_digits, normalize, search_key

CANDIDATES = 8
"""Family names compared per lookup, whatever the holder's name: at most four trailing
runs of words of the Persian name and four of the English one, padded with fillers."""
_PER_NAME = CANDIDATES // 2
MIN_LETTERS = 2

DUMMY_HOLDER = ("نام نمونه خانوادگی نمونه", "Sample Placeholder Holder")
"""Compared against when no diploma has the serial, so that a miss costs what a wrong
name costs. No name can match it by accident: callers read a row first and only accept a
match on a real one."""

_FILLER = hashlib.sha256(b"diplomas: no such family name").digest()


def serial_of(typed: str) -> str:
    """The serial as stored: digits of any script as ASCII, upper case, no spaces."""
    return "".join(ascii_digits(typed).split()).upper()


def _digest(folded: str) -> bytes:
    return hashlib.sha256(folded.encode()).digest()


def family_name_key(typed: str) -> bytes | None:
    """The digest that a typed family name is compared by, or None if, once folded
    (`text.search_key`: ZWNJ and spaces, Arabic and Persian letters, case), it holds
    fewer than two letters."""
    folded = search_key(typed)
    if sum(ch.isalpha() for ch in folded) < MIN_LETTERS:
        return None
    return _digest(folded)


def _trailing(name: str) -> list[bytes]:
    """Digests of the name's trailing runs of whole words, the shortest first, never the
    whole name (a given name is not a family name), unless it is a single word."""
    words = normalize(name).split(" ")
    runs = [" ".join(words[k:]) for k in range(len(words) - 1, 0, -1)] or [name]
    return [_digest(search_key(run)) for run in runs if search_key(run)][:_PER_NAME]


def family_name_candidates(name: str, name_en: str) -> tuple[bytes, ...]:
    """Exactly CANDIDATES digests: the family names the holder may be asked by."""
    fa, en = _trailing(name), _trailing(name_en)
    padded = [*fa, *[_FILLER] * (_PER_NAME - len(fa)), *en, *[_FILLER] * (_PER_NAME - len(en))]
    return tuple(padded)


def family_name_matches(given: bytes, candidates: Sequence[bytes]) -> bool:
    """Whether `given` is one of `candidates`, comparing against every one of them."""
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(given, candidate)
    return found
