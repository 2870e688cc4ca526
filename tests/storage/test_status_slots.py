"""Status list slots: handed out in the issuing transaction, unique per list, a new list
when one fills; suspension rules; the version that tells servers to re-sign a list."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from diplomas.core.errors import Conflict, NotFound
from diplomas.core.model import DiplomaRequest, DiplomaStatus
from diplomas.core.statuslist import (
    SignedStatusList,
    StatusEntry,
    StatusPurpose,
    StatusSlot,
    status_entries,
)
from diplomas.storage import SqlRepository, make_engine, migrate
from diplomas.storage.schema import alembic_config

from .support import INSTITUTIONS, NOW, TBZ, hash_national_id, record_for, request

SMALL = 8


@pytest.fixture
def small(engine: Engine) -> SqlRepository:
    return SqlRepository(engine, INSTITUTIONS, hash_national_id, status_list_size=SMALL)


def test_each_diploma_gets_a_slot_and_full_lists_roll_over(small: SqlRepository) -> None:
    seen: dict[str, tuple[str, ...]] = {}

    def make_record(diploma_id: str, serial: str, status: tuple[StatusEntry, ...]) -> bytes:
        seen[diploma_id] = tuple(e.to_json()["id"] for e in status)
        return record_for(diploma_id, serial)

    diplomas = [small.issue(TBZ, request(), "k1", make_record, NOW)[0] for _ in range(20)]
    slots = [d.status_slot for d in diplomas]
    assert all(s is not None for s in slots)
    assert Counter(s[0] for s in slots if s) == {1: 8, 2: 8, 3: 4}
    assert len(set(slots)) == 20
    assert all(0 <= s[1] < SMALL for s in slots if s)
    # A full list is a permutation of its indexes.
    assert sorted(s[1] for s in slots if s and s[0] == 1) == list(range(SMALL))
    # make_record saw exactly the entries of the slot that was stored.
    for d in diplomas:
        assert d.status_slot is not None
        number, index = d.status_slot
        expected = status_entries(TBZ.public_url, StatusSlot(number, index))
        assert seen[d.id] == tuple(e.to_json()["id"] for e in expected)
        assert seen[d.id][0] == f"{TBZ.public_url}/status/revocation-{number}#{index}"


def test_issue_many_takes_slots_in_its_transaction(small: SqlRepository, engine: Engine) -> None:
    items = [(request(external_id=f"b{n}"), f"ext:b{n}") for n in range(12)]
    items.append(items[0])  # the same identity twice: one diploma, one slot
    entries: dict[str, int] = {}

    def make_record(
        r: DiplomaRequest, diploma_id: str, serial: str, got: tuple[StatusEntry, ...]
    ) -> bytes:
        assert [e.purpose for e in got] == [StatusPurpose.REVOCATION, StatusPurpose.SUSPENSION]
        entries[diploma_id] = got[0].index
        return record_for(diploma_id, serial)

    out = small.issue_many(TBZ, items, "k1", make_record, NOW, "batch-1")
    fresh = [d for d, created in out if created]
    assert len(fresh) == 12
    slots = {d.status_slot for d in fresh}
    assert len(slots) == 12 and {s[0] for s in slots if s} == {1, 2}
    assert all(d.status_slot and entries[d.id] == d.status_slot[1] for d in fresh)

    def allocated() -> dict[int, int]:
        with engine.connect() as c:
            rows = c.execute(text("SELECT number, allocated FROM status_lists")).all()
            return {number: used for number, used in rows}

    before = allocated()
    assert before == {1: 8, 2: 4}

    def failing(
        r: DiplomaRequest, diploma_id: str, serial: str, status: tuple[StatusEntry, ...]
    ) -> bytes:
        raise RuntimeError("signing failed")

    more = [(request(external_id=f"c{n}"), f"ext:c{n}") for n in range(9)]
    with pytest.raises(RuntimeError):
        small.issue_many(TBZ, more, "k1", failing, NOW)
    assert allocated() == before  # the failed chunk consumed no slot


def test_suspension_rules(repo: SqlRepository) -> None:
    d, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    later = NOW + timedelta(days=3)
    s = repo.suspend(d.id, "در دست بررسی", later)
    assert s.status is DiplomaStatus.SUSPENDED
    assert (s.suspended_at, s.suspension_reason) == (later, "در دست بررسی")
    assert repo.get(d.id) == s
    with pytest.raises(Conflict, match="already suspended"):
        repo.suspend(d.id, "again", later)
    u = repo.unsuspend(d.id, later)
    assert u.status is DiplomaStatus.ISSUED and u.suspended_at is None
    with pytest.raises(Conflict, match="not suspended"):
        repo.unsuspend(d.id, later)

    repo.suspend(d.id, "در دست بررسی", later)
    r = repo.revoke(d.id, "تقلب", later)  # revoking a suspended diploma works
    assert r.status is DiplomaStatus.REVOKED and r.revocation_reason == "تقلب"
    with pytest.raises(Conflict, match="revocation is final"):
        repo.unsuspend(d.id, later)
    with pytest.raises(Conflict, match="revocation is final"):
        repo.suspend(d.id, "x", later)
    with pytest.raises(Conflict, match="already revoked"):
        repo.revoke(d.id, "again", later)
    with pytest.raises(NotFound):
        repo.suspend("Z" * 23, "x", later)
    with pytest.raises(NotFound):
        repo.unsuspend("Z" * 23, later)


def test_status_changes_bump_the_version_and_the_bits_follow(repo: SqlRepository) -> None:
    a, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    b, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    assert a.status_slot and b.status_slot
    number = a.status_slot[0]
    assert repo.status_list_version(number) == 0
    assert repo.status_list_version(number + 1) is None
    repo.suspend(a.id, "x", NOW)
    repo.revoke(b.id, "y", NOW)
    assert repo.status_list_version(number) == 2
    assert repo.status_list_bits(number, StatusPurpose.SUSPENSION) == (
        2,
        131_072,
        [a.status_slot[1]],
    )
    assert repo.status_list_bits(number, StatusPurpose.REVOCATION) == (
        2,
        131_072,
        [b.status_slot[1]],
    )
    repo.revoke(a.id, "z", NOW)
    assert repo.status_list_bits(number, StatusPurpose.SUSPENSION) == (3, 131_072, [])
    assert sorted(repo.status_list_bits(number, StatusPurpose.REVOCATION)[2]) == sorted(  # type: ignore[index]
        [a.status_slot[1], b.status_slot[1]]
    )
    assert repo.status_list_bits(99, StatusPurpose.REVOCATION) is None


def test_signed_lists_are_stored_unless_a_newer_one_is(repo: SqlRepository) -> None:
    assert repo.signed_status_list("revocation-1") is None
    v2 = SignedStatusList("revocation-1", 2, "k1", b"{two}")
    repo.store_signed_status_list(v2, NOW)
    repo.store_signed_status_list(SignedStatusList("revocation-1", 1, "k1", b"{one}"), NOW)
    assert repo.signed_status_list("revocation-1") == v2
    v3 = SignedStatusList("revocation-1", 3, "k2", b"{three}")
    repo.store_signed_status_list(v3, NOW)
    assert repo.signed_status_list("revocation-1") == v3


def test_migration_keeps_diplomas_issued_before_status_lists(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO diplomas (id, institution, serial, name, name_en, award, "
                    "award_en, citation, field, issued_on, template, email, co_issuers, key_id, "
                    "record, status, revocation_reason, issued_at, pdf_sha256) VALUES "
                    "(:id, 'tbzmed', 'TBZMED-1399-000001', 'مریم', '', '', '', '', '', "
                    "'2026-03-21', 'classic', '', '', 'k1', :record, 'issued', '', "
                    ":at, '')"
                ),
                {"id": "O" * 23, "record": b"{}", "at": NOW.replace(tzinfo=None)},
            )
        migrate(db_url)
        repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
        old = repo.get("O" * 23)
        assert old is not None and old.status_slot is None and old.suspension_reason == ""
        assert repo.suspend(old.id, "x", NOW).status is DiplomaStatus.SUSPENDED
        assert repo.revoke(old.id, "y", NOW).status is DiplomaStatus.REVOKED
        new, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
        assert new.status_slot is not None and new.status_slot[0] == 1
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE diplomas SET status = 'lost'"))
    finally:
        engine.dispose()
