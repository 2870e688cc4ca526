from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, func, select, text, update

from diplomas.core.errors import ConfigurationError, Conflict, NotFound
from diplomas.core.model import DiplomaStatus, Institution
from diplomas.core.ports import DiplomaRepository, TokenRecord
from diplomas.storage import SqlRepository
from diplomas.storage.tables import DiplomaRow, SerialCounterRow

from .support import (
    FIRST_DAY_1405,
    INSTITUTIONS,
    LAST_DAY_1404,
    NOW,
    SUT,
    TBZ,
    hash_national_id,
    record_for,
    request,
)

TEHRAN = timezone(timedelta(hours=3, minutes=30))


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(DiplomaRow)).scalar_one()


def test_implements_the_port(repo: SqlRepository) -> None:
    port: DiplomaRepository = repo
    assert port is repo


def test_issue_stores_and_returns_an_equal_diploma(repo: SqlRepository) -> None:
    asked = request(
        citation="برای طرح نوآورانه",
        field="مهندسی پزشکی",
        email="m@example.org",
        external_id="crm:42",
        template="modern",
    )
    diploma, created = repo.issue(TBZ, asked, "record-2026", record_for, NOW)

    assert created
    assert diploma.serial == "TBZMED-1405-000001"
    assert len(diploma.id) == 23
    assert diploma.institution == TBZ
    assert diploma.request == asked
    assert diploma.record == record_for(diploma.id, diploma.serial)
    assert diploma.key_id == "record-2026"
    assert diploma.issued_at == NOW
    assert diploma.status is DiplomaStatus.ISSUED
    assert diploma.revoked_at is None
    assert repo.get(diploma.id) == diploma
    assert repo.get_by_serial(diploma.serial) == diploma
    assert repo.get_by_external_id("tbzmed", "crm:42") == diploma


def test_unknown_ids_and_serials_are_none(repo: SqlRepository) -> None:
    assert repo.get("A" * 23) is None
    assert repo.get_by_serial("TBZMED-1405-000001") is None
    assert repo.get_by_external_id("tbzmed", "nope") is None


def test_the_raw_national_id_is_never_stored(repo: SqlRepository, engine: Engine) -> None:
    diploma, _ = repo.issue(TBZ, request(national_id="0499370899"), "k1", record_for, NOW)

    assert diploma.request.national_id == ""
    with engine.connect() as connection:
        row = connection.execute(select(DiplomaRow.__table__)).one()
    assert row.national_id_hash == hash_national_id("0499370899")
    assert "0499370899" not in repr(tuple(row))


def test_serials_count_per_institution_and_solar_hijri_year(repo: SqlRepository) -> None:
    def serial(institution: Institution, issued_on: date) -> str:
        return repo.issue(institution, request(issued_on=issued_on), "k1", record_for, NOW)[
            0
        ].serial

    assert serial(TBZ, LAST_DAY_1404) == "TBZMED-1404-000001"
    assert serial(TBZ, LAST_DAY_1404) == "TBZMED-1404-000002"
    assert serial(TBZ, FIRST_DAY_1405) == "TBZMED-1405-000001"
    assert serial(SUT, FIRST_DAY_1405) == "SUT-1405-000001"
    assert serial(TBZ, FIRST_DAY_1405) == "TBZMED-1405-000002"
    assert serial(TBZ, LAST_DAY_1404) == "TBZMED-1404-000003"
    assert serial(TBZ, FIRST_DAY_1405) == "TBZMED-1405-000003"


def test_an_external_id_is_issued_once_per_institution(repo: SqlRepository, engine: Engine) -> None:
    first, created = repo.issue(TBZ, request(external_id="lms-7"), "k1", record_for, NOW)
    assert created

    def must_not_sign(_id: str, _serial: str) -> bytes:
        raise AssertionError("signed a second time")

    again, created = repo.issue(
        TBZ, request("نام دیگر", external_id="lms-7"), "k2", must_not_sign, NOW + timedelta(days=1)
    )
    assert not created
    assert again == first

    other, created = repo.issue(SUT, request(external_id="lms-7"), "k1", record_for, NOW)
    assert created
    assert other.id != first.id
    assert count_rows(engine) == 2


def test_requests_without_external_id_are_never_deduplicated(repo: SqlRepository) -> None:
    a, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    b, created = repo.issue(TBZ, request(), "k1", record_for, NOW)
    assert created
    assert a.id != b.id
    assert (a.serial, b.serial) == ("TBZMED-1405-000001", "TBZMED-1405-000002")


