"""The interactive API documentation at /docs: Swagger UI, every file of it served here.

FastAPI's own page takes Swagger UI from a CDN and starts it with an inline script: it is
blank on a network that cannot reach the CDN, and it needs a Content-Security-Policy that
lets scripts run inline and come from another host. This page takes Swagger UI's bundle
and stylesheet from the `fastapi-swagger` package (swagger-ui-dist's files, kept in step
with its releases), mounted by `create_app` at SWAGGER_UI_URL, and starts it from the
static file docs.js, so that its policy (`middleware.DOCS_CSP`) names this site alone.

ReDoc is turned off rather than served the same way: it puts its styles into <style>
elements as it runs, which a policy without 'unsafe-inline' styles refuses, and Swagger UI
already shows every operation.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ..deps import AuthFirstRoute
from .pages import templates

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)

SWAGGER_UI_URL = "/static/swagger-ui"
"""Where Swagger UI's files are served (as templates/docs.html names them), inside /static
so that caches keep them like the site's own."""


def swagger_ui_files() -> StaticFiles:
    """Swagger UI's bundle, stylesheet and icon, straight from the installed package
    (a missing package fails here, when the app is built, not on the first visit)."""
    return StaticFiles(packages=[("fastapi_swagger", "resources")])


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "docs.html",
        {
            "title": f"{request.app.title} · API",
            "openapi_url": request.app.openapi_url,
        },
    )
