"""The users tests share the storage tests' databases (a SQLite file, PostgreSQL when
DIPLOMAS_TEST_DATABASE_URL is set) and the top-level `instance`."""

from __future__ import annotations

from storage.conftest import db_url

__all__ = ["db_url"]
