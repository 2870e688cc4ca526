from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from diplomas.core.errors import KeyStoreError
from diplomas.core.keyring import RecordKey
from diplomas.core.model import Institution
from diplomas.keys import FileKeyStore, MemoryKeyStore, export_bundle, load_bundle

from .conftest import NOW


def _fields(key: RecordKey) -> tuple[Any, ...]:
    return (
        key.key_id,
        key.public_key,
        key.controller,
        key.valid_from,
        key.valid_until,
        key.compromised_since,
    )


def test_round_trip(store: FileKeyStore, institution: Institution) -> None:
    store.rotate(NOW + timedelta(days=30))
    data = json.dumps(store.export_bundle()).encode()
    bundle = load_bundle(data)
    assert bundle.did == institution.did
    assert bundle.name == institution.name and bundle.name_en == institution.name_en
    assert sorted(map(_fields, bundle.keyring())) == sorted(map(_fields, store.keyring()))
    assert bundle.trust_roots() == store.trust_roots()
    signer = store.signer()
    key = bundle.keyring().resolve(signer.verification_method)
    assert key is not None and key.verify(signer.sign(b"x"), b"x")


def test_windows_survive_the_round_trip(institution: Institution) -> None:
    memory = MemoryKeyStore(institution, NOW)
    [key] = memory.keyring()
    whole_second = NOW.replace(microsecond=0)  # the bundle keeps times to the second
    retired = RecordKey(
        key.key_id,
        key.public_key,
        key.controller,
        key.valid_from,
        valid_until=whole_second + timedelta(days=1),
        compromised_since=whole_second + timedelta(hours=5),
    )
    document = export_bundle(institution, [retired], memory.trust_roots())
    [loaded] = load_bundle(json.dumps(document).encode()).keyring()
    assert _fields(loaded) == _fields(retired)
    entry = document["record_keys"][0]
    assert entry["publicKeyJwk"]["crv"] == "Ed25519"
    assert entry["id"] == f"{institution.did}#{key.key_id}"


def _valid(institution: Institution) -> dict[str, Any]:
    return MemoryKeyStore(institution, NOW).export_bundle()


BROKEN = [
    (lambda d: "not json", "not valid JSON"),
    (lambda d: {**d, "format": "something"}, "not a trust bundle"),
    (lambda d: {**d, "version": 99}, "version 99"),
    (lambda d: {**d, "record_keys": []}, "record_keys"),
    (lambda d: {**d, "root_certificates": ["garbage"]}, r"root_certificates\[0\]"),
    (
        lambda d: {**d, "record_keys": [{**d["record_keys"][0], "valid_from": "2026-01-01"}]},
        r"record_keys\[0\]\.valid_from",
    ),
    (
        lambda d: {**d, "record_keys": [{**d["record_keys"][0], "publicKeyJwk": {"kty": "EC"}}]},
        "Ed25519",
    ),
    (
        lambda d: {**d, "record_keys": [{**d["record_keys"][0], "id": "did:web:other#k"}]},
        r"record_keys\[0\]\.id",
    ),
    (lambda d: {**d, "record_keys": d["record_keys"] * 2}, "twice"),
    (lambda d: {**d, "institution": {"did": ""}}, "institution.did"),
]


@pytest.mark.parametrize(("breakage", "message"), BROKEN)
def test_bad_bundles_are_refused_with_a_reason(
    institution: Institution, breakage: Any, message: str
) -> None:
    broken = breakage(_valid(institution))
    data = broken.encode() if isinstance(broken, str) else json.dumps(broken).encode()
    with pytest.raises(KeyStoreError, match=message):
        load_bundle(data)


def test_a_leaf_certificate_is_not_a_root(institution: Institution) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    memory = MemoryKeyStore(institution, NOW)
    document = memory.export_bundle()
    leaf = memory.document_signing_certificate().public_bytes(Encoding.PEM).decode()
    document["root_certificates"] = [leaf]
    with pytest.raises(KeyStoreError, match="not a CA certificate"):
        load_bundle(json.dumps(document).encode())
