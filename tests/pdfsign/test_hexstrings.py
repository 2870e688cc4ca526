"""The fast hex-string reader answers exactly as pyHanko's own, on any input: the same
string object and stream position after it, or the same error."""

from __future__ import annotations

import functools
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from diplomas.pdfsign import hexstrings, pinned

ORIGINAL = generic.read_hex_string_from_stream
if isinstance(ORIGINAL, functools.partial):  # installed already in this process
    ORIGINAL = ORIGINAL.keywords["original"]


def outcome(reader: object, data: bytes) -> tuple[object, ...]:
    stream = BytesIO(data)
    try:
        value = reader(stream)  # type: ignore[operator]
    except Exception as exc:  # the error itself must match too
        return ("error", type(exc), str(exc))
    return ("value", type(value), bytes(value.original_bytes), stream.tell())


def fast(stream: BytesIO) -> object:
    return hexstrings.read_hex_string(stream, ORIGINAL)


CASES = [
    b"<>",
    b"<4a6F>",
    b"<4a6F> trailing",
    b"<4a6>",
    b"< 4a\n6f\r\n\t\x00\x0c >rest",
    b"<4a % a comment\n6f>",
    b"<4a6g>",
    b"<4a6f",
    b"<" + b"0" * 200_000 + b">",
    b"<" + b"ab " * 50_000 + b"cd>",
    b"<" + b"0" * 70_000,
    b"<" + b"0" * 70_000 + b"x>",
    b"<feff00410042>",
    b"<" + b"30" * 5000 + b"><<>>",
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_listed_inputs(data: bytes) -> None:
    assert outcome(fast, data) == outcome(ORIGINAL, data)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"0", b"a", b"F", b"9", b" ", b"\n", b"\x00", b"%", b"g", b">", b"<"]),
        max_size=60,
    ).map(b"".join)
)
def test_any_input(body: bytes) -> None:
    data = b"<" + body
    assert outcome(fast, data) == outcome(ORIGINAL, data)


def test_installed_once_in_front_of_pyhankos_reader() -> None:
    assert pinned.apply() == pinned.apply()  # once is enough; a second call changes nothing
    installed = generic.read_hex_string_from_stream
    assert installed.keywords["original"] is ORIGINAL  # type: ignore[attr-defined]
    assert outcome(installed, b"<4a6F>x") == outcome(ORIGINAL, b"<4a6F>x")
