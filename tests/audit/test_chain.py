"""The pure chain rules: canonical form, hash, and what verification catches."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diplomas.core.audit import (
    GENESIS,
    AuditEntry,
    ChainHead,
    next_entry,
    utc_text,
    verify_chain,
)
from diplomas.core.proof import canonical

T0 = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def chain(n: int) -> tuple[list[AuditEntry], ChainHead]:
    head = ChainHead()
    entries = []
    for i in range(n):
        entry = next_entry(
            head,
            T0 + timedelta(seconds=i, microseconds=7),
            f"token:{i:016x}",
            "diploma.issued",
            f"id{i}",
            {"diploma": f"id{i}", "serial": f"TBZMED-1405-{i:06d}", "names": ["ی", "a"]},
        )
        entries.append(dataclasses.replace(entry, recorded_hash=entry.digest()))
        head = ChainHead(entry.seq, entry.digest())
    return entries, head


def test_an_entry_hashes_its_rfc8785_canonical_bytes() -> None:
    [entry], _ = chain(1)
    assert entry.seq == 1 and entry.prev_hash == GENESIS
    assert entry.canonical_bytes() == canonical(
        {
            "v": 1,
            "seq": 1,
            "at": "2026-11-26T09:30:00.000007Z",
            "actor": "token:0000000000000000",
            "action": "diploma.issued",
            "subject": "id0",
            "details": dict(entry.details),
            "prev": GENESIS,
        }
    )
    assert entry.digest() == hashlib.sha256(entry.canonical_bytes()).hexdigest()


def test_times_are_utc_with_microseconds_and_naive_ones_are_refused() -> None:
    tehran = datetime(2026, 11, 26, 13, 0, 0, 5, tzinfo=UTC).astimezone()
    assert utc_text(tehran) == "2026-11-26T13:00:00.000005Z"
    with pytest.raises(ValueError, match="naive"):
        utc_text(datetime(2026, 11, 26))


def test_an_intact_chain_verifies() -> None:
    entries, head = chain(5)
    verdict = verify_chain(entries, head)
    assert verdict.intact and verdict.checked == 5 and verdict.head == head
    assert verdict.broken_at is None
    empty = verify_chain([], ChainHead())
    assert empty.intact and empty.checked == 0


def test_each_entry_links_to_the_previous_one() -> None:
    entries, _ = chain(3)
    assert [e.prev_hash for e in entries[1:]] == [e.digest() for e in entries[:-1]]


def _reason(entries: list[AuditEntry], head: ChainHead | None) -> tuple[int | None, str]:
    verdict = verify_chain(entries, head)
    assert not verdict.intact
    return verdict.broken_at, verdict.reasons[0]


def test_an_edited_entry_is_named() -> None:
    entries, head = chain(5)
    entries[2] = dataclasses.replace(entries[2], actor="cli:mallory")
    assert _reason(entries, head) == (
        3,
        "entry 3 was edited: its content no longer hashes to the hash recorded when it was written",
    )


def test_an_edit_with_a_recomputed_hash_is_caught_by_the_next_entry() -> None:
    entries, head = chain(5)
    forged = dataclasses.replace(entries[2], details={"diploma": "other"})
    entries[2] = dataclasses.replace(forged, recorded_hash=forged.digest())
    at, why = _reason(entries, head)
    assert at == 4 and "not the hash of entry 3" in why


def test_a_deleted_entry_is_named() -> None:
    entries, head = chain(5)
    del entries[1]
    at, why = _reason(entries, head)
    assert at == 2 and "entry 2 is missing" in why and "deleted" in why


def test_reordered_entries_are_caught() -> None:
    entries, head = chain(5)
    entries[1], entries[2] = entries[2], entries[1]
    assert _reason(entries, head)[0] == 2  # entry 3 where 2 belongs
    entries, head = chain(5)
    entries.insert(3, entries[1])  # 1, 2, 3, 2, 4, 5
    at, why = _reason(entries, head)
    assert at == 2 and "out of order" in why
    # Renumbered to hide the swap: the previous hashes no longer match.
    entries, head = chain(5)
    a, b = entries[1], entries[2]
    entries[1] = dataclasses.replace(b, seq=2)
    entries[2] = dataclasses.replace(a, seq=3)
    assert _reason(entries, head)[0] == 2


def test_a_truncated_log_is_caught_by_the_head() -> None:
    entries, head = chain(5)
    at, why = _reason(entries[:3], head)
    assert at == 4 and "truncated" in why
    at, why = _reason([], head)
    assert at == 1 and "truncated" in why


def test_an_edited_last_entry_or_head_is_caught() -> None:
    entries, head = chain(3)
    assert (
        "the last entry (or the head) was edited"
        in _reason(entries, dataclasses.replace(head, hash="f" * 64))[1]
    )
    assert "without the chain head" in _reason(entries, ChainHead(2, entries[1].digest()))[1]
    assert _reason(entries, None)[1] == "the chain head is missing"


@given(
    index=st.integers(0, 5),
    field=st.sampled_from(["at", "actor", "action", "subject", "details", "prev_hash", "seq"]),
)
def test_any_edit_of_any_entry_is_caught(index: int, field: str) -> None:
    entries, head = chain(6)
    old = entries[index]
    new_value: Any = {
        "at": old.at + timedelta(microseconds=1),
        "actor": old.actor + "x",
        "action": "diploma.revoked",
        "subject": old.subject + "x",
        "details": {**old.details, "serial": "X"},
        "prev_hash": "0" * 63 + "1",
        "seq": old.seq + 10,
    }[field]
    entries[index] = dataclasses.replace(old, **{field: new_value})
    # Also when the forger recomputes the entry's own hash.
    for recompute in (False, True):
        tampered = list(entries)
        if recompute:
            tampered[index] = dataclasses.replace(
                entries[index], recorded_hash=entries[index].digest()
            )
        assert not verify_chain(tampered, head).intact


def test_an_entry_needs_an_actor() -> None:
    with pytest.raises(ValueError, match="actor"):
        next_entry(ChainHead(), T0, "", "key.rotated", "", {})
