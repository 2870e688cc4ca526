"""Limits declared with the routes: the largest body each accepts, and whether it counts
against the per-address rate limit of the public verify routes.

A route says what it takes with `@limits(...)` under its router decorator; every router
is built with `LimitedRoute` (through `deps.AuthFirstRoute`), which enforces the
declaration before the body is read:

- 429 with Retry-After when the client's bucket is empty (`rate_limited=True`);
- 413 at once when Content-Length is over the route's limit, else as soon as the
  streamed bytes pass it.

The sizes come from the settings (`EdgeLimits`, built once per app by `create_app`),
the declaration only names which one applies: one place for each limit.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

from .ratelimit import RateLimiter

MULTIPART_OVERHEAD = 64 * 1024
"""What a multipart body may carry beyond its file: boundaries, part headers, form fields."""
MAX_JSON_BODY = 1024 * 1024
"""Any other request body (a diploma to issue is a few KB, a console form less)."""
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class Body(enum.Enum):
    """Which limit a route's body is held to."""

    FORM = "form"
    """JSON or a form: MAX_JSON_BODY."""
    UPLOAD = "upload"
    """A diploma's PDF: the settings' `max_upload_bytes` plus multipart overhead."""
    ROSTER = "roster"
    """A roster file: the settings' `max_roster_bytes` plus multipart overhead."""


@dataclass(frozen=True)
class RouteLimits:
    """What one route declared (`limits`)."""

    body: Body = Body.FORM
    rate_limited: bool = False


@dataclass(frozen=True)
class EdgeLimits:
    """The limits of one app, from its settings (`app.state.limits`)."""

    max_upload_bytes: int
    max_roster_bytes: int
    limiter: RateLimiter | None = None
    """The public verify routes' token bucket per client address; None: no limit."""

    def body_limit(self, body: Body) -> int:
        if body is Body.UPLOAD:
            return self.max_upload_bytes + MULTIPART_OVERHEAD
        if body is Body.ROSTER:
            return self.max_roster_bytes + MULTIPART_OVERHEAD
        return MAX_JSON_BODY


DECLARED = "_diplomas_limits"
F = TypeVar("F", bound=Callable[..., Any])


def limits(*, body: Body = Body.FORM, rate_limited: bool = False) -> Callable[[F], F]:
    """Declare a route's body limit and rate limit (under the router's decorator)."""

    def declare(endpoint: F) -> F:
        setattr(endpoint, DECLARED, RouteLimits(body, rate_limited))
        return endpoint

    return declare


def too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing the body as soon as it streams past `limit`."""
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # FastAPI re-raises an HTTPException met while reading the body.
                raise HTTPException(413, too_large(limit), headers={"Connection": "close"})
        return message

    return counting_receive


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class LimitedRoute(APIRoute):
    """A route that enforces its `limits` declaration before its handler reads the body."""

    @property
    def declared(self) -> RouteLimits:
        found = getattr(self.endpoint, DECLARED, None)
        return found if isinstance(found, RouteLimits) else RouteLimits()

    def checked_handler(self) -> Handler:
        """The handler to call once the limits passed (subclasses add checks here)."""
        return super().get_route_handler()

    def get_route_handler(self) -> Handler:
        handler = self.checked_handler()
        declared = self.declared
        takes_body = not self.methods or bool(self.methods - BODILESS)
        if not declared.rate_limited and not takes_body:
            return handler  # nothing to check: the hot GET routes pay nothing
        template = self.path_format

        async def limited(request: Request) -> Response:
            edge: EdgeLimits = request.app.state.limits
            if declared.rate_limited and edge.limiter is not None:
                client = request.client.host if request.client else ""
                wait = edge.limiter.acquire(client)
                if wait > 0:
                    request.app.state.metrics.rate_limited.labels(template).inc()
                    retry = RateLimiter.retry_after(wait)
                    return JSONResponse(
                        {"detail": f"too many requests: try again in {retry} s"},
                        status_code=429,
                        headers={"Retry-After": retry},
                    )
            if request.method in BODILESS:
                return await handler(request)
            limit = edge.body_limit(declared.body)
            declared_length = request.headers.get("content-length", "")
            if declared_length.isdigit() and int(declared_length) > limit:
                return JSONResponse(
                    {"detail": too_large(limit)},
                    status_code=413,
                    headers={"Connection": "close"},
                )
            return await handler(Request(request.scope, _counting(request.receive, limit)))

        return limited
