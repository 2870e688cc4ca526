"""Assemble the FastAPI app around an already-built service (nothing wired at import)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from .. import __version__
from ..batch_workers import WorkerPoolFactory
from ..config import Settings
from ..console.app import add_console_handlers, console_error, console_routes
from ..core.errors import (
    ConfigurationError,
    Conflict,
    DiplomaError,
    DocumentError,
    Forbidden,
    InvalidInput,
    KeyStoreError,
    NotFound,
    Unauthorized,
)
from ..service import DiplomaService
from ..watch import CHECK_SECONDS, SettingsWatch
from .deps import check_auth_first
from .errors import RETRY_AFTER_SECONDS, on_database_error
from .metrics import Metrics
from .middleware import EdgeMiddleware, body_limits
from .openapi import document_errors
from .ratelimit import RateLimiter
from .routes import (
    batches,
    diplomas,
    docs,
    health,
    holder,
    pages,
    proposals,
    status,
    verify,
    wellknown,
)
from .static import FONTS, FontFiles

log = logging.getLogger("diplomas.http")

HOT_ROUTES = ("/v/{diploma_id}", "/api/v1/verify/{diploma_id}")
"""The public verdict routes, matched before all others."""


class DiplomasAPI(FastAPI):
    """FastAPI, with the edge (`middleware.EdgeMiddleware`) as its outermost layer, in the
    place of Starlette's ServerErrorMiddleware. That layer's one job here, a 500 for
    anything unhandled, the edge does itself, and better: its 500 carries the request id
    and the security headers, and is counted. Every request then passes as many layers as
    in a bare FastAPI app, not one more: a layer costs the verify routes, which answer
    from memory, several microseconds each."""

    edge: Callable[[ASGIApp], ASGIApp] | None = None
    """Wraps the rest of the stack; None leaves FastAPI's own stack as it is."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.edge is None:
            return stack
        if not isinstance(stack, ServerErrorMiddleware):  # Starlette's promise: outermost
            raise RuntimeError(f"expected ServerErrorMiddleware outermost, not {stack!r}")
        return self.edge(stack.app)


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
    if isinstance(exc, ConfigurationError | KeyStoreError):
        # The instance, not the request, is at fault: a diploma naming an institution
        # that the settings dropped, keys not readable. Said in the log with its details
        # (paths), to the caller as a 503 that is worth retrying once it is mended.
        log.error("the instance cannot answer: %s", exc)
        return _error(
            503,
            "the service cannot answer this request now (its settings, keys or a service it "
            "relies on); its operators are told: try again later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return _error(500, "the service could not complete the request")


def create_app(
    service: DiplomaService,
    settings: Settings,
    *,
    watch: SettingsWatch | None = None,
    batch_pools: WorkerPoolFactory | None = None,
) -> DiplomasAPI:
    """The app answering with `service`; with `watch`, it follows the settings and keys
    as they change on disk (`diplomas.watch`), building a new service when they do.
    Batches run on `batch_pools`'s worker processes (bootstrap's), else in the server."""
    from ..batches import BatchService
    from .batch_queue import BatchQueue

    def batches_of(answering: DiplomaService) -> BatchService:
        return BatchService(
            answering,
            home=settings.home,
            pools=batch_pools,
            max_roster_bytes=settings.max_roster_bytes,
        )

    queue = BatchQueue(lambda: batches_of(current()), settings.batch_workers)

    def current() -> DiplomaService:
        answering: DiplomaService = app.state.service
        return answering

    def use(new: DiplomaService) -> None:
        """Answer with `new` from the next request on: one assignment each, so a request
        sees the old service or the new one, never half of each."""
        app.state.service = new

    async def follow_settings(watch: SettingsWatch) -> None:
        while True:
            await anyio.sleep(CHECK_SECONDS)
            new = await anyio.to_thread.run_sync(watch.check)
            if new is not None:
                use(new)

    mail = None
    if settings.smtp_url is not None:
        from ..mail.sender import MailSender, SenderThread

        mail = SenderThread(MailSender.from_settings(settings, service, current))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        queue.resume_unfinished()
        if mail is not None:
            mail.start()
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(verify.look_ahead_forever, current)
                if watch is not None:
                    background.start_soon(follow_settings, watch)
                yield
                background.cancel_scope.cancel()
        finally:
            if mail is not None:
                mail.stop()
            queue.shutdown()

    app = DiplomasAPI(
        lifespan=lifespan,
        title="diplomas",
        version=__version__,
        summary="Issue signed PDF entrepreneurship diplomas and verify them.",
        # FastAPI's pages take their scripts from a CDN; ours serves its own (`routes.docs`),
        # and only where the settings turn the documentation on (off in production).
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.watch = watch
    app.state.batches_of = batches_of
    app.state.batch_queue = queue

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DiplomaError)
        if request.url.path.startswith("/admin"):
            return console_error(request, exc)
        return _translate(exc)

    app.add_exception_handler(DiplomaError, on_error)
    add_console_handlers(app)
    # The database away (down, restarting, locked): 503 + Retry-After, not a 500.
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_database_error)

    metrics = Metrics(service.batches)
    app.state.metrics = metrics
    limiter = None
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)
    failures = settings.auth_failures_per_minute
    app.state.auth_failures = RateLimiter(failures, failures) if failures > 0 else None
    lookups = settings.lookup_rate_per_minute
    app.state.lookups = RateLimiter(lookups, settings.lookup_rate_burst) if lookups > 0 else None
    app.edge = partial(
        EdgeMiddleware,
        metrics=metrics,
        limit_for=body_limits(settings.max_upload_bytes, settings.max_roster_bytes),
        limiter=limiter,
    )

    # Routes are matched in order, one pattern after another (about a microsecond each),
    # so the two that phones and employers hit most go first: the QR page and the JSON
    # verdict; the documentation (the OpenAPI document and /docs) goes last.
    # `/{path}/did.json` comes before `/status/{name}` (which would otherwise take
    # `/status/did.json`); the QR page's pattern leaves `/v/did.json` to it. Routes are
    # added to the app's own list: FastAPI keeps an included router nested and walks it
    # on every request, which costs the busiest routes more than answering from the
    # verdict cache does. (Each route's prefix and tags were set where it was declared,
    # on its router; the routers carry nothing else.)
    documentation = [*app.router.routes, *(docs.router.routes if settings.docs_enabled else ())]
    ours = [
        route
        for module in (
            pages,
            verify,
            wellknown,
            status,
            health,
            diplomas,
            batches,
            proposals,
            holder,
        )
        for route in module.router.routes
    ]
    ours.sort(key=lambda route: getattr(route, "path_format", "") not in HOT_ROUTES)  # stable
    check_auth_first(ours)
    ours += console_routes()
    app.router.routes[:] = [*ours, *documentation]
    if settings.docs_enabled:
        # Before /static, which would otherwise take its paths too.
        app.mount(docs.SWAGGER_UI_URL, docs.swagger_ui_files(), name="swagger-ui")
    # The public pages' typeface, from the package's own copy (nothing from another host);
    # before /static, which would otherwise take its paths too.
    app.mount("/static/fonts", FontFiles(directory=FONTS), name="fonts")
    app.mount(
        "/static",
        StaticFiles(directory=Path(__file__).resolve().parent / "static"),
        name="static",
    )
    document_errors(app)
    return app
