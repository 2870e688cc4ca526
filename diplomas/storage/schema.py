"""Create and upgrade the database schema with the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from .engine import READ_ONLY, make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the package's migrations; no .ini file needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(url: str | URL) -> None:
    """Bring the database at `url` up to the newest schema (`alembic upgrade head`).

    Opens and closes its own engine, so for an in-memory SQLite database (`sqlite://`)
    use `migrate_engine` on the engine that will serve it instead.
    """
    engine = make_engine(url)
    try:
        migrate_engine(engine)
    finally:
        engine.dispose()


def migrate_engine(engine: Engine) -> None:
    """`migrate` on an engine the caller owns; the whole upgrade is one transaction."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str | None:
    """The newest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.execution_options(**READ_ONLY).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_problem(engine: Engine) -> str:
    """Why this database cannot be served by this version ('' if it can): no schema yet,
    an older one (`diplomas init` migrates it), or one newer than this version knows."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return ""
    if current is None:
        return "it holds no diplomas yet: run `diplomas init` with the same settings first"
    scripts = ScriptDirectory.from_config(alembic_config())
    if current in {script.revision for script in scripts.walk_revisions()}:
        return (
            f"its schema is at revision {current} and this version needs {head}: run "
            "`diplomas init` to bring it up to date (it keeps everything)"
        )
    return (
        f"its schema is at revision {current}, newer than this version knows ({head}): run "
        "the version of diplomas that migrated it"
    )
