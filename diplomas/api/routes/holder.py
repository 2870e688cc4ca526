"""The holder's private page: her diploma to keep and share, at a link only she was given.

Not the public page: it opens her PDF and her credential, so it answers nothing that
tells a wrong token from an unknown diploma (one 404 page for both), and like every page
here it is never cached, never sent as a referrer and never indexed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from ...core.errors import NotFound
from ...core.statuslist import MEDIA_TYPE as CREDENTIAL_MEDIA_TYPE
from ..deps import AuthFirstRoute, ServiceDep
from .pages import language, templates

router = APIRouter(prefix="/h", tags=["holder"], route_class=AuthFirstRoute)

NOT_INDEXED = {"X-Robots-Tag": "noindex"}
"""For the files: the edge says it of every page already."""


@router.get(
    "/{diploma_id}/{token}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}, "description": "no diploma at this link"}},
)
async def holder_page(
    request: Request, diploma_id: str, token: str, service: ServiceDep
) -> HTMLResponse:
    """The holder's page: her diploma's standing, her PDF and credential, LinkedIn, and
    the public link to share. Persian first; `?lang=en` for English."""
    page = templates.get_template("holder.html")
    here, lang = f"/h/{diploma_id}/{token}", language(request)
    try:
        view = await run_in_threadpool(service.holders.view, diploma_id, token)
    except NotFound:
        return HTMLResponse(page.render(view=None, lang=lang, here=here), 404)
    return HTMLResponse(page.render(view=view, lang=lang, here=here))


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
