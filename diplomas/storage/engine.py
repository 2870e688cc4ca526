"""Build the SQLAlchemy engine for SQLite (the default) or PostgreSQL.

SQLite gets WAL, `synchronous=NORMAL`, foreign keys and a 30 s busy timeout. Its
transactions begin with `BEGIN IMMEDIATE` unless the connection asks for
`READ_ONLY`: a writer then takes the write lock up front and waits its turn behind the
busy timeout, instead of starting as a reader and failing ("database is locked") when two
processes try to upgrade their locks at once. SQLite's `lower()` is
replaced by Python's, so case-insensitive search folds non-ASCII letters too. PostgreSQL
URLs are pointed at psycopg 3, and a PostgreSQL database must hold UTF-8 (`_configure_postgresql`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from ..core.errors import ConfigurationError
from .outage import OutageAwarePool
from .outage import install as install_outage

BUSY_TIMEOUT_SECONDS = 30

READ_ONLY = {"diplomas_read_only": True}
"""Execution options for a connection or engine that only reads: on SQLite it begins a
deferred transaction, so readers never queue behind writers."""


def database_url(url: str | URL) -> URL:
    """Parse `url`, pointing `postgresql://` and `postgres://` at the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///path/to/file.db "
            "or postgresql://user@host/dbname"
        )
    return parsed


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for `url`, configured for several concurrent writer processes."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
            **({} if in_memory else {"poolclass": OutageAwarePool}),
        )
        _configure_sqlite(engine)
    else:
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True, poolclass=OutageAwarePool)
        _configure_postgresql(engine)
    install_outage(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: ConnectionPoolEntry, cargs: Any, cparams: Any) -> Any:
        """Connect, and refuse a database whose encoding is not UTF-8, before SQLAlchemy
        reads anything from it. A database created where the server's locale is C (a
        bare `initdb`, some images) is SQL_ASCII: psycopg then hands text back as bytes,
        and SQLAlchemy's first query fails with a TypeError that names nothing; a Persian
        name stored there would be bytes nobody checked."""
        connection = dialect.connect(*cargs, **cparams)
        encoding = connection.info.parameter_status("server_encoding")
        if encoding != "UTF8":
            name = connection.info.dbname
            connection.close()
            raise ConfigurationError(
                f"the PostgreSQL database {name!r} stores text as {encoding}, not UTF8: "
                f"create it again with UTF-8 (createdb --encoding=UTF8 --template=template0 "
                f"{name}, or CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0) and "
                f"point DIPLOMAS_DATABASE_URL at it"
            )
        return connection


def _lower(value: str | bytes | int | float | None) -> str | bytes | int | float | None:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        # Let us emit BEGIN ourselves (pysqlite's own BEGIN is deferred and comes late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs the lock that it waits for.
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()
        # SQLite's lower() folds ASCII only; searches should fold É and Ö as PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get("diplomas_read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