def test_a_failed_signature_stores_nothing_and_consumes_no_serial(
    repo: SqlRepository, engine: Engine
) -> None:
    seen: list[str] = []

    def failing(diploma_id: str, serial: str, status: object) -> bytes:
        seen.append(serial)
        raise RuntimeError("key store unavailable")

    with pytest.raises(RuntimeError, match="key store unavailable"):
        repo.issue(TBZ, request(external_id="x-1"), "k1", failing, NOW)

    assert seen == ["TBZMED-1405-000001"]
    assert count_rows(engine) == 0
    with engine.connect() as connection:
        assert connection.execute(select(SerialCounterRow.__table__)).all() == []
    diploma, created = repo.issue(TBZ, request(external_id="x-1"), "k1", record_for, NOW)
    assert created
    assert diploma.serial == "TBZMED-1405-000001"

    with pytest.raises(RuntimeError):
        repo.issue(TBZ, request(), "k1", failing, NOW)
    assert repo.issue(TBZ, request(), "k1", record_for, NOW)[0].serial == "TBZMED-1405-000002"


def test_issuing_for_an_unconfigured_institution_is_refused(
    repo: SqlRepository, engine: Engine
) -> None:
    stranger = dataclasses.replace(TBZ, slug="stranger")
    with pytest.raises(ConfigurationError, match="'stranger'"):
        repo.issue(stranger, request(), "k1", record_for, NOW)
    assert count_rows(engine) == 0


def test_reading_a_diploma_of_an_unconfigured_institution_is_a_clear_error(
    repo: SqlRepository, engine: Engine
) -> None:
    diploma, _ = repo.issue(SUT, request(), "k1", record_for, NOW)
    only_tbz = SqlRepository(engine, {"tbzmed": TBZ}, hash_national_id)
    with pytest.raises(ConfigurationError, match=rf"{diploma.id} .*'sut'.*not configured"):
        only_tbz.get(diploma.id)


def test_revoke(repo: SqlRepository) -> None:
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    at = datetime(2026, 12, 1, 12, 0, tzinfo=TEHRAN)

    revoked = repo.revoke(diploma.id, "issued in error", at)

    assert revoked.status is DiplomaStatus.REVOKED
    assert revoked.revoked_at == at
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo is not None
    assert revoked.revocation_reason == "issued in error"
    assert revoked.record == diploma.record
    assert repo.get(diploma.id) == revoked

    with pytest.raises(Conflict, match=r"already revoked .*2026-12-01.*issued in error"):
        repo.revoke(diploma.id, "again", at + timedelta(days=1))
    assert repo.get(diploma.id) == revoked
    with pytest.raises(NotFound):
        repo.revoke("B" * 23, "no such diploma", at)


def test_set_pdf_sha256(repo: SqlRepository) -> None:
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    digest = "ab" * 32
    repo.set_pdf_sha256(diploma.id, digest)
    stored = repo.get(diploma.id)
    assert stored is not None and stored.pdf_sha256 == digest
    with pytest.raises(NotFound):
        repo.set_pdf_sha256("C" * 23, digest)
    with pytest.raises(ValueError, match="64 lowercase hex"):
        repo.set_pdf_sha256(diploma.id, "not a digest")


def test_search_matches_names_serials_and_external_ids_newest_first(repo: SqlRepository) -> None:
    people = [
        ("مریم احمدی", "Maryam Ahmadi", "crm-1"),
        ("علی رضایی", "Ali Rezaei", "crm-2"),
        ("زهرا کریمی", "Zahra Karimi", "lms-3"),
        ("رضا مرادی", "Reza Moradi", ""),
    ]
    issued = [
        repo.issue(
            TBZ,
            request(name, name_en=name_en, external_id=external_id),
            "k1",
            record_for,
            NOW + timedelta(minutes=i),
        )[0]
        for i, (name, name_en, external_id) in enumerate(people)
    ]
    newest_first = issued[::-1]

    def ids(query: str, offset: int = 0, limit: int = 10) -> tuple[list[str], int]:
        rows, total = repo.search(query, offset, limit)
        return [d.id for d in rows], total

    assert ids("") == ([d.id for d in newest_first], 4)
    assert ids("احمدی") == ([issued[0].id], 1)
    assert ids("REZA") == ([issued[3].id, issued[1].id], 2)  # Rezaei and Reza, any case
    assert ids("رضا") == ([issued[3].id, issued[1].id], 2)
    assert ids("tbzmed-1405-000003") == ([issued[2].id], 1)
    assert ids("CRM-") == ([issued[1].id, issued[0].id], 2)
    assert ids("nobody") == ([], 0)
    assert ids("%") == ([], 0)  # LIKE wildcards are searched for literally
    assert ids("_") == ([], 0)
    assert ids("  Zahra ") == ([issued[2].id], 1)

    assert ids("", 0, 3) == ([d.id for d in newest_first[:3]], 4)
    assert ids("", 3, 3) == ([newest_first[3].id], 4)
    assert ids("", 10, 3) == ([], 4)
    assert ids("", 0, 0) == ([], 4)
    with pytest.raises(ValueError, match="negative"):
        repo.search("", -1, 10)


