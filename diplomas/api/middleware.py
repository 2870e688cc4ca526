"""The HTTP edge: one plain ASGI middleware that every request passes (cheap, and
streaming bodies stay streamed), added with `app.add_middleware` inside Starlette's own
error layer. In the order a request meets it:

- a request id (the client's own if well-formed), set for every log line of the request
  and kept in the scope (`REQUEST_ID_KEY`) for the 500 handler (`app.on_unhandled`);
- on the answer: the request id, a Content-Security-Policy and the other security
  headers, `Cache-Control: no-store`;
- afterwards: metrics by route template, and the JSON access line.

Body limits and rate limits are declared with the routes (`limits`); an unhandled error
goes on to Starlette's ServerErrorMiddleware, which answers with the app's 500 handler.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logging_setup import request_id_var
from .metrics import VERDICT_KEY, Metrics

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

REQUEST_ID_KEY = "diplomas.request_id"
"""Where the edge leaves the request id in the ASGI scope."""


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
_ADDED = {
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
    answer_set_some = False
    for name, value in headers:
        if name == b"content-type":
            if value[:9] == b"text/html":  # (slices, not calls: this runs on every answer)
                kind = "html"
        elif name in _OWN_NAMES:
            answer_set_some = True
    if path in DOCS_PATHS:
        kind = "docs"
    elif kind == "html" and path[:6] == "/admin":
        kind = "console"
    static = path[:8] == "/static/"
    if not answer_set_some:
        return [*headers, request_id, *_ADDED[kind, static]]
    # The answer set some of them itself: keep its own, add the rest.
    raw = [(k, v) for k, v in headers if k != b"x-request-id"]
    present = {k for k, _ in raw}
    return raw + [request_id] + [h for h in _ADDED[kind, static] if h[0] not in present]


def edge_headers(path: str, request_id: str) -> list[tuple[bytes, bytes]]:
    """The headers the edge adds to a JSON answer of its own (the 500 handler's)."""
    own = (b"x-request-id", request_id.encode("latin-1"))
    return with_edge_headers([(b"content-type", b"application/json")], path, own)[1:]


class EdgeMiddleware:
    """The whole edge, in one layer (see the module's docstring)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.observe = metrics.observe

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
        scope[REQUEST_ID_KEY] = request_id
        path: str = scope["path"]
        method: str = scope["method"]
        own = (b"x-request-id", request_id.encode("latin-1"))
        status = 500  # unless an answer starts: the error layer outside answers 500

        def edge_send(message: Message) -> Awaitable[None]:
            # A plain function handing back `send`'s awaitable: no coroutine of its own
            # on every message of every answer.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": with_edge_headers(message.get("headers", ()), path, own),
                }
            return send(message)

        id_token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, edge_send)
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
