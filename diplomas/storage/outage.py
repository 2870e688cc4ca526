"""Telling a database that is away from one that refuses a request."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or used right now (as opposed to
    a request or a program that is wrong): connection refused, dropped or invalidated,
    SQLite's "database is locked", the pool exhausted."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def outage_words(exc: BaseException) -> str:
    """The driver's own words for it, without the connection string SQLAlchemy adds."""
    return f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}".strip()
