"""The trust bundle's `superseded_records`: digests, ids and dates only; checked on load;
a bundle without it (every bundle exported before corrections existed) loads as before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from diplomas.core.errors import KeyStoreError
from diplomas.core.model import Institution, Signatory
from diplomas.core.verification import SupersededRecord
from diplomas.keys import MemoryKeyStore
from diplomas.keys.bundle import export_bundle, load_bundle

TBZ = Institution(
    "tbzmed", "دانشگاه", "University", "https://d.example.org", "TBZMED", (Signatory("x", "y"),)
)
DIGEST = "ab" * 32
WHEN = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def bundle(superseded: list[SupersededRecord] | None) -> dict[str, Any]:
    keys = MemoryKeyStore(TBZ, WHEN)
    return export_bundle(TBZ, keys.entries(), keys.trust_roots(), superseded=superseded)


def test_round_trip() -> None:
    document = bundle([SupersededRecord("d1", DIGEST, WHEN, 1, qr_sha256="cd" * 32)])
    assert document["superseded_records"] == [
        {
            "diploma_id": "d1",
            "record_sha256": DIGEST,
            "superseded_at": "2026-12-02T09:30:00Z",
            "qr_signature_sha256": "cd" * 32,
        }
    ]
    [old] = load_bundle(json.dumps(document).encode()).superseded
    assert (old.diploma_id, old.record_sha256, old.superseded_at) == ("d1", DIGEST, WHEN)
    assert old.qr_sha256 == "cd" * 32 and old.issuers == (TBZ.did,)


def test_a_bundle_without_the_list_loads() -> None:
    document = bundle(None)
    assert "superseded_records" not in document
    assert load_bundle(json.dumps(document).encode()).superseded == ()


@pytest.mark.parametrize(
    ("entries", "words"),
    [
        ({"x": 1}, "must be a list"),
        (
            [{"diploma_id": "d1", "record_sha256": "XYZ", "superseded_at": "2026-12-02T09:30:00Z"}],
            "64 lowercase hex",
        ),
        ([{"diploma_id": "d1", "record_sha256": DIGEST}], "superseded_at"),
        ([{"record_sha256": DIGEST, "superseded_at": "2026-12-02T09:30:00Z"}], "diploma_id"),
        (["d1"], "must be an object"),
    ],
)
def test_bad_entries_are_refused(entries: object, words: str) -> None:
    document = bundle([])
    document["superseded_records"] = entries
    with pytest.raises(KeyStoreError, match=words):
        load_bundle(json.dumps(document).encode())
