"""The HTTP edge: one plain ASGI middleware that every request passes (cheap, and
streaming bodies stay streamed). In the order a request meets them:

- a request id (the client's own if well-formed), set for every log line of the request;
- a token bucket per client address on the public verify routes: 429 with Retry-After;
- 413 before a body over the route's limit is read: at once from Content-Length, else as
  soon as the streamed bytes pass it;
- on the answer: the request id, a Content-Security-Policy and the other security
  headers, `Cache-Control: no-store`;
- afterwards: metrics by route template, and the JSON access line;
- a 500 for anything unhandled, with the request id and nothing else.

One layer, not three, standing where Starlette's own error layer would (`app.DiplomasAPI`):
each ASGI layer costs every request a coroutine and a few microseconds, and the verify
routes answer from memory in little more than that.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logging_setup import request_id_var
from .metrics import VERDICT_KEY, Metrics
from .ratelimit import RateLimiter

log = logging.getLogger("diplomas.http")

# Pages carry no inline script or style, so the policy can forbid both.
HTML_CSP = (
    "default-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; "
    "form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# JSON, PDFs and the rest are never rendered as documents of ours.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The Swagger UI page (`routes.docs`) runs scripts, all of them files of this site, and
# fetches the OpenAPI document (connect-src). Its stylesheet draws icons as data: images.
# Swagger UI sets element styles from script through the CSSOM (React's style props),
# which style-src does not govern, so its styles need no 'unsafe-inline' either.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs"})
# The console's pages run one script, htmx, a file of this site, which fetches pages of
# this site (connect-src); no inline script or style, as everywhere else.
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
COMMON_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
)
# These two only mean something on a document a browser shows (its links and subresources,
# its window): HTML pages get them, JSON, PDFs and the rest do not need them.
DOCUMENT_HEADERS = (
    *COMMON_HEADERS,
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    # Verification pages name people: they are for whoever holds the link, not for search
    # engines (each page also says so in a meta tag).
    ("x-robots-tag", "noindex"),
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
    path = getattr(route, "path_format", None)  # `/v/{diploma_id}`, without convertors
    if isinstance(path, str):
        return path
    hint = scope.get("diplomas.route")
    if isinstance(hint, str):
        return hint
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "unmatched"


def _raw(headers: Sequence[tuple[str, str]]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.encode(), v.encode()) for k, v in headers)


# The Content-Security-Policy and the other security headers, by kind of answer.
_BY_KIND = {
    "docs": ((b"content-security-policy", DOCS_CSP.encode()), _raw(DOCUMENT_HEADERS)),
    "console": ((b"content-security-policy", CONSOLE_CSP.encode()), _raw(DOCUMENT_HEADERS)),
    "html": ((b"content-security-policy", HTML_CSP.encode()), _raw(DOCUMENT_HEADERS)),
    "other": ((b"content-security-policy", OTHER_CSP.encode()), _raw(COMMON_HEADERS)),
}
_NO_STORE = (b"cache-control", b"no-store")
# What the edge adds when the answer set none of it itself (the usual case), by the kind
# of answer and by whether it is a static file (those may be kept by caches).
_TAILS = {
    (kind, static): (csp, *others, *(() if static else (_NO_STORE,)))
    for kind, (csp, others) in _BY_KIND.items()
    for static in (False, True)
}
# Headers of the edge's that an answer may have set itself: then they are merged one by one.
_OWN_NAMES = frozenset(
    {b"x-request-id", b"content-security-policy", b"cache-control"}
    | {k for k, _ in _raw(DOCUMENT_HEADERS)}
)


def with_edge_headers(
    headers: Sequence[tuple[bytes, bytes]], path: str, request_id: tuple[bytes, bytes]
) -> list[tuple[bytes, bytes]]:
    """The answer's headers with the request id, a Content-Security-Policy and the other
    security headers for its kind added, each unless the answer set its own (a request id
    it set is replaced). Works on the raw (lower-case, per ASGI) header list: it runs on
    every answer."""
    kind = "other"
    own_set = False
    for name, value in headers:
        if name == b"content-type":
            if value[:9] == b"text/html":  # (slices, not calls: this runs on every answer)
                kind = "html"
        elif name in _OWN_NAMES:
            own_set = True
    if path in DOCS_PATHS:
        kind = "docs"
    elif kind == "html" and path[:6] == "/admin":
        kind = "console"
    static = path[:8] == "/static/"
    if not own_set:
        return [*headers, request_id, *_TAILS[kind, static]]
    # The answer set some of them itself: keep its own, add the rest.
    raw = [(k, v) for k, v in headers if k != b"x-request-id"]
    present = {k for k, _ in raw}
    return raw + [request_id] + [h for h in _TAILS[kind, static] if h[0] not in present]


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> list[Message]:
    content = json.dumps(body, ensure_ascii=False).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return [
        {"type": "http.response.start", "status": status, "headers": raw},
        {"type": "http.response.body", "body": content},
    ]


BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class EdgeMiddleware:
    """The whole edge, in one layer (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        limit_for: Callable[[str, str], int],
        limiter: RateLimiter | None = None,
        limited_routes: tuple[LimitedRoute, ...] = RATE_LIMITED,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.observe = metrics.requests.observe
        self.limit_for = limit_for
        self.limiter = limiter
        self.limited_routes = limited_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                if REQUEST_ID.fullmatch(given):
                    request_id = given
                break
        request_id = request_id or new_request_id()
        path: str = scope["path"]
        method: str = scope["method"]
        own = (b"x-request-id", request_id.encode("latin-1"))
        status = 500
        started = False

        def edge_send(message: Message) -> Awaitable[None]:
            # A plain function handing back `send`'s awaitable: no coroutine of its own
            # on every message of every answer.
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                message = {
                    **message,
                    "headers": with_edge_headers(message.get("headers", ()), path, own),
                }
            return send(message)

        id_token = request_id_var.set(request_id)
        try:
            limit = None if method in BODILESS else self.limit_for(method, path)
            refusal = None
            if self.limiter is not None or limit is not None:
                refusal = self._refusal(scope, path, limit)
            if refusal is not None:
                for message in refusal:
                    await edge_send(message)
            elif limit is None:
                await self.app(scope, receive, edge_send)
            else:
                await self.app(scope, _limited(receive, limit), edge_send)
        except Exception:
            log.exception("unhandled error")
            if not started:
                body = {"detail": "the service could not complete the request"}
                for message in _json(500, body):
                    await edge_send(message)
        finally:
            route = route_template(scope)
            seconds = time.perf_counter() - start
            self.observe(method, route, status, seconds, scope.get(VERDICT_KEY))
            if log.isEnabledFor(logging.INFO):  # skip building the line when it is off
                log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )
            request_id_var.reset(id_token)

    def _refusal(self, scope: Scope, path: str, limit: int | None) -> list[Message] | None:
        """A 429 or 413 to send instead of handing the request on, if it gets one
        (`limit`: the route's body limit; None for a request without a body)."""
        if self.limiter is not None:
            for route in self.limited_routes:
                if route.pattern.fullmatch(path):
                    client = scope.get("client")
                    wait = self.limiter.acquire(client[0] if client else "")
                    if wait > 0:
                        scope["diplomas.route"] = route.template
                        self.metrics.rate_limited.labels(route.template).inc()
                        retry = RateLimiter.retry_after(wait)
                        detail = f"too many requests: try again in {retry} s"
                        return _json(429, {"detail": detail}, {"Retry-After": retry})
                    break
        if limit is not None:
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                return _json(413, {"detail": _too_large(limit)}, {"Connection": "close"})
        return None


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing the body as soon as it streams past `limit`."""
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                # FastAPI re-raises an HTTPException met while reading the body.
                raise HTTPException(413, _too_large(limit))
        return message

    return counting_receive


def body_limits(max_upload_bytes: int, max_roster_bytes: int) -> Callable[[str, str], int]:
    """The largest body each route accepts: the upload routes their file plus multipart
    overhead, everything else MAX_JSON_BODY."""
    uploads = {
        "/api/v1/verify": max_upload_bytes + MULTIPART_OVERHEAD,
        "/verify": max_upload_bytes + MULTIPART_OVERHEAD,
        "/api/v1/batches": max_roster_bytes + MULTIPART_OVERHEAD,
        "/admin/rosters": max_roster_bytes + MULTIPART_OVERHEAD,
    }

    def limit_for(method: str, path: str) -> int:
        return uploads.get(path.rstrip("/") or "/", MAX_JSON_BODY)

    return limit_for
