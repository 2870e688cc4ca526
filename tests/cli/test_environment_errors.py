"""A variable that cannot be read, or a database that does not answer: one plain line and
a distinct exit code, never a traceback, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import cli_environment, invoke, run


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("DIPLOMAS_API_DOCS", "garbage", "DIPLOMAS_API_DOCS: Input should be a valid boolean"),
        ("DIPLOMAS_ENVIRONMENT", "prod", "DIPLOMAS_ENVIRONMENT: Input should be 'development'"),
        ("DIPLOMAS_RATE_LIMIT", "abc", "DIPLOMAS_RATE_LIMIT: Input should be a valid integer"),
        ("DIPLOMAS_SIGNATORIES", "notjson", "DIPLOMAS_SIGNATORIES"),
    ],
)
def test_a_variable_that_cannot_be_read_is_named(
    tmp_path: Path, variable: str, value: str, words: str
) -> None:
    env = cli_environment(tmp_path) | {variable: value}
    for command in (("settings", "check"), ("keys", "list")):
        out = run(env, *command, code=4)
        assert words in out, out
        assert "Traceback" not in out and "pydantic" not in out


def test_a_database_that_does_not_answer_is_said_plainly(tmp_path: Path) -> None:
    env = cli_environment(tmp_path)
    invoke(env, "init", "--no-input")
    away = env | {"DIPLOMAS_DATABASE_URL": "postgresql://dip:S3cretDbPw@127.0.0.1:9/diplomas"}
    out = run(away, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(tmp_path / "d.pdf"), code=4)
    assert "the database does not answer" in out
    assert "Traceback" not in out and "S3cretDbPw" not in out
    assert not (tmp_path / "d.pdf").exists()
