"""Assemble the FastAPI app around an already-built service (nothing wired at import)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import __version__
from ..config import Settings
from ..core.errors import (
    Conflict,
    DiplomaError,
    DocumentError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from ..service import DiplomaService
from .errors import on_database_error
from .metrics import Metrics
from .middleware import EdgeMiddleware, body_limits
from .openapi import document_errors
from .ratelimit import RateLimiter
from .routes import batches, diplomas, health, pages, status, verify, wellknown


def _error(status: int, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _translate(exc: DiplomaError) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        return _error(
            422,
            [
                {"loc": ["body", p.field], "msg": p.message, "type": "value_error"}
                for p in exc.problems
            ],
        )
    if isinstance(exc, NotFound):
        return _error(404, str(exc))
    if isinstance(exc, Conflict):
        return _error(409, str(exc))
    if isinstance(exc, Unauthorized):
        # The same words for every failure: a caller learns nothing about which part was wrong.
        return _error(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
    if isinstance(exc, Forbidden):
        return _error(403, str(exc))
    if isinstance(exc, verify.UploadTooLarge):
        return _error(413, str(exc))
    if isinstance(exc, DocumentError):
        return _error(422, str(exc))
    return _error(500, "the service could not complete the request")


def create_app(service: DiplomaService, settings: Settings) -> FastAPI:
    from ..batches import BatchRunner
    from .batch_queue import BatchQueue

    queue = BatchQueue(BatchRunner(service, settings), settings.batch_workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queue.resume_unfinished()
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(verify.look_ahead_forever, service)
                yield
                background.cancel_scope.cancel()
        finally:
            queue.shutdown()

    app = FastAPI(
        lifespan=lifespan,
        title="diplomas",
        version=__version__,
        summary="Issue signed PDF entrepreneurship diplomas and verify them.",
    )
    app.state.service = service
    app.state.settings = settings
    app.state.batch_runner = queue.runner
    app.state.batch_queue = queue

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DiplomaError)
        return _translate(exc)

    app.add_exception_handler(DiplomaError, on_error)
    # The database away (down, restarting, locked): 503 + Retry-After, not a 500.
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_database_error)

    metrics = Metrics(service.batches)
    app.state.metrics = metrics
    limiter = None
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        limit_for=body_limits(settings.max_upload_bytes, settings.max_roster_bytes),
        limiter=limiter,
    )

    # Routes are matched in order, one pattern after another (about a microsecond each),
    # so the public ones that phones and employers hit most go first: the JSON verdict,
    # then the QR page; FastAPI's own documentation routes go last. `/{path}/did.json`
    # comes before `/status/{name}` (which would otherwise take `/status/did.json`); the
    # QR page's pattern leaves `/v/did.json` to it. Routes are added to the app's own
    # list: FastAPI keeps an included router nested and walks it on every request, which
    # costs the busiest routes more than answering from the verdict cache does. (Each
    # route's prefix and tags were set where it was declared, on its router; the routers
    # carry nothing else.)
    documentation = list(app.router.routes)
    app.router.routes.clear()
    for module in (verify, pages, wellknown, status, health, diplomas, batches):
        app.router.routes.extend(module.router.routes)
    app.router.routes.extend(documentation)
    app.mount(
        "/static",
        StaticFiles(directory=Path(__file__).resolve().parent / "static"),
        name="static",
    )
    document_errors(app)
    return app
