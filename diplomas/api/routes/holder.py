"""The holder's private page: her diploma to keep and share, at a link only she was given.

Not the public page: it opens her PDF and her credential, so it answers nothing that
tells a wrong token from an unknown diploma (one 404 page for both), and like every page
here it is never cached, never sent as a referrer and never indexed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from ...core.dates import format_gregorian, format_solar_hijri
from ...core.errors import NotFound
from ...core.statuslist import MEDIA_TYPE as CREDENTIAL_MEDIA_TYPE
from ...core.text import persian_digits
from ...holders import HolderView
from ...service import DiplomaService
from ..deps import AuthFirstRoute, ServiceDep

router = APIRouter(prefix="/h", tags=["holder"], route_class=AuthFirstRoute)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.filters["fa_digits"] = persian_digits
templates.env.filters["solar_hijri"] = format_solar_hijri
templates.env.filters["gregorian"] = format_gregorian

NOT_INDEXED = {"X-Robots-Tag": "noindex, nofollow"}
_NOT_FOUND = 404


def _language(lang: str | None) -> str:
    return "en" if lang == "en" else "fa"


def _view(service: DiplomaService, diploma_id: str, token: str) -> HolderView:
    return service.holders.view(diploma_id, token)


@router.get(
    "/{diploma_id}/{token}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}, "description": "no diploma at this link"}},
)
async def holder_page(
    diploma_id: str, token: str, service: ServiceDep, lang: str | None = None
) -> HTMLResponse:
    """The holder's page: her diploma's standing, her PDF and credential, LinkedIn, and
    the public link to share. Persian first; `?lang=en` for English."""
    language = _language(lang)
    page = templates.get_template("holder.html")
    try:
        view = await run_in_threadpool(_view, service, diploma_id, token)
    except NotFound:
        body = page.render(view=None, lang=language, here=f"/h/{diploma_id}/{token}")
        return HTMLResponse(body, _NOT_FOUND, headers=NOT_INDEXED)
    body = page.render(view=view, lang=language, here=f"/h/{view.diploma.id}/{token}")
    return HTMLResponse(body, headers=NOT_INDEXED)


def _attachment(content: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', **NOT_INDEXED}
    return Response(content, media_type=media_type, headers=headers)


@router.get(
    "/{diploma_id}/{token}/diploma.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, 404: {}},
)
async def holder_pdf(diploma_id: str, token: str, service: ServiceDep) -> Response:
    """Her signed PDF, the current version."""
    diploma = await run_in_threadpool(service.holders.open, diploma_id, token)
    pdf = await run_in_threadpool(service.pdf, diploma.id)
    return _attachment(pdf, "application/pdf", f"{diploma.serial}.pdf")


@router.get(
    "/{diploma_id}/{token}/credential.json",
    response_class=Response,
    responses={200: {"content": {CREDENTIAL_MEDIA_TYPE: {}}}, 404: {}},
)
async def holder_credential(diploma_id: str, token: str, service: ServiceDep) -> Response:
    """Her Open Badges 3.0 credential, signed, exactly as embedded in the PDF: the file a
    wallet imports."""
    diploma = await run_in_threadpool(service.holders.open, diploma_id, token)
    return _attachment(diploma.record, CREDENTIAL_MEDIA_TYPE, f"{diploma.serial}.json")
