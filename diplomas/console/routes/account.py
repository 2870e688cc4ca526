"""One's own account: sessions, signing out everywhere, the second factor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError
from ...core.users import Permission
from ..web import Need, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ, any_institution=True))]


def _page(
    request: Request, signed: SignedIn, problem: str = "", status_code: int = 200
) -> Response:
    accounts = service_of(request).accounts
    return page(
        request,
        "account.html",
        {
            "sessions": accounts.sessions(signed),
            "problem": problem,
            "must_keep": accounts.policy.second_factor_required
            and signed.user.role.value in ("admin", "approver"),
        },
        status_code=status_code,
    )


@router.get("/admin/account")
def account(request: Request, signed: Reader) -> Response:
    return _page(request, signed)


@router.post("/admin/account/second-factor/remove")
async def remove_second_factor(
    request: Request, signed: Reader, code: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    try:
        await run_in_threadpool(service_of(request).accounts.remove_totp, signed, code)
    except DiplomaError as exc:
        problem = " ".join(problems_of(exc).values())
        return _page(request, signed, problem, status_code=422)
    return redirect(request, "/admin/account")
