"""The pinned patches of pyHanko and asn1crypto (`diplomas.pdfsign.pinned`): applied for
the pinned versions only, and still standing on what those libraries do.

A failure here after an upgrade means: read the patched functions of the new version,
check that `hexstrings.read_hex_string` and the remembered name preparation still answer
as they do, then move `PINNED`."""

from __future__ import annotations

import functools
import inspect
from importlib.metadata import version
from io import BytesIO

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic

from diplomas.pdfsign import pinned


def test_the_libraries_are_the_pinned_versions() -> None:
    for name, expected in pinned.PINNED.items():
        assert version(name) == expected, (
            f"{name} {version(name)} is not the pinned {expected}: check the patches in "
            "diplomas/pdfsign/pinned.py against it, then move PINNED"
        )


def test_both_patches_are_in_place_once() -> None:
    assert pinned.apply() == dict.fromkeys(pinned.PATCHES, True)
    reader = generic.read_hex_string_from_stream
    assert isinstance(reader, functools.partial)
    assert not isinstance(reader.keywords["original"], functools.partial)  # not twice
    prep = asn1_x509.NameTypeAndValue._ldap_string_prep
    assert prep.__qualname__.endswith("_remembered_name_preparation.<locals>._ldap_string_prep")


def test_pyhankos_reader_is_what_the_fast_reader_stands_in_for() -> None:
    """pyHanko's own reader: a function of the stream alone, positioned on `<`, giving a
    string object whose `original_bytes` are the decoded bytes."""
    original = generic.read_hex_string_from_stream.keywords["original"]  # type: ignore[attr-defined]
    assert list(inspect.signature(original).parameters) == ["stream"]
    stream = BytesIO(b"<4a6F 7>rest")
    value = original(stream)
    assert bytes(value.original_bytes) == b"Jop"
    assert stream.read() == b"rest"


def test_asn1cryptos_name_preparation_is_a_pure_function_of_the_string() -> None:
    """What the remembered preparation relies on: the unbound function ignores `self`
    and gives the same answer for the same string (RFC 4518: case folded, spaces
    squeezed)."""
    original = (
        inspect.getclosurevars(asn1_x509.NameTypeAndValue._ldap_string_prep)
        .nonlocals["prepared"]
        .__wrapped__
    )
    original = inspect.getclosurevars(original).nonlocals["original"]
    for text in ("Tabriz  University", " TABRIZ university ", "دانشگاه  تبریز"):
        assert original(None, text) == original(None, text)
    assert original(None, "Tabriz  University") == original(None, " tabriz university ")

    def name(common_name: str) -> asn1_x509.Name:
        return asn1_x509.Name.build({"common_name": common_name, "country_name": "IR"})

    assert name("Tabriz  University") == name("tabriz university")
    assert name("Tabriz University") != name("Tabriz Universities")
