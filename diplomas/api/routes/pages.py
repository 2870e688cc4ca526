"""The public HTML pages: the QR landing page and the upload check, Persian first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.convertors import StringConvertor, register_url_convertor

from ...core.dates import format_gregorian, format_solar_hijri
from ...core.errors import DocumentError
from ...core.reasons import public_words
from ...core.text import persian_digits
from ...core.verification import Verdict
from ..answers import Answer, KeptResponse
from ..deps import ServiceDep, SettingsDep
from ..metrics import record_verdict
from .verify import read_upload, verdict_for_id

router = APIRouter(tags=["pages"])


class PageIdConvertor(StringConvertor):
    """A path segment, but never `did.json`: this page is matched before the DID routes,
    and `/v/did.json` is the DID document of a co-issuer whose public URL ends in `/v`.
    (No diploma id has a dot, so the page loses nothing: what it refuses is malformed.)"""

    regex = r"(?!did\.json$)[^/]+"


register_url_convertor("page_id", PageIdConvertor())
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.filters["fa_digits"] = persian_digits
templates.env.filters["solar_hijri"] = format_solar_hijri
templates.env.filters["gregorian"] = format_gregorian
templates.env.globals["reason_words"] = public_words

HEADLINES = {
    "valid": ("این دیپلم معتبر است", "This diploma is genuine"),
    "revoked": ("این دیپلم باطل شده است", "This diploma has been revoked"),
    "suspended": ("این دیپلم به حالت تعلیق درآمده است", "This diploma is suspended"),
    "unknown": ("چنین دیپلمی صادر نشده است", "No such diploma was issued"),
    "invalid": ("این سند معتبر نیست", "This document is not genuine"),
    "superseded": (
        "این نسخه با نسخهٔ اصلاح‌شده جایگزین شده است",
        "This copy was replaced by a corrected version",
    ),
}


def _status_code(verdict: Verdict | None, upload_error: str = "") -> int:
    if upload_error:
        return 422  # the form's page, saying why the file was refused
    return 200 if verdict is None or verdict.status.value != "unknown" else 404


def _render(verdict: Verdict | None, **extra: Any) -> bytes:
    """The page for a verdict (or the bare form): it depends on nothing in the request,
    so the QR landing page can be kept with its verdict."""
    page = templates.get_template("verify.html")
    return page.render(verdict=verdict, headlines=HEADLINES, **extra).encode()


def _page_answer(verdict: Verdict) -> Answer:
    return Answer.of(_page(verdict))


def _page(verdict: Verdict | None, **extra: Any) -> HTMLResponse:
    return HTMLResponse(
        _render(verdict, **extra),
        _status_code(verdict, extra.get("upload_error", "")),
    )


@router.get(
    "/v/{diploma_id:page_id}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}, "description": "no such diploma"}},
)
async def verify_page(diploma_id: str, request: Request) -> Response:
    """The page the QR code opens: the verdict for a diploma id, Persian first."""
    kept = await verdict_for_id(request, diploma_id)
    return KeptResponse(kept.form("page", _page_answer))


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home() -> HTMLResponse:
    return _page(None)


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
        return _page(None, upload_error=str(exc))
    verdict = await run_in_threadpool(service.verify_pdf, pdf)
    record_verdict(request, verdict.status.value)
    return _page(verdict, uploaded=True)
