"""The diplomas: the list with its search, one diploma's page, and its actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...core.errors import DiplomaError, NotFound
from ...core.model import Diploma, DiplomaStatus
from ...core.reasons import reasons_for
from ...core.users import Permission
from ...render.preview import first_page_png
from ..web import Need, Refused, acting, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ, any_institution=True))]
Revoker = Annotated[SignedIn, Depends(Need(Permission.REVOKE))]
PAGE_SIZE = 25
ACTIONS = {
    "revoke": ("Revoke", "Yes, revoke"),
    "suspend": ("Suspend", "Yes, suspend"),
    "unsuspend": ("Lift the suspension", "Yes, lift it"),
}


def _visible(signed: SignedIn, request: Request, diploma: Diploma) -> bool:
    """A user of a co-issuing institution sees only the diplomas it co-issued."""
    own = service_of(request).institution.slug
    if signed.user.institution == own:
        return diploma.institution.slug == own
    return signed.user.institution in {i.slug for i in diploma.co_issuers}


def _diploma(request: Request, signed: SignedIn, reference: str) -> Diploma:
    try:
        diploma = service_of(request).find_reference(reference)
    except NotFound:
        raise Refused(404, "Not found") from None
    if not _visible(signed, request, diploma):
        raise Refused(404, "Not found")
    return diploma


@router.get("/admin")
def home(request: Request, signed: Reader) -> Response:
    service = service_of(request)
    recent, total = service.search("", 0, 8)
    recent = [d for d in recent if _visible(signed, request, d)]
    return page(request, "home.html", {"recent": recent, "total": total})


@router.get("/admin/diplomas")
def diplomas(
    request: Request,
    signed: Reader,
    q: str = "",
    status: str = "",
    offset: int = 0,
) -> Response:
    service = service_of(request)
    offset = max(0, offset)
    found, total = service.search(q[:200], offset, PAGE_SIZE)
    rows = [d for d in found if _visible(signed, request, d)]
    if status in {s.value for s in DiplomaStatus}:
        rows = [d for d in rows if d.status.value == status]
    context = {
        "rows": rows,
        "total": total,
        "q": q,
        "status": status,
        "offset": offset,
        "size": PAGE_SIZE,
        "statuses": [s.value for s in DiplomaStatus],
    }
    if request.headers.get("hx-request") == "true":
        return page(request, "diplomas_table.html", context)
    return page(request, "diplomas.html", context)


@router.get("/admin/diplomas/{reference}")
async def diploma(request: Request, signed: Reader, reference: str) -> Response:
    found = _diploma(request, signed, reference)
    service = service_of(request)
    verdict = await run_in_threadpool(service.verify_id, found.id)
    history = await run_in_threadpool(service.history, found.id)
    return page(
        request,
        "diploma.html",
        {"d": found, "verdict": verdict, "history": history, "actions": ACTIONS},
    )


@router.get("/admin/diplomas/{reference}/page.png")
async def diploma_page(request: Request, signed: Reader, reference: str) -> Response:
    found = _diploma(request, signed, reference)
    pdf = await run_in_threadpool(service_of(request).pdf, found.id)
    png = await run_in_threadpool(first_page_png, pdf, 900)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.get("/admin/diplomas/{reference}/diploma.pdf")
async def diploma_pdf(request: Request, signed: Reader, reference: str) -> Response:
    found = _diploma(request, signed, reference)
    pdf = await run_in_threadpool(service_of(request).pdf, found.id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{found.serial}.pdf"'},
    )


@router.get("/admin/diplomas/{reference}/{action}")
def confirm(request: Request, signed: Revoker, reference: str, action: str) -> Response:
    """Every destructive action asks first, on a page of its own (no script needed)."""
    if action not in ACTIONS:
        raise Refused(404, "Not found")
    found = _diploma(request, signed, reference)
    return page(
        request,
        "confirm.html",
        {
            "d": found,
            "action": action,
            "words": ACTIONS[action],
            "problems": {},
            "reasons": reasons_for(action),
        },
    )


@router.post("/admin/diplomas/{reference}/{action}")
async def act(
    request: Request,
    signed: Revoker,
    reference: str,
    action: str,
    reason: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if action not in ACTIONS:
        raise Refused(404, "Not found")
    found = _diploma(request, signed, reference)
    service = acting(request, signed)
    try:
        if action == "revoke":
            await run_in_threadpool(lambda: service.revoke(found.id, reason, note=note))
        elif action == "suspend":
            await run_in_threadpool(lambda: service.suspend(found.id, reason, note=note))
        else:
            await run_in_threadpool(service.unsuspend, found.id)
    except DiplomaError as exc:
        return page(
            request,
            "confirm.html",
            {
                "d": found,
                "action": action,
                "words": ACTIONS[action],
                "problems": problems_of(exc),
                "reasons": reasons_for(action),
            },
            status_code=409 if not problems_of(exc).get("reason") else 422,
        )
    return redirect(request, f"/admin/diplomas/{found.id}")
