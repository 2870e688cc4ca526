"""The HTTP edge, as plain ASGI middleware (cheap, and streaming bodies stay streamed).

Outermost first:

    RequestMiddleware    request id, security headers, metrics, the JSON access line, and
                         a 500 for anything unhandled (with the request id, nothing else)
    RateLimitMiddleware  a token bucket per client address on the public verify routes
    BodyLimitMiddleware  413 before a body over the route's limit is read: at once from
                         Content-Length, else as soon as the streamed bytes pass it
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logging_setup import request_id_var
from .metrics import Metrics, RequestScope, current_request
from .ratelimit import RateLimiter

log = logging.getLogger("diplomas.http")

# Pages carry no inline script or style, so the policy can forbid both.
HTML_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# JSON, PDFs and the rest are never rendered as documents of ours.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# FastAPI's interactive docs load Swagger UI / ReDoc from their CDN and start them with an
# inline script; these pages show no data of ours, and get a policy of their own.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; "
    "base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

MULTIPART_OVERHEAD = 64 * 1024
"""What a multipart body may carry beyond its file: boundaries, part headers, form fields."""
MAX_JSON_BODY = 1024 * 1024
"""Any other request body (a diploma to issue is a few KB)."""


@dataclass(frozen=True)
class LimitedRoute:
    pattern: re.Pattern[str]
    template: str


RATE_LIMITED = (
    LimitedRoute(re.compile(r"/v/[^/]+"), "/v/{diploma_id}"),
    LimitedRoute(re.compile(r"/api/v1/verify/[^/]+"), "/api/v1/verify/{diploma_id}"),
    LimitedRoute(re.compile(r"/api/v1/verify/?"), "/api/v1/verify"),
    LimitedRoute(re.compile(r"/verify/?"), "/verify"),
    LimitedRoute(
        re.compile(r"/api/v1/diplomas/[^/]+/credential"), "/api/v1/diplomas/{diploma_id}/credential"
    ),
)


def new_request_id() -> str:
    """32 hex digits, shaped like a uuid4's. A request id only tells log lines apart and is
    no secret (clients may send their own), so it needs no `os.urandom`, a system call that
    gives up the GIL on every request."""
    return f"{random.getrandbits(128):032x}"  # not for security: see above


def route_template(scope: Scope) -> str:
    """The matched route's template, so metrics and logs never carry raw paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    hint = scope.get("diplomas.route")
    if isinstance(hint, str):
        return hint
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"


_RAW_COMMON = tuple((k.encode(), v.encode()) for k, v in COMMON_HEADERS)
_RAW_CSP = {key: value.encode() for key, value in (("docs", DOCS_CSP), ("html", HTML_CSP))}
_RAW_OTHER_CSP = OTHER_CSP.encode()


def with_edge_headers(
    message: Message, path: str, own: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """The response's headers with the request id, a Content-Security-Policy and the
    common security headers added, each unless the response set its own. Works on the
    raw (lower-case, per ASGI) header list: it runs on every response."""
    raw = [(k, v) for k, v in message.get("headers", ()) if k != b"x-request-id"]
    present = {k for k, _ in raw}
    raw += own
    if b"content-security-policy" not in present:
        kind = b""
        for name, value in raw:
            if name == b"content-type":
                kind = value
                break
        if path in DOCS_PATHS:
            csp = _RAW_CSP["docs"]
        elif kind.startswith(b"text/html"):
            csp = _RAW_CSP["html"]
        else:
            csp = _RAW_OTHER_CSP
        raw.append((b"content-security-policy", csp))
    raw += [(k, v) for k, v in _RAW_COMMON if k not in present]
    if b"cache-control" not in present and not path.startswith("/static/"):
        raw.append((b"cache-control", b"no-store"))
    return raw


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> list[Message]:
    content = json.dumps(body, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": content},
    ]


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode(
            "latin-1"
        )
        request_id = given if REQUEST_ID.fullmatch(given) else new_request_id()
        state = RequestScope()
        id_token = request_id_var.set(request_id)
        scope_token = current_request.set(state)
        status = 500
        started = False
        path: str = scope["path"]
        own = [(b"x-request-id", request_id.encode("latin-1"))]

        def send_with_headers(message: Message) -> Awaitable[None]:
            # A plain function handing back `send`'s awaitable: no coroutine of its own
            # on every message of every answer.
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message = {**message, "headers": with_edge_headers(message, path, own)}
            return send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error")
            if not started:
                body = {"detail": "the service could not complete the request"}
                for message in _json(500, body):
                    await send_with_headers(message)
        finally:
            route = route_template(scope)
            seconds = time.perf_counter() - start
            self.metrics.observe_request(scope["method"], route, status, seconds, state)
            if log.isEnabledFor(logging.INFO):  # skip building the line when it is off
                log.info(
                    "%s %s %s",
                    scope["method"],
                    route,
                    status,
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )
            current_request.reset(scope_token)
            request_id_var.reset(id_token)


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        metrics: Metrics,
        routes: tuple[LimitedRoute, ...] = RATE_LIMITED,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.metrics = metrics
        self.routes = routes

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a request let through is handed on as it is, with no layer
        # of this middleware's own left on its way.
        if scope["type"] == "http":
            path: str = scope["path"]
            for route in self.routes:
                if route.pattern.fullmatch(path):
                    client = scope.get("client")
                    wait = self.limiter.acquire(client[0] if client else "")
                    if wait > 0:
                        return self._refuse(scope, send, route, wait)
                    break
        return self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, route: LimitedRoute, wait: float) -> None:
        scope["diplomas.route"] = route.template
        self.metrics.rate_limited.labels(route.template).inc()
        retry = RateLimiter.retry_after(wait)
        detail = f"too many requests: try again in {retry} s"
        for message in _json(429, {"detail": detail}, {"Retry-After": retry}):
            await send(message)


class BodyLimitMiddleware:
    """413 for bodies over the route's limit, before they are read (or while they stream)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: requests without a body are handed on as they are.
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return self.app(scope, receive, send)
        return self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["method"], scope["path"])
        detail = f"the request body is larger than {limit} bytes"
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            for message in _json(413, {"detail": detail}, {"Connection": "close"}):
                await send(message)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises an HTTPException met while reading the body.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counting_receive, send)


def body_limits(max_upload_bytes: int, max_roster_bytes: int) -> Callable[[str, str], int]:
    """The largest body each route accepts: the upload routes their file plus multipart
    overhead, everything else MAX_JSON_BODY."""
    uploads = {
        "/api/v1/verify": max_upload_bytes + MULTIPART_OVERHEAD,
        "/verify": max_upload_bytes + MULTIPART_OVERHEAD,
        "/api/v1/batches": max_roster_bytes + MULTIPART_OVERHEAD,
    }

    def limit_for(method: str, path: str) -> int:
        return uploads.get(path.rstrip("/") or "/", MAX_JSON_BODY)

    return limit_for
