"""The storage backends (SQLite always, PostgreSQL when DIPLOMAS_TEST_DATABASE_URL is set),
shared with the storage tests."""

from storage.conftest import db_url, engine, repo

__all__ = ["db_url", "engine", "repo"]
