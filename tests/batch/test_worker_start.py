"""`diplomas worker` and `diplomas serve` refuse, at once and in words, a database they
cannot use: one that does not answer, one with no schema yet, one at an older schema.
(A worker logged the driver's complaint every second for ever; a server gave up after
30 s with a traceback.)"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import cli_environment, run
from conftest import PG_URL
from sqlalchemy import make_url

from diplomas.storage import make_engine

pytestmark = pytest.mark.postgres
DIPLOMAS = str(Path(sys.executable).parent / "diplomas")


@pytest.fixture
def empty_schema() -> Iterator[str]:
    """The URL of an empty PostgreSQL schema (no diplomas schema in it)."""
    if not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set")
    schema = "t_" + secrets.token_hex(6)
    admin = make_engine(PG_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def started(env: dict[str, str], *command: str) -> tuple[int, str, float]:
    began = time.monotonic()
    done = subprocess.run([DIPLOMAS, *command], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


def test_a_database_that_does_not_answer(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("DIPLOMAS_TEST_DATABASE_URL not set")
    env = cli_environment(tmp_path)
    run(env, "init", "--no-input")
    gone = make_url(PG_URL).set(password="s3cret", database="no_such_database_" + "x" * 6)
    env["DIPLOMAS_DATABASE_URL"] = gone.render_as_string(hide_password=False)
    for command in (("worker",), ("serve", "--port", "0")):
        code, said, seconds = started(env, *command)
        assert code == 4, said
        assert "the database does not answer" in said and "no_such_database" in said
        assert "s3cret" not in said and "Traceback" not in said
        assert seconds < 30, seconds


def test_a_database_with_no_schema_or_an_older_one(tmp_path: Path, empty_schema: str) -> None:
    env = {**cli_environment(tmp_path), "DIPLOMAS_DATABASE_URL": empty_schema}
    code, said, _ = started(env, "worker", "--burst")
    assert code == 4 and "holds no diplomas yet: run `diplomas init`" in said, said

    run(env, "init", "--no-input")
    code, said, _ = started(env, "worker", "--burst")  # at this version's schema: it works
    assert code == 0 and "taking batch shards from the task queue" in said, said
    assert "stopped" in said
    engine = make_engine(empty_schema)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0014'")
    engine.dispose()
    for command in (("worker", "--burst"), ("serve", "--port", "0")):
        code, said, _ = started(env, *command)
        assert code == 4, said
        assert "at revision 0014" in said and "run `diplomas init`" in said, said
