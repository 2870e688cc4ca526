"""Migration 0009 on a database that already holds diplomas (SQLite and PostgreSQL): the
versions table arrives empty, every diploma issued before is version 1, and it can be
corrected at once."""

from __future__ import annotations

from alembic import command
from conftest import Instance
from sqlalchemy import inspect, text

from diplomas.core.verification import VerdictStatus
from diplomas.storage import current_revision, make_engine, migrate
from diplomas.storage.schema import alembic_config, head_revision


def _to(url: str, revision: str, *, down: bool) -> None:
    engine = make_engine(url)
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def test_upgrading_a_database_with_diplomas(instance: Instance) -> None:
    service = instance.service
    url = instance.settings.effective_database_url
    # A database as the release before corrections left it, with diplomas in it (issued
    # now, then taken down to that release: the code of today writes today's columns).
    issued = service.issue({"name": "زهرا محمدی", "name_en": "Zahra Mohamadi"})
    _to(url, "0008", down=True)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == "0008"
        assert "diploma_versions" not in inspect(engine).get_table_names()

        migrate(url)
        assert current_revision(engine) == head_revision()
        assert "diploma_versions" in inspect(engine).get_table_names()
    finally:
        engine.dispose()

    d = issued.diploma
    assert [v.version for v in service.versions(d.id)] == [1]
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.VALID
    outcome = service.correct(d.id, {"name_en": "Zahra Mohammadi"})
    assert outcome.version == 2 and outcome.diploma.serial == d.serial
    assert service.verify_pdf(issued.pdf).status is VerdictStatus.SUPERSEDED

    # And back down: the versions go, the diplomas (at their current version) stay.
    _to(url, "0008", down=True)
    engine = make_engine(url)
    try:
        assert "diploma_versions" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            kept = connection.execute(
                text("SELECT name_en FROM diplomas WHERE id = :id"), {"id": d.id}
            ).scalar()
        assert kept == "Zahra Mohammadi"
    finally:
        engine.dispose()
