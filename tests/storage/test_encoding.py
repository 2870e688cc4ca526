"""A PostgreSQL database that does not hold UTF-8 is refused in words, before anything is
read or written: one created where the server's locale is C is SQL_ASCII, on which
psycopg hands text back as bytes and SQLAlchemy's first query failed with a bare TypeError."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from clitools import cli_environment, run

from diplomas.core.errors import ConfigurationError
from diplomas.storage import database_url, make_engine

pytestmark = pytest.mark.postgres

BASE = os.environ.get("DIPLOMAS_TEST_DATABASE_URL", "")


@pytest.fixture
def ascii_database() -> Iterator[str]:
    """The URL of a new SQL_ASCII database on the test server, dropped afterwards."""
    if not BASE:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set")
    name = f"ascii_{secrets.token_hex(5)}"
    admin = sa.create_engine(database_url(BASE), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 "
                f"LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        yield database_url(BASE).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_the_engine_names_the_encoding_and_the_fix(ascii_database: str) -> None:
    engine = make_engine(ascii_database)
    try:
        with pytest.raises(ConfigurationError) as caught, engine.connect():
            pass
    finally:
        engine.dispose()
    name = sa.make_url(ascii_database).database
    assert str(caught.value).startswith(
        f"the PostgreSQL database '{name}' stores text as SQL_ASCII, not UTF8"
    )
    assert f"CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0" in str(caught.value)


def test_init_on_such_a_database_stops_with_those_words(
    ascii_database: str, tmp_path: Path
) -> None:
    env = {**cli_environment(tmp_path), "DIPLOMAS_DATABASE_URL": ascii_database}
    out = run(env, "init", "--no-input", code=4)  # a setting to fix
    assert "stores text as SQL_ASCII, not UTF8" in out
    assert "Traceback" not in out and "TypeError" not in out
    # nothing was created in it (asked with psycopg alone: SQLAlchemy cannot read it)
    url = sa.make_url(ascii_database)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database
    ) as connection:
        row = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert row == (0,)
