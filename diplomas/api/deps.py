"""Dependencies: the service, the settings, and scoped bearer-token checks.

A route names the scope it needs with a dependency (`IssueToken`, `RevokeToken`,
`ReadToken`, `ApproveToken`), which also puts the bearer scheme into the OpenAPI
document. Its routers
are built with `AuthFirstRoute`, which reads that declaration and checks the token
before FastAPI reads the body: a caller without a valid token cannot make the server
take in megabytes of roster, and gets 401, not a 422 about JSON it was never entitled
to send. `create_app` refuses a route that declares a scope without it
(`check_auth_first`), so a new router cannot forget.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from ..batches import BatchService
from ..config import Settings
from ..core.errors import Unauthorized
from ..core.ports import TokenRecord
from ..service import DiplomaService
from .limits import LimitedRoute
from .ratelimit import RateLimiter

_bearer = HTTPBearer(auto_error=False, description="A token from `diplomas token create`.")


UNAUTHENTICATED = "api:unauthenticated"


def request_actor(request: Request) -> str:
    """Who the audit log names for a change made by this request: its checked token."""
    token: TokenRecord | None = getattr(request.state, "token", None)
    return token.actor if token is not None else UNAUTHENTICATED


def get_service(request: Request) -> DiplomaService:
    """The service, recording the request's token (once checked) as the actor of changes,
    and answering as its owner may be answered (`DiplomaService.as_user`: a co-issuing
    institution's token reaches only what that institution co-issued)."""
    service: DiplomaService = request.app.state.service
    token: TokenRecord | None = getattr(request.state, "token", None)
    owner = None
    if token is not None and token.owner_id is not None:
        owner = service.repository.get_user(token.owner_id)
    return service.acting_as(lambda: request_actor(request)).as_user(owner)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[DiplomaService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_batches(request: Request, service: ServiceDep) -> BatchService:
    """Bulk issuance over the request's service (`create_app`'s `batches_of`)."""
    batches: BatchService = request.app.state.batches_of(service)
    return batches


BatchesDep = Annotated[BatchService, Depends(get_batches)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, as HTTPBearer reads it."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate(request: Request, scope: str) -> TokenRecord:
    """The request's token record if it is valid and has `scope` (kept on
    `request.state.token`); Unauthorized, Forbidden, or 429 while the client's address
    has sent too many wrong tokens (`app.state.auth_failures`). Only wrong or missing
    tokens count: a valid token lacking the scope is a mistake, not a guess."""
    throttle: RateLimiter | None = request.app.state.auth_failures
    client = request.client.host if request.client else ""
    route = getattr(request.scope.get("route"), "path", request.url.path)
    if throttle is not None:
        wait = throttle.wait(client)
        if wait > 0:
            request.app.state.metrics.rate_limited.labels(route).inc()
            retry = RateLimiter.retry_after(wait)
            raise HTTPException(
                429,
                f"too many requests with a wrong or missing token from this address: "
                f"try again in {retry} s",
                headers={"Retry-After": retry},
            )
    service: DiplomaService = request.app.state.service
    try:
        token = bearer_token(request)
        record = service.authenticate(token, scope, route=f"{request.method} {route}")
    except Unauthorized:
        if throttle is not None:
            throttle.acquire(client)
        raise
    request.state.token = record
    return record


class RequireScope:
    """The dependency of a route that needs a token with `scope`."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def __call__(self, request: Request, credentials: Credentials) -> TokenRecord:
        # `credentials` only declares the bearer scheme in the OpenAPI document.
        checked: TokenRecord | None = getattr(request.state, "token", None)
        return checked if checked is not None else authenticate(request, self.scope)


def required_scope(dependant: Dependant) -> str | None:
    """The scope a route's dependencies (at any depth) require, if any."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RequireScope):
            return dependency.call.scope
        found = required_scope(dependency)
        if found is not None:
            return found
    return None


class AuthFirstRoute(LimitedRoute):
    """A route that checks the token its dependencies require before the body is read
    (and, as any `LimitedRoute`, its declared limits before that). Every router of the
    app is built with it."""

    def checked_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().checked_handler()
        scope = required_scope(self.dependant)
        if scope is None:
            return handler

        async def token_first(request: Request) -> Response:
            # The token lookup touches the database: off the event loop, as FastAPI runs
            # any sync dependency.
            await run_in_threadpool(authenticate, request, scope)
            return await handler(request)

        return token_first


def check_auth_first(routes: Iterable[BaseRoute]) -> None:
    """RuntimeError for a route that would read its body before checking its token and
    its declared limits: every route of the app must be an `AuthFirstRoute`."""
    for route in routes:
        if isinstance(route, APIRoute) and not isinstance(route, AuthFirstRoute):
            needs = (
                "requires a token but would read its body first"
                if required_scope(route.dependant)
                else "would read its body before checking its limits"
            )
            raise RuntimeError(
                f"route {sorted(route.methods or ())} {route.path} {needs}: "
                "build the router with route_class=AuthFirstRoute"
            )


IssueToken = Annotated[TokenRecord, Depends(RequireScope("issue"))]
RevokeToken = Annotated[TokenRecord, Depends(RequireScope("revoke"))]
ReadToken = Annotated[TokenRecord, Depends(RequireScope("read"))]
ApproveToken = Annotated[TokenRecord, Depends(RequireScope("approve"))]
