"""The two places where we change another library's private function, pinned and tested.

Neither pyHanko nor asn1crypto offers a hook for these (pyHanko's reader options and
ValidationContext parameters do not reach the PDF tokenizer or X.509 name comparison),
and both are a large share of checking an uploaded diploma:

- pyHanko reads a PDF hex string one character at a time (`generic.
  read_hex_string_from_stream`); the signature's `/Contents` is thousands of digits, a
  quarter of a validation. `hexstrings.read_hex_string` takes the common case in one go
  and hands everything else to pyHanko's own reader, so every outcome stays pyHanko's.
- asn1crypto prepares each X.509 name value again with `stringprep` on every comparison
  (`x509.NameTypeAndValue._ldap_string_prep`), another quarter; the preparation is a pure
  function of the string, so it is remembered (for a bounded number of strings).

Both are applied once, when `diplomas.pdfsign` is imported (`apply`), and only to the
library versions in `PINNED`, whose functions tests/pdfsign/test_pinned.py checks
against ours: with any other version the libraries are left as they are (slower, never
wrong) and that test fails, so that whoever moves the pin looks at them again.
"""

from __future__ import annotations

import functools
import threading
from importlib.metadata import version

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic

from .hexstrings import read_hex_string

PINNED = {"pyHanko": "0.38.0", "asn1crypto": "1.5.1"}
"""The versions whose private functions the patches below were checked against."""

PREPARED_NAMES = 4096
"""X.509 name values whose RFC 4518 preparation is remembered."""

_lock = threading.Lock()
_applied: dict[str, bool] = {}


def versions_match() -> bool:
    """Whether the installed libraries are the pinned versions."""
    return all(version(name) == pinned for name, pinned in PINNED.items())


def _fast_hex_strings() -> None:
    original = generic.read_hex_string_from_stream
    generic.read_hex_string_from_stream = functools.partial(read_hex_string, original=original)


def _remembered_name_preparation() -> None:
    original = asn1_x509.NameTypeAndValue._ldap_string_prep

    @functools.lru_cache(maxsize=PREPARED_NAMES)
    def prepared(value: str) -> str:
        result: str = original(None, value)
        return result

    def _ldap_string_prep(self: asn1_x509.NameTypeAndValue, value: str) -> str:
        return prepared(value)

    asn1_x509.NameTypeAndValue._ldap_string_prep = _ldap_string_prep


PATCHES = {
    "pyhanko.pdf_utils.generic.read_hex_string_from_stream": _fast_hex_strings,
    "asn1crypto.x509.NameTypeAndValue._ldap_string_prep": _remembered_name_preparation,
}


def apply() -> dict[str, bool]:
    """Apply each patch once per process if the versions are the pinned ones; returns
    which are in place."""
    with _lock:
        if not _applied:
            matching = versions_match()
            for name, patch in PATCHES.items():
                if matching:
                    patch()
                _applied[name] = matching
        return dict(_applied)
