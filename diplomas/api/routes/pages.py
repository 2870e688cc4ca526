"""The public HTML pages: the QR landing page and the upload check, Persian first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ...core.dates import format_gregorian, format_solar_hijri
from ...core.errors import DocumentError
from ...core.text import persian_digits
from ...core.verification import Verdict
from ..deps import ServiceDep, SettingsDep
from ..metrics import record_verdict
from .verify import ReadingService, in_verify_thread, read_upload

router = APIRouter(tags=["pages"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.filters["fa_digits"] = persian_digits
templates.env.filters["solar_hijri"] = format_solar_hijri
templates.env.filters["gregorian"] = format_gregorian

HEADLINES = {
    "valid": ("این دیپلم معتبر است", "This diploma is genuine"),
    "revoked": ("این دیپلم باطل شده است", "This diploma has been revoked"),
    "suspended": ("این دیپلم به حالت تعلیق درآمده است", "This diploma is suspended"),
    "unknown": ("چنین دیپلمی صادر نشده است", "No such diploma was issued"),
    "invalid": ("این سند معتبر نیست", "This document is not genuine"),
}


def _page(request: Request, verdict: Verdict | None, **extra: Any) -> HTMLResponse:
    context: dict[str, Any] = {"verdict": verdict, "headlines": HEADLINES, **extra}
    if verdict is not None:
        record_verdict(verdict.status.value)
    if extra.get("upload_error"):
        code = 422  # the form's page, saying why the file was refused
    else:
        code = 200 if verdict is None or verdict.status.value != "unknown" else 404
    return templates.TemplateResponse(request, "verify.html", context, status_code=code)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> HTMLResponse:
    return _page(request, None)


@router.get(
    "/v/{diploma_id}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}, "description": "no such diploma"}},
)
async def verify_page(diploma_id: str, request: Request, service: ReadingService) -> HTMLResponse:
    """The page the QR code opens: the verdict for a diploma id, Persian first."""
    return _page(request, await in_verify_thread(service.verify_id, diploma_id))


@router.post(
    "/verify",
    response_class=HTMLResponse,
    responses={422: {"content": {"text/html": {}}, "description": "the file was refused"}},
)
async def verify_upload_page(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
) -> HTMLResponse:
    """The upload form's answer: the verdict for a PDF, as a page."""
    try:
        pdf = await read_upload(file, settings.max_upload_bytes)
    except DocumentError as exc:
        return _page(request, None, upload_error=str(exc))
    return _page(request, await run_in_threadpool(service.verify_pdf, pdf), uploaded=True)
