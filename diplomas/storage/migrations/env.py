"""Alembic environment for the diplomas database.

`diplomas.storage.migrate(url)` hands in an open connection through
`config.attributes["connection"]`. From the command line, the URL comes from
`-x url=...` or `sqlalchemy.url`:

    alembic -c diplomas/storage/alembic.ini -x url=sqlite:///var/diplomas.db upgrade head
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from diplomas.core.errors import ConfigurationError
from diplomas.storage.engine import make_engine
from diplomas.storage.tables import metadata

config = context.config


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """procrastinate's tables (PostgreSQL) are its own, made by its schema in 0014."""
    return not (type_ == "table" and reflected and (name or "").startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        include_object=_ours,
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        # SQLite DDL is transactional too once pysqlite stops managing transactions,
        # which `make_engine` arranges: a failed upgrade then leaves nothing behind.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise ConfigurationError("no database URL: pass -x url=... or set sqlalchemy.url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise ConfigurationError("offline (--sql) migrations are not supported")
_run_online()
