from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

import diplomas.storage
from diplomas.core.errors import ConfigurationError
from diplomas.core.model import DiplomaRequest
from diplomas.storage import (
    SqlRepository,
    current_revision,
    database_url,
    head_revision,
    make_engine,
    migrate,
    migrate_engine,
)
from diplomas.storage.tables import metadata

from .support import INSTITUTIONS, TBZ, hash_national_id, record_for


def test_migrate_creates_the_schema_from_scratch(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert not inspect(engine).get_table_names()
        migrate(db_url)
        assert current_revision(engine) == head_revision() == "0015"
        assert {
            "diplomas",
            "serial_counters",
            "api_tokens",
            "batches",
            "status_lists",
            "status_list_credentials",
            "audit_log",
            "audit_head",
            "diploma_versions",
            "alembic_version",
        } <= set(inspect(engine).get_table_names())
        migrate(db_url)  # at head already: nothing to do
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_the_tables(engine: Engine) -> None:
    with engine.connect() as connection:
        # procrastinate's tables (PostgreSQL) are its own, made by its schema.
        ours = {
            "compare_type": True,
            "include_object": lambda obj, name, type_, reflected, other: (
                not (type_ == "table" and reflected and name.startswith("procrastinate_"))
            ),
        }
        context = MigrationContext.configure(connection, opts=ours)
        assert compare_metadata(context, metadata) == []


def test_search_columns_are_indexed(engine: Engine) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(engine).get_indexes("diplomas")}
    assert {("name",), ("name_en",), ("serial",), ("external_id",)} <= indexed


def test_sqlite_connections_are_tuned_for_concurrent_writers(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@db/diplomas", "postgresql+psycopg"),
        ("postgres://u@db/diplomas", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/diplomas", "postgresql+psycopg"),
        ("sqlite:///var/diplomas.db", "sqlite"),
    ],
)
def test_database_url_points_postgresql_at_psycopg(given: str, driver: str) -> None:
    assert database_url(given).drivername == driver


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unsupported database"):
        make_engine("mysql://u@db/diplomas")


def test_the_packaged_alembic_ini_works_from_the_command_line(db_url: str) -> None:
    ini = Path(diplomas.storage.__file__).parent / "alembic.ini"
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={db_url}", "upgrade", "head"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_an_in_memory_database_is_migrated_through_its_engine() -> None:
    engine = make_engine("sqlite://")
    try:
        migrate_engine(engine)
        repo = SqlRepository(engine, INSTITUTIONS, hash_national_id)
        diploma, _ = repo.issue(
            TBZ,
            DiplomaRequest("نام", date(2026, 5, 1)),
            "k1",
            record_for,
            datetime(2026, 5, 1, tzinfo=UTC),
        )
        assert repo.get(diploma.id) == diploma
    finally:
        engine.dispose()
