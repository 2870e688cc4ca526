"""Searching stored diplomas (`SqlRepository.find`) on SQLite and PostgreSQL, and migration
0007 giving the diplomas stored before it their search text."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from diplomas.core.model import Diploma, DiplomaStatus
from diplomas.core.search import COUNT_LIMIT, DiplomaQuery, SortOrder
from diplomas.storage import SqlRepository, make_engine, migrate
from diplomas.storage.schema import alembic_config

from .support import INSTITUTIONS, NOW, TBZ, hash_national_id, record_for, request

PEOPLE = [
    # name, English name, email, external id, national id, issued on, template, co-issuers
    ("زهرا محمدی\u200cنژاد", "Zahra Mohammadi-Nejad", "zahra@example.ir", "crm-1", "0499370899"),
    ("علي كريمي", "Ali Karimi", "ali.karimi@example.com", "crm-2", ""),
    ("مریم احمدی", "Maryam Ahmadi", "", "lms-3", ""),
    ("رضا محمدی نژاد", "Reza Mohammadinejad", "", "", ""),
    ("سارا موسوی", "Sara Mousavi", "sara@example.ir", "", ""),
]


@pytest.fixture
def issued(repo: SqlRepository) -> list[Diploma]:
    """Five diplomas, one minute apart (the last is the newest): the third revoked, the
    fourth co-issued with SUT on the 'modern' template, the fifth suspended and dated in
    1404."""
    out = []
    for i, (name, name_en, email, external_id, national_id) in enumerate(PEOPLE):
        extra: dict[str, object] = {}
        if i == 3:
            extra = {"template": "modern", "co_issuers": ("sut",)}
        if i == 4:
            extra = {"issued_on": date(2026, 1, 10)}
        diploma, _ = repo.issue(
            TBZ,
            request(
                name,
                name_en=name_en,
                email=email,
                external_id=external_id,
                national_id=national_id,
                **extra,
            ),
            "k1",
            record_for,
            NOW + timedelta(minutes=i),
        )
        out.append(diploma)
    repo.revoke(out[2].id, "duplicate", NOW + timedelta(hours=1))
    repo.suspend(out[4].id, "under review", NOW + timedelta(hours=1))
    return out


def names(repo: SqlRepository, national_id_hash: str | None = None, **query: object) -> list[str]:
    found = repo.find(DiplomaQuery(**query), national_id_hash)  # type: ignore[arg-type]
    return [d.request.name for d in found.items]


@pytest.mark.parametrize(
    "spelling", ["محمدی\u200cنژاد", "محمدی نژاد", "محمدینژاد", "محمدي نژاد", "مُحَمَّدی"]
)
def test_a_name_is_found_however_it_is_spelt(
    repo: SqlRepository, issued: list[Diploma], spelling: str
) -> None:
    assert set(names(repo, text=spelling)) == {"زهرا محمدی\u200cنژاد", "رضا محمدی نژاد"}


def test_arabic_letters_find_persian_ones_and_back(
    repo: SqlRepository, issued: list[Diploma]
) -> None:
    # Stored as typed (the repository does not normalise; the service does).
    assert names(repo, text="علی کریمی") == ["علي كريمي"]
    assert names(repo, text="كريمي") == ["علي كريمي"]


def test_serials_emails_and_external_ids_are_found(
    repo: SqlRepository, issued: list[Diploma]
) -> None:
    serial = issued[1].serial
    persian = serial.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert names(repo, text=persian.lower()) == ["علي كريمي"]
    assert names(repo, text=serial.replace("-", " ")) == ["علي كريمي"]
    assert names(repo, text="ali.karimi@example.com") == ["علي كريمي"]
    assert names(repo, text="LMS-3") == ["مریم احمدی"]
    assert set(names(repo, text="mohammadi nejad")) == {"زهرا محمدی\u200cنژاد", "رضا محمدی نژاد"}
    assert names(repo, text="%") == [] and names(repo, text="|") == []
    assert names(repo, text="nobody") == []


def test_a_national_id_hash_matches_exactly(repo: SqlRepository, issued: list[Diploma]) -> None:
    digest = hash_national_id("0499370899")
    assert names(repo, digest, text="0499370899") == ["زهرا محمدی\u200cنژاد"]
    assert names(repo, hash_national_id("1111111111"), text="1111111111") == []


def test_each_filter(repo: SqlRepository, issued: list[Diploma]) -> None:
    assert names(repo, status=DiplomaStatus.REVOKED) == ["مریم احمدی"]
    assert names(repo, status=DiplomaStatus.SUSPENDED) == ["سارا موسوی"]
    assert len(names(repo, status=DiplomaStatus.ISSUED)) == 3
    assert names(repo, issued_to=date(2026, 3, 20)) == ["سارا موسوی"]
    assert "سارا موسوی" not in names(repo, issued_from=date(2026, 3, 21))
    assert names(repo, template="modern") == ["رضا محمدی نژاد"]
    assert names(repo, co_issuer="sut") == ["رضا محمدی نژاد"]
    assert names(repo, co_issuer="su") == []
    assert names(repo, text="محمدی", template="classic") == ["زهرا محمدی\u200cنژاد"]
    assert names(repo, batch_id="B" * 23) == []


def test_filter_by_batch(repo: SqlRepository) -> None:
    def make(req: object, diploma_id: str, serial: str, status: object) -> bytes:
        return record_for(diploma_id, serial)

    repo.issue_many(
        TBZ, [(request("نسرین"), "row:1"), (request("نگار"), "row:2")], "k1", make, NOW, "b" * 23
    )
    repo.issue(TBZ, request("نادر"), "k1", record_for, NOW)
    assert sorted(names(repo, batch_id="b" * 23)) == ["نسرین", "نگار"]
    stored = repo.find(DiplomaQuery(batch_id="b" * 23)).items[0]
    assert stored.batch_id == "b" * 23


def test_sort_orders(repo: SqlRepository, issued: list[Diploma]) -> None:
    # By the date on the diploma first: the fifth is dated 1404, the others share a day.
    newest = [d.request.name for d in [*reversed(issued[:4]), issued[4]]]
    assert names(repo) == newest
    assert names(repo, sort=SortOrder.OLDEST) == newest[::-1]
    by_serial = [issued[4], *issued[:4]]  # the 1404 serial first
    assert names(repo, sort=SortOrder.SERIAL) == [d.request.name for d in by_serial]
    by_name = names(repo, sort=SortOrder.NAME)
    assert by_name == sorted(by_name)


def test_pages_and_totals(repo: SqlRepository, issued: list[Diploma]) -> None:
    # By the date on the diploma first: the fifth is dated 1404, the others share a day.
    newest = [d.request.name for d in [*reversed(issued[:4]), issued[4]]]
    first = repo.find(DiplomaQuery(limit=2))
    assert [d.request.name for d in first.items] == newest[:2]
    assert (first.total, first.total_is_exact) == (5, True)
    last = repo.find(DiplomaQuery(offset=4, limit=2))
    assert [d.request.name for d in last.items] == newest[4:]
    assert last.total == 5
    beyond = repo.find(DiplomaQuery(offset=10, limit=2))
    assert (beyond.items, beyond.total) == ((), 5)
    assert repo.find(DiplomaQuery(text="محمدی", limit=1)).total == 2


def test_a_count_past_the_limit_stops(
    repo: SqlRepository, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("diplomas.storage.repository.COUNT_LIMIT", 3)
    for i in range(5):
        repo.issue(TBZ, request(f"نام {i}"), "k1", record_for, NOW)
    found = repo.find(DiplomaQuery(limit=2))
    assert (found.total, found.total_is_exact, found.total_text) == (3, False, "3+")
    # Past the limit, a text search is paged by the database's own plan; below it, the
    # matches are gathered first: the pages are the same either way.
    broad = [d.request.name for d in repo.find(DiplomaQuery(text="نام", limit=5)).items]
    by_name = repo.find(DiplomaQuery(text="نام", sort=SortOrder.NAME, offset=1, limit=2))
    past = repo.find(DiplomaQuery(text="نام", offset=10))
    assert (past.items, past.total, past.total_is_exact) == ((), 3, False)
    monkeypatch.setattr("diplomas.storage.repository.COUNT_LIMIT", 100)
    past = repo.find(DiplomaQuery(text="نام", offset=10))
    assert (past.items, past.total, past.total_is_exact) == ((), 5, True)
    assert [d.request.name for d in repo.find(DiplomaQuery(text="نام", limit=5)).items] == broad
    again = repo.find(DiplomaQuery(text="نام", sort=SortOrder.NAME, offset=1, limit=2))
    assert again.items == by_name.items and [d.request.name for d in again.items] == [
        "نام 1",
        "نام 2",
    ]
    assert COUNT_LIMIT == 1_000


def test_pages_past_the_count_are_the_pages_of_all_the_matches(
    repo: SqlRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the count, the page is gathered from the matches on this side of a sample's
    # page (name, serial, oldest) or from a window of recent dates (newest): the same
    # pages as sorting every match.
    names = ["سارا", "علی", "مریم", "آرش", "یگانه", "بهاره"]
    for i in range(30):
        repo.issue(
            TBZ,
            request(
                f"{names[i % 6]} نامی {i % 7}",
                issued_on=date(2026, 1, 1) - timedelta(days=(i * 37) % 400),
            ),
            "k1",
            record_for,
            NOW + timedelta(minutes=i),
        )
    pages = [
        DiplomaQuery(text="نامی", sort=order, offset=offset, limit=limit)
        for order in SortOrder
        for offset, limit in ((0, 4), (3, 5), (8, 2), (26, 5), (40, 5))
    ]
    exact = [[d.id for d in repo.find(q).items] for q in pages]
    monkeypatch.setattr("diplomas.storage.repository.COUNT_LIMIT", 10)
    # Windows that leave the page to the database's plan, and ones that end up holding
    # every date.
    for windows in ((20, 100), (20, 1000)):
        monkeypatch.setattr("diplomas.storage.repository._NEWEST_WINDOWS", windows)
        for query, ids in zip(pages, exact, strict=True):
            found = repo.find(query)
            assert [d.id for d in found.items] == ids, query
            assert (found.total, found.total_is_exact) == (10, False)


def test_the_old_search_still_answers_with_an_exact_count(
    repo: SqlRepository, issued: list[Diploma]
) -> None:
    rows, total = repo.search("محمدی نژاد", 0, 1)
    assert total == 2 and len(rows) == 1


def test_search_text_is_indexed(engine: Engine) -> None:
    indexes = {ix["name"]: ix for ix in inspect(engine).get_indexes("diplomas")}
    index = "ix_diplomas_search_text_name"
    assert indexes[index]["column_names"] == ["search_text", "name"]
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            definition = connection.execute(
                # This test's own schema: other runs may hold schemas with the same index.
                text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE indexname = :name AND schemaname = current_schema()"
                ),
                {"name": index},
            ).scalar_one()
        assert "USING gin" in definition and "gin_trgm_ops" in definition
        assert definition.endswith("gin_trgm_ops, name)")  # the name by btree_gin


def test_migration_0007_gives_stored_diplomas_their_search_text(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0006")
        with engine.begin() as connection:
            for n, (name, name_en) in enumerate(
                [("زهرا محمدی\u200cنژاد", "Zahra"), ("علي كريمي", "Ali Karimi")], start=1
            ):
                connection.execute(
                    text(
                        "INSERT INTO diplomas (id, institution, serial, name, name_en, award, "
                        "award_en, citation, field, issued_on, template, email, co_issuers, "
                        "key_id, record, status, revocation_reason, issued_at, pdf_sha256, "
                        "suspension_reason, external_id) VALUES (:id, 'tbzmed', :serial, :name, "
                        ":name_en, '', '', '', '', :day, 'classic', 'x@example.ir', '', 'k1', "
                        ":record, 'issued', '', :at, '', '', :ext)"
                    ),
                    {
                        "id": f"{n:0>23}",
                        "serial": f"TBZMED-1405-{n:06d}",
                        "name": name,
                        "name_en": name_en,
                        "day": date(2026, 5, 1),
                        "record": b"{}",
                        "at": NOW.replace(tzinfo=None),
                        "ext": f"old-{n}",
                    },
                )
        migrate(db_url)
        with engine.connect() as connection:
            stored = connection.execute(
                text("SELECT search_text FROM diplomas ORDER BY id")
            ).scalars()
            assert list(stored) == [
                "زهرامحمدینژاد|zahra|tbzmed1405000001|old1|xexampleir",
                "علیکریمی|alikarimi|tbzmed1405000002|old2|xexampleir",
            ]
        repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
        assert [d.serial for d in repo.find(DiplomaQuery(text="محمدی نژاد")).items] == [
            "TBZMED-1405-000001"
        ]
        assert repo.find(DiplomaQuery(text="1405-000002")).total == 1

        with engine.begin() as connection:  # and back down, and up again
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert "search_text" not in {c["name"] for c in inspect(engine).get_columns("diplomas")}
        migrate(db_url)
        assert repo.find(DiplomaQuery(text="علی کریمی")).total == 1
    finally:
        engine.dispose()
