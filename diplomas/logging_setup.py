"""Structured logs: one JSON object per line on stderr, configured in one place.

`configure_logging()` is called by `diplomas serve` and by the app factory; every record
carries time, level, logger and message, and, inside a request, its request id
(the access line adds route, status and duration). Secrets never reach a line: bearer tokens,
API tokens and Authorization headers are masked in every message, and the request
middleware logs no header and no body.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

request_id_var: ContextVar[str | None] = ContextVar("diplomas_request_id", default=None)

_HANDLER_NAME = "diplomas-json"
_SECRETS = re.compile(
    r"(?P<prefix>(?i:bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?"
    r"|passphrase[\"']?\s*[:=]\s*[\"']?))[^\s\"',;]+"
    r"|\bdpl_[A-Za-z0-9_\-]+"
)
# Attributes every LogRecord has; anything else was passed with `extra=` and is kept.
# `color_message` is uvicorn's copy of the message with terminal colour codes in it.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def redact(text: str) -> str:
    """`text` with bearer tokens, API tokens and passphrases replaced by `[redacted]`."""
    return _SECRETS.sub(lambda m: f"{m.group('prefix') or ''}[redacted]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


_LOGGED = "__diplomas_logged__"


def mark_logged(exc: BaseException) -> None:
    """Note that `exc` has been logged (with its request id): the server's own report of
    the same error, when it reaches the server, is then left out (`AlreadyLogged`)."""
    setattr(exc, _LOGGED, True)


class AlreadyLogged(logging.Filter):
    """Drops a record about an exception that was logged already (`mark_logged`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not getattr(exc, _LOGGED, False)


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record (ours, uvicorn's, libraries') as JSON lines to `stream`.

    Idempotent: calling it again replaces the handler it installed, nothing else.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("diplomas").setLevel(level)
    # Uvicorn's own handlers would print plain text, and its access line (with the query
    # string) is replaced by ours: its records go to the root handler above.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # An unhandled error is logged once, by the app's 500 handler, with its request id;
    # uvicorn's "Exception in ASGI application" about the same error is left out.
    error_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, AlreadyLogged) for f in error_log.filters):
        error_log.addFilter(AlreadyLogged())
    logging.getLogger("uvicorn.access").disabled = True
    # pyHanko logs a traceback for every tampered upload it is shown; the verdict already
    # carries the reasons, and a public upload form must not let strangers fill the logs.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    # Alembic announces each of its plugins at every start: noise, not events.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # procrastinate says three lines for every job, the sweep's every few seconds among
    # them; its warnings and errors (a job failed, a worker stalled) stay. Ours say which
    # batch and shard (`diplomas.tasks`).
    if root.level > logging.DEBUG:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
