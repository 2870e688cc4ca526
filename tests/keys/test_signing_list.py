"""signing-certificates.json: what is written reads back, and a reader refuses anything a
writer of this version would not write (a path out of the store, an unknown version...)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from diplomas.core.errors import KeyStoreError
from diplomas.keys import FileKeyStore
from diplomas.keys.signing import (
    SigningCertificates,
    dump_list,
    implicit_list,
    load_list,
)


@pytest.fixture
def listed(store: FileKeyStore) -> SigningCertificates:
    return implicit_list(store.document_signing_certificate())


def test_a_store_without_the_file_has_its_self_made_certificate(
    store: FileKeyStore, listed: SigningCertificates
) -> None:
    assert store.signing_certificates() == listed
    [entry] = listed.entries
    assert listed.current() == entry and entry.source == "self-made"
    assert (entry.key_file, entry.certificate_file, entry.root_file) == (
        "document-signing.key.pem",
        "document-signing.pem",
        "root-ca.pem",
    )
    assert entry.cert_id == f"dsc-{entry.sha256[:16]}" and entry.chain_file is None


def test_round_trip(listed: SigningCertificates) -> None:
    assert load_list(dump_list(listed), "list") == listed


def _changed(listed: SigningCertificates, **change: Any) -> bytes:
    document = json.loads(dump_list(listed))
    for key, value in change.items():
        if key in document:
            document[key] = value
        else:
            document["certificates"][0][key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 2}, "has version 2; this release reads version 1"),
        ({"format": "other"}, "is not a list of document-signing certificates"),
        ({"current": "dsc-0000000000000000"}, "current names no listed certificate"),
        ({"certificates": []}, "lists no certificates"),
        ({"key_file": "../../etc/key.pem"}, "key_file is missing or malformed"),
        ({"root_file": ".hidden"}, "root_file is missing or malformed"),
        ({"source": "found"}, "source must be one of self-made, imported"),
        ({"not_after": "2031-01-01T00:00:00"}, "not_after is not a time with a time zone"),
        ({"sha256": "XYZ"}, "sha256 is missing or malformed"),
    ],
)
def test_malformed_lists_are_refused(
    listed: SigningCertificates, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(KeyStoreError, match=message.replace("(", r"\(")):
        load_list(_changed(listed, **change), "list")
