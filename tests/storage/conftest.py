"""Backends for the storage tests: a SQLite file always, PostgreSQL when
DIPLOMAS_TEST_DATABASE_URL is set. Each PostgreSQL test runs in a schema of its own,
created before and dropped after, selected through the connection's search_path so that
every engine and process given the URL sees only that schema."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from diplomas.storage import SqlRepository, database_url, make_engine, migrate

from .support import INSTITUTIONS, hash_national_id

ENV = "DIPLOMAS_TEST_DATABASE_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (not yet migrated)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'diplomas.db'}"
        return
    base = os.environ.get(ENV)
    if not base:
        pytest.skip(f"{ENV} not set")
    schema = f"t_{secrets.token_hex(6)}"
    admin = make_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = database_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a freshly migrated database."""
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def repo(engine: Engine) -> SqlRepository:
    return SqlRepository(engine, INSTITUTIONS, hash_national_id)
