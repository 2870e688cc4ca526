"""Renewing a holder's private link: asked on a page of its own, then done."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import Forbidden
from ...core.users import Permission
from ..web import Need, Refused, acting, page, redirect
from .diplomas import _diploma

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]


@router.get("/admin/diplomas/{reference}/holder-link/renew")
def confirm_renewal(request: Request, signed: Issuer, reference: str) -> Response:
    return page(request, "holder_link.html", {"d": _diploma(request, signed, reference)})


@router.post("/admin/diplomas/{reference}/holder-link/renew")
async def renew(request: Request, signed: Issuer, reference: str) -> Response:
    """A new private link; every copy of the old one stops opening anything."""
    found = _diploma(request, signed, reference)
    try:
        await run_in_threadpool(acting(request, signed).renew_holder_link, found.id)
    except Forbidden as exc:
        raise Refused(403, str(exc)) from None
    return redirect(request, f"/admin/diplomas/{found.id}#holder-link")
