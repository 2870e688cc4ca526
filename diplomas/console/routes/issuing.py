"""Issuing one diploma from a form, with the real page previewed before anything is
signed."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError
from ...core.model import REQUEST_FIELDS
from ...core.proposals import Proposal
from ...core.users import Permission
from ...render.preview import first_page_png
from ..web import Need, actor_of, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]
TEXT_FIELDS = [f for f in REQUEST_FIELDS if f != "co_issuers"]


async def _raw(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """The request as `issue` takes it (empty fields left out), and the form's values."""
    form = await request.form()
    values = {f: str(form.get(f, ""))[:2000] for f in TEXT_FIELDS}
    raw: dict[str, Any] = {k: v for k, v in values.items() if v.strip()}
    co = [str(v) for v in form.getlist("co_issuers") if str(v)]
    if co:
        raw["co_issuers"] = co
    return raw, values


def _form(
    request: Request,
    values: dict[str, str],
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    return page(
        request,
        "issue.html",
        {
            "values": values,
            "problems": problems or {},
            "designs": service.design_names(),
            "co_issuing": list(service.co_issuing.values()),
        },
        status_code=status_code,
    )


@router.get("/admin/issue")
def issue_form(request: Request, signed: Issuer) -> Response:
    return _form(request, {f: "" for f in TEXT_FIELDS})


@router.post("/admin/issue/preview")
async def preview(request: Request, signed: Issuer) -> Response:
    """The page as it will print, rendered from the form; unsigned, nothing stored."""
    raw, _ = await _raw(request)
    service = service_of(request)
    try:
        pdf = await run_in_threadpool(service.page_preview, raw)
    except DiplomaError as exc:
        return page(request, "preview.html", {"image": "", "problems": problems_of(exc)})
    png = await run_in_threadpool(first_page_png, pdf, 900)
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    return page(request, "preview.html", {"image": image, "problems": {}})


@router.post("/admin/issue")
async def issue(request: Request, signed: Issuer) -> Response:
    raw, values = await _raw(request)
    service = service_of(request)
    try:
        outcome = await run_in_threadpool(service.submit_issue, raw, actor_of(signed))
    except DiplomaError as exc:
        return _form(request, values, problems_of(exc), status_code=422)
    if isinstance(outcome, Proposal):
        return redirect(request, f"/admin/proposals/{outcome.id}")
    return redirect(request, f"/admin/diplomas/{outcome.diploma.id}")
