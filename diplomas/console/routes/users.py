"""The office's people (admins only): add, disable, set a new password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError, NotFound
from ...core.users import Permission, Role
from ..web import Need, Refused, acting, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Admin = Annotated[SignedIn, Depends(Need(Permission.ADMINISTER))]


def _page(
    request: Request,
    *,
    problems: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    return page(
        request,
        "users.html",
        {
            "users": service.list_users(),
            "roles": [r.value for r in Role],
            "institutions": service.institutions,
            "problems": problems or {},
            "values": values or {},
        },
        status_code=status_code,
    )


def _user_id(request: Request, user_id: str) -> str:
    for user in service_of(request).list_users():
        if user.id == user_id:
            return user.email
    raise Refused(404, "Not found")


@router.get("/admin/users")
def users(request: Request, signed: Admin) -> Response:
    return _page(request)


@router.post("/admin/users")
async def add_user(
    request: Request,
    signed: Admin,
    email: Annotated[str, Form(max_length=300)] = "",
    institution: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    service = acting(request, signed)
    try:
        await run_in_threadpool(service.add_user, email, institution, role, password)
    except DiplomaError as exc:
        values = {"email": email, "institution": institution, "role": role}
        return _page(request, problems=problems_of(exc), values=values, status_code=422)
    return redirect(request, "/admin/users")


@router.get("/admin/users/{user_id}/{action}")
def confirm(request: Request, signed: Admin, user_id: str, action: str) -> Response:
    if action not in ("disable", "password"):
        raise Refused(404, "Not found")
    email = _user_id(request, user_id)
    return page(
        request,
        "user_action.html",
        {"user_id": user_id, "email": email, "action": action, "problems": {}},
    )


@router.post("/admin/users/{user_id}/{action}")
async def act(
    request: Request,
    signed: Admin,
    user_id: str,
    action: str,
    password: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if action not in ("disable", "password"):
        raise Refused(404, "Not found")
    email = _user_id(request, user_id)
    service = acting(request, signed)
    try:
        if action == "disable":
            await run_in_threadpool(service.disable_user, email)
        else:
            await run_in_threadpool(service.reset_password, email, password)
    except NotFound:
        raise Refused(404, "Not found") from None
    except DiplomaError as exc:
        return page(
            request,
            "user_action.html",
            {"user_id": user_id, "email": email, "action": action, "problems": problems_of(exc)},
            status_code=422 if action == "password" else 409,
        )
    return redirect(request, "/admin/users")