def test_search_folds_case_beyond_ascii(repo: SqlRepository) -> None:
    diploma, _ = repo.issue(TBZ, request(name_en="Zoë Élan"), "k1", record_for, NOW)
    rows, total = repo.search("élan", 0, 10)
    assert total == 1 and rows[0].id == diploma.id


def test_datetimes_are_utc_and_aware_after_the_round_trip(repo: SqlRepository) -> None:
    issued_at = datetime(2026, 11, 26, 23, 45, 12, 345678, tzinfo=TEHRAN)
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, issued_at)
    stored = repo.get(diploma.id)
    assert stored is not None
    assert stored.issued_at == issued_at
    assert stored.issued_at.tzinfo is not None
    assert stored.issued_at.utcoffset() == timedelta(0)
    assert stored.issued_at.isoformat() == "2026-11-26T20:15:12.345678+00:00"
    assert diploma.issued_at.isoformat() == stored.issued_at.isoformat()


def test_naive_datetimes_are_refused(repo: SqlRepository, engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.issue(TBZ, request(), "k1", record_for, datetime(2026, 11, 26, 8, 0))
    assert count_rows(engine) == 0


def test_record_bytes_are_kept_exactly(repo: SqlRepository) -> None:
    record = bytes(range(256)) + "ی\r\n".encode()
    diploma, _ = repo.issue(TBZ, request(), "k1", lambda _i, _s, _st: record, NOW)
    stored = repo.get(diploma.id)
    assert stored is not None
    assert type(stored.record) is bytes
    assert stored.record == record


def token(token_id: str = "tok_1", **fields: object) -> TokenRecord:
    values: dict[str, object] = {
        "name": "registrar laptop",
        "secret_hash": "scrypt$abc",
        "scopes": frozenset({"issue", "revoke"}),
        "created_at": NOW,
    }
    values.update(fields)
    return TokenRecord(token_id=token_id, **values)  # type: ignore[arg-type]


def test_tokens(repo: SqlRepository) -> None:
    assert repo.get_token("tok_1") is None
    assert repo.list_tokens() == []

    first = token(created_at=datetime(2026, 11, 26, 12, 0, tzinfo=TEHRAN))
    second = token("tok_2", name="batch job", scopes=frozenset({"issue"}))
    repo.add_token(second)
    repo.add_token(first)
    assert repo.get_token("tok_1") == first
    assert repo.get_token("tok_2") == second
    assert repo.list_tokens() == [first, second]  # oldest first
    with pytest.raises(Conflict, match="already exists"):
        repo.add_token(token())

    assert repo.token_last_used("tok_1") is None
    used = datetime(2026, 11, 27, 9, 0, tzinfo=TEHRAN)
    repo.touch_token("tok_1", used)
    last = repo.token_last_used("tok_1")
    assert last == used and last is not None and last.utcoffset() == timedelta(0)
    with pytest.raises(NotFound):
        repo.touch_token("nope", used)

    revoked = repo.revoke_token("tok_1", used)
    assert revoked == dataclasses.replace(first, revoked_at=used)
    assert repo.get_token("tok_1") == revoked
    revoked_at = revoked.revoked_at
    assert revoked_at is not None and revoked_at.tzinfo is not None
    with pytest.raises(Conflict, match="already revoked"):
        repo.revoke_token("tok_1", used)
    with pytest.raises(NotFound):
        repo.revoke_token("nope", used)


def test_token_scopes_may_not_hold_commas(repo: SqlRepository) -> None:
    with pytest.raises(ValueError, match="commas"):
        repo.add_token(token(scopes=frozenset({"issue,revoke"})))
    assert repo.list_tokens() == []


def test_empty_scopes_round_trip(repo: SqlRepository) -> None:
    repo.add_token(token(scopes=frozenset()))
    stored = repo.get_token("tok_1")
    assert stored is not None and stored.scopes == frozenset()


def test_readers_do_not_wait_for_a_writer_on_sqlite(repo: SqlRepository, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking only")
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    with engine.begin() as writer:  # BEGIN IMMEDIATE: holds the write lock
        writer.execute(text("UPDATE serial_counters SET next_number = next_number"))
        started = datetime.now(UTC)
        assert repo.get(diploma.id) == diploma
        assert repo.search("", 0, 10)[1] == 1
        assert datetime.now(UTC) - started < timedelta(seconds=5)


def test_unconfigured_co_issuers_are_reported(repo: SqlRepository, engine: Engine) -> None:
    diploma, _ = repo.issue(TBZ, request(), "k1", record_for, NOW)
    with engine.begin() as connection:
        connection.execute(update(DiplomaRow).values(co_issuers="sut,gone"))
    with pytest.raises(ConfigurationError, match="'gone'"):
        repo.get(diploma.id)
    with engine.begin() as connection:
        connection.execute(update(DiplomaRow).values(co_issuers="sut"))
    stored = repo.get(diploma.id)
    assert stored is not None and stored.co_issuers == (INSTITUTIONS["sut"],)
