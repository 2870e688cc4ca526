"""API tokens: each user's own (named, scoped, with an expiry), everyone's for admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError, FieldProblem, InvalidInput
from ...core.users import ROLE_SCOPES, Permission
from ..web import Need, Refused, acting, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ, any_institution=True))]
DEFAULT_DAYS = 90


def _page(
    request: Request,
    signed: SignedIn,
    *,
    problems: dict[str, str] | None = None,
    created: str = "",
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    now = service.clock.now()
    tokens = service.tokens_of(signed.user)
    return page(
        request,
        "tokens.html",
        {
            "tokens": tokens,
            "now": now,
            "scopes": sorted(ROLE_SCOPES[signed.user.role]),
            "problems": problems or {},
            "created": created,
            "default_days": DEFAULT_DAYS,
        },
        status_code=status_code,
    )


@router.get("/admin/tokens")
def tokens(request: Request, signed: Reader) -> Response:
    return _page(request, signed)


@router.post("/admin/tokens")
async def create_token(
    request: Request,
    signed: Reader,
    name: Annotated[str, Form(max_length=300)] = "",
    scope: Annotated[list[str] | None, Form()] = None,
    days: Annotated[str, Form(max_length=10)] = str(DEFAULT_DAYS),
) -> Response:
    service = acting(request, signed)
    try:
        if not days.strip().isdigit():
            raise InvalidInput(FieldProblem("expires_in", "must be a whole number of days"))
        _, secret = await run_in_threadpool(
            lambda: service.create_token(
                scope or [],
                name,
                user=signed.user.email,
                expires_in=timedelta(days=int(days.strip())),
            )
        )
    except DiplomaError as exc:
        return _page(request, signed, problems=problems_of(exc), status_code=422)
    return _page(request, signed, created=secret, status_code=201)


@router.get("/admin/tokens/{token_id}/revoke")
def confirm_revoke(request: Request, signed: Reader, token_id: str) -> Response:
    service = service_of(request)
    found = [t for t in service.tokens_of(signed.user) if t.token_id == token_id]
    if not found:
        raise Refused(404, "Not found")
    return page(request, "token_revoke.html", {"tk": found[0]})


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(request: Request, signed: Reader, token_id: str) -> Response:
    service = acting(request, signed)
    try:
        await run_in_threadpool(lambda: service.revoke_token(token_id[:64], by=signed.user))
    except DiplomaError as exc:
        if problems_of(exc).get("") and "no token" in str(exc):
            raise Refused(404, "Not found") from None
        return _page(request, signed, problems=problems_of(exc), status_code=409)
    return redirect(request, "/admin/tokens")
