"""The console's routes and error pages, as `api.app.create_app` adds them."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from ..core.errors import DiplomaError, NotFound
from .routes import (
    account,
    audit,
    batches,
    diplomas,
    export,
    holder_links,
    issuing,
    proposals,
    rosters,
    settings,
    signin,
    tokens,
    users,
)
from .web import Refused, SignInRequired, check_console_routes, on_refused, on_sign_in_required

MODULES = (
    signin,
    export,
    holder_links,
    diplomas,
    issuing,
    proposals,
    rosters,
    batches,
    tokens,
    users,
    settings,
    account,
    audit,
)


def console_routers() -> list[APIRouter]:
    """The console's routers, in the order they are matched, each route checked."""
    routers = [module.router for module in MODULES]
    check_console_routes(route for router in routers for route in router.routes)
    return routers


def console_error(request: Request, exc: DiplomaError) -> Response:
    """A service error that a console page did not turn into a form's problems."""
    if isinstance(exc, NotFound):
        return on_refused(request, Refused(404, "Not found"))
    return on_refused(request, Refused(409, str(exc)))


def add_console_handlers(app: FastAPI) -> None:
    async def sign_in_required(request: Request, exc: Exception) -> Response:
        return on_sign_in_required(request)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return on_refused(request, exc)

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Refused, refused)
