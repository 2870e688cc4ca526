"""The database is away: a 503 with `Retry-After`, never a 500.

A request that meets an unreachable, restarting or locked database fails inside one
transaction, which the database rolls back (a serial is consumed only by a stored
diploma), so the caller may simply send it again: the answer says when. The API gets
JSON, the pages a short plain page in both languages. Any other database error (a broken
constraint, a bug) stays a 500.

The storage layer says it with `core.errors.StorageUnavailable` (`storage.outage`);
`app.create_app` registers `on_storage_unavailable` for it.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..logging_setup import mark_logged, request_id_var
from .middleware import REQUEST_ID_KEY, edge_headers

log = logging.getLogger("diplomas.http")

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "the database is unavailable; try again shortly"
UNAVAILABLE_PAGE = (
    "<!doctype html>\n"
    '<html lang="fa" dir="rtl"><head><meta charset="utf-8">'
    "<title>موقتاً در دسترس نیست / Temporarily unavailable</title></head>\n"
    "<body><h1>موقتاً در دسترس نیست</h1>"
    "<p>پایگاه داده پاسخ نمی‌دهد؛ چند لحظه دیگر دوباره تلاش کنید.</p>\n"
    '<h1 lang="en" dir="ltr">Temporarily unavailable</h1>'
    '<p lang="en" dir="ltr">The database does not answer; please try again in a moment.</p>'
    "</body></html>\n"
)


def _wants_html(request: Request) -> bool:
    route = request.scope.get("route")
    response_class = getattr(route, "response_class", None)
    return isinstance(response_class, type) and issubclass(response_class, HTMLResponse)


async def on_storage_unavailable(request: Request, exc: Exception) -> Response:
    """503 + Retry-After: the database is away."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    # Logged without the traceback's connection string: the driver's words.
    log.warning("database unavailable: %s", exc)
    if _wants_html(request):
        return HTMLResponse(UNAVAILABLE_PAGE, status_code=503, headers=headers)
    return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers=headers)


UNHANDLED = "the service could not complete the request"


async def on_unhandled(request: Request, exc: Exception) -> Response:
    """The 500 for anything unhandled (Starlette's ServerErrorMiddleware calls it): JSON
    with the request id and the edge's security headers, never a trace. The error is
    logged here, once, with the request id; ServerErrorMiddleware then raises it on to
    the server, whose own report of it `logging_setup` leaves out (`mark_logged`)."""
    request_id = str(request.scope.get(REQUEST_ID_KEY, ""))
    token = request_id_var.set(request_id)
    try:
        log.error("unhandled error", exc_info=exc)
    finally:
        request_id_var.reset(token)
    mark_logged(exc)
    answer = JSONResponse({"detail": UNHANDLED}, status_code=500)
    if request_id:
        # ServerErrorMiddleware sends this outside the edge middleware: its headers here.
        answer.raw_headers += edge_headers(request.url.path, request_id)
    return answer
