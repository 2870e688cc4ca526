"""Telling a database that is away from one that refuses a request, and saying it in
the core's words: the engine raises `core.errors.StorageUnavailable` in place of the
driver's error (`install`), so nothing above storage knows SQLAlchemy's exceptions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

from ..core.errors import StorageUnavailable


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or used right now (as opposed to
    a request or a program that is wrong): connection refused, dropped or invalidated,
    SQLite's "database is locked", the pool exhausted."""
    if isinstance(exc, StorageUnavailable | OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def outage_words(exc: BaseException) -> str:
    """The driver's own words for it, without the connection string SQLAlchemy adds."""
    if isinstance(exc, StorageUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}".strip()


class OutageAwarePool(QueuePool):
    """SQLAlchemy's QueuePool, saying an exhausted pool in the core's words."""

    def connect(self) -> Any:
        try:
            return super().connect()
        except PoolTimeout as exc:
            raise StorageUnavailable(outage_words(exc)) from exc


def _on_error(context: ExceptionContext) -> None:
    """SQLAlchemy's `handle_error` hook (statements and connecting alike): an outage
    becomes StorageUnavailable, raised after SQLAlchemy's own clean-up (the connection
    invalidated, the transaction rolled back); any other error stays as it is."""
    if context.is_pre_ping:
        return  # the pool's ping of a stale connection: the pool reconnects on its own
    error = context.sqlalchemy_exception or context.original_exception
    if context.is_disconnect or database_unavailable(error):
        raise StorageUnavailable(outage_words(error)) from error


def install(engine: Engine) -> None:
    """Make `engine` raise StorageUnavailable for an outage (`make_engine` calls it)."""
    if not event.contains(engine, "handle_error", _on_error):
        event.listen(engine, "handle_error", _on_error)
