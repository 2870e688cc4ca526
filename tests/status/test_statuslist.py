"""The pure parts of the Bitstring Status List: index permutation, bit encoding, names."""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import secrets
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diplomas.core.errors import DocumentError, NotFound
from diplomas.core.statuslist import (
    STATUS_LIST_SIZE,
    StatusPurpose,
    bit_is_set,
    bits_of,
    decode_bits,
    encode_bits,
    parse_list_name,
    permuted_index,
    set_indexes,
    status_list_credential,
)


@pytest.mark.parametrize("size", [8, 24, 1000, 4096])
def test_the_index_permutation_is_a_bijection(size: int) -> None:
    seed = secrets.token_bytes(32)
    indexes = [permuted_index(seed, size, k) for k in range(size)]
    assert sorted(indexes) == list(range(size))


def test_full_size_lists_never_repeat_an_index_and_do_not_follow_issuance_order() -> None:
    seed = secrets.token_bytes(32)
    first = [permuted_index(seed, STATUS_LIST_SIZE, k) for k in range(2000)]
    assert len(set(first)) == len(first)
    assert all(0 <= i < STATUS_LIST_SIZE for i in first)
    # Neither sorted nor bunched at the start: consecutive diplomas land anywhere.
    assert first != sorted(first)
    assert max(first) > STATUS_LIST_SIZE * 0.9 and min(first) < STATUS_LIST_SIZE * 0.1
    rises = sum(1 for a, b in itertools.pairwise(first) if b > a)
    assert 800 < rises < 1200
    # Another list's seed gives another order.
    other = [permuted_index(secrets.token_bytes(32), STATUS_LIST_SIZE, k) for k in range(2000)]
    assert other != first


def test_encoding_follows_the_spec() -> None:
    encoded = encode_bits(STATUS_LIST_SIZE, [0, 9, STATUS_LIST_SIZE - 1])
    assert encoded.startswith("u") and "=" not in encoded
    assert set(encoded[1:]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) == 16 * 1024  # 131,072 bits, the spec's minimum
    # Index 0 is the left-most bit of the first byte.
    assert raw[0] == 0x80 and raw[1] == 0x40 and raw[-1] == 0x01
    assert sum(bin(b).count("1") for b in raw) == 3


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(0, 4095), max_size=200))
def test_bits_round_trip(indexes: set[int]) -> None:
    bits = decode_bits(encode_bits(4096, indexes))
    assert set_indexes(bits) == sorted(indexes)
    assert all(bit_is_set(bits, i) for i in indexes)


def test_bad_encoded_lists_are_refused() -> None:
    for bad in ("", "zabc", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode()):
        with pytest.raises(DocumentError):
            decode_bits(bad)


def test_the_list_credential_shape() -> None:
    doc = status_list_credential(
        url="https://x.example/status/revocation-1",
        issuer="did:web:x.example",
        purpose=StatusPurpose.REVOCATION,
        size=STATUS_LIST_SIZE,
        set_indexes=[42],
        valid_from=datetime(2026, 11, 26, tzinfo=UTC),
    )
    assert doc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert doc["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    subject = doc["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    assert subject["id"] == "https://x.example/status/revocation-1#list"
    purpose, bits = bits_of(json.loads(json.dumps(doc)))
    assert purpose is StatusPurpose.REVOCATION and set_indexes(bits) == [42]


def test_list_names() -> None:
    assert parse_list_name("revocation-1") == (StatusPurpose.REVOCATION, 1)
    assert parse_list_name("suspension-12") == (StatusPurpose.SUSPENSION, 12)
    for bad in ("revocation-0", "revocation-01", "revocation-", "refresh-1", "1", "revocation-١"):
        with pytest.raises(NotFound):
            parse_list_name(bad)
