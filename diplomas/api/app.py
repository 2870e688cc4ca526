"""Assemble the FastAPI app around an already-built service (nothing wired at import)."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Mount, Route

from .. import __version__
from ..batch_workers import WorkerPoolFactory
from ..config import Settings
from ..console.app import add_console_handlers, console_error, console_routers
from ..core.errors import (
    ConfigurationError,
    Conflict,
    DiplomaError,
    DocumentError,
    Forbidden,
    InvalidInput,
    KeyStoreError,
    NotFound,
    StorageUnavailable,
    Unauthorized,
)
from ..service import DiplomaService
from ..watch import CHECK_SECONDS, SettingsWatch
from .deps import check_auth_first
from .errors import RETRY_AFTER_SECONDS, on_storage_unavailable, on_unhandled
from .limits import EdgeLimits, LimitedRoute
from .metrics import Metrics
from .middleware import EdgeMiddleware
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
    """The app: FastAPI's own stack (Starlette's error layer outermost, with our 500
    handler, `errors.on_unhandled`), the edge middleware (`middleware.EdgeMiddleware`)
    inside it, routes that enforce their own declared limits (`limits`)."""


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


def declared_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route and mount of `app`: FastAPI keeps each included router nested in
    `app.routes`, so their routes are read from the routers `create_app` included."""
    routers: list[APIRouter] = app.state.routers
    direct = [route for route in app.routes if isinstance(route, Route | Mount)]
    return [*direct, *(route for router in routers for route in router.routes)]


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
    from ..tasks import Pools, Tasks, connector_for

    def batches_of(answering: DiplomaService) -> BatchService:
        return BatchService(
            answering, pools=batch_pools, max_roster_bytes=settings.max_roster_bytes
        )

    pools = Pools(batch_pools, settings.batch_workers)
    tasks = Tasks(
        connector_for(settings.effective_database_url),
        lambda: batches_of(current()),
        pool=lambda template: pools(template, current()),
        stalled_seconds=settings.worker_stalled_seconds,
    )
    # SQLite: the queue is this process's own, so this process works it.
    working = settings.embedded_worker or not settings.uses_postgresql

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
        await tasks.app.open_async()
        await anyio.to_thread.run_sync(
            lambda: batches_of(current()).adopt_folder_rosters(settings.home)
        )
        # Every replica may: a batch waiting already is not deferred twice.
        await tasks.resume()
        await verify.warm_up(current())
        if mail is not None:
            mail.start()
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(verify.look_ahead_forever, current)
                if working:
                    background.start_soon(
                        functools.partial(
                            tasks.work, heartbeat_seconds=settings.worker_heartbeat_seconds
                        )
                    )
                if watch is not None:
                    background.start_soon(follow_settings, watch)
                yield
                background.cancel_scope.cancel()
        finally:
            if mail is not None:
                mail.stop()
            await tasks.app.close_async()
            await anyio.to_thread.run_sync(pools.shutdown)

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
    app.state.tasks = tasks

    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DiplomaError)
        if request.url.path.startswith("/admin"):
            return console_error(request, exc)
        return _translate(exc)

    app.add_exception_handler(DiplomaError, on_error)
    add_console_handlers(app)
    # The database away (down, restarting, locked): 503 + Retry-After, not a 500.
    app.add_exception_handler(StorageUnavailable, on_storage_unavailable)
    # Anything unhandled: Starlette's ServerErrorMiddleware answers with this.
    app.add_exception_handler(Exception, on_unhandled)

    metrics = Metrics(service.batches)
    app.state.metrics = metrics
    app.add_middleware(EdgeMiddleware, metrics=metrics)
    limiter = None
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)
    app.state.limits = EdgeLimits(settings.max_upload_bytes, settings.max_roster_bytes, limiter)
    failures = settings.auth_failures_per_minute
    app.state.auth_failures = RateLimiter(failures, failures) if failures > 0 else None
    lookups = settings.lookup_rate_per_minute
    app.state.lookups = RateLimiter(lookups, settings.lookup_rate_burst) if lookups > 0 else None

    # Routes are matched in order, one pattern after another. The routers of the two
    # routes that phones and employers hit most come first (`HOT_ROUTES`: the JSON
    # verdict, the QR page, each its router's first route); the documentation goes last.
    # `/{path}/did.json` (wellknown) comes before `/status/{name}`, which would
    # otherwise take `/status/did.json`; the QR page's pattern leaves `/v/did.json` to it.
    # Each route's prefix and tags were set where it was declared, on its router.
    hot = [verify.router, pages.router]
    included = [
        wellknown.router,
        status.router,
        health.router,
        diplomas.router,
        batches.router,
        proposals.router,
        holder.router,
        *console_routers(),
        *((docs.router,) if settings.docs_enabled else ()),
    ]
    for router in (*hot, *included):
        check_auth_first(router.routes)
    # The hot routers' routes join the app's own list, after FastAPI's own routes: this
    # FastAPI keeps an included router nested and walks it on every request, which costs
    # the verify routes, answered from memory, as much again as the rest of the edge
    # (bench/README.md). The other routers are included as FastAPI intends.
    app.router.routes.extend(route for router in hot for route in router.routes)
    for router in included:
        app.include_router(router)
    app.state.routers = included
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
    document_errors(
        app,
        frozenset(
            route.path_format
            for router in (*hot, *included)
            for route in router.routes
            if isinstance(route, LimitedRoute) and route.declared.rate_limited
        ),
    )
    return app
