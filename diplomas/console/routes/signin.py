"""Signing in and out, the second factor, and the language switch."""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from typing import Annotated
from urllib.parse import quote, unquote

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.errors import DiplomaError, InvalidInput, Throttled, Unauthorized
from ...oidc import Pending, Provider
from ..web import (
    LANGUAGE_COOKIE,
    SIGN_IN_COOKIE,
    Need,
    Refused,
    clear_session_cookie,
    client_address,
    page,
    problems_of,
    redirect,
    safe_next,
    same_origin,
    service_of,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Session = Annotated[SignedIn, Depends(Need(None, second_factor=False, any_institution=True))]
Complete = Annotated[SignedIn, Depends(Need(None, any_institution=True))]


def _sign_in_page(
    request: Request, next_: str, *, problem: str = "", status_code: int = 200, email: str = ""
) -> Response:
    token = secrets.token_urlsafe(32)
    provider = provider_of(request)
    response = page(
        request,
        "sign_in.html",
        {
            "next": safe_next(next_),
            "form_token": token,
            "problem": problem,
            "email": email,
            "sso": provider.name if provider else "",
        },
        status_code=status_code,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        path="/admin/sign-in",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/admin/sign-in")
def sign_in_form(request: Request, next: str = "/admin") -> Response:
    return _sign_in_page(request, next)


@router.post("/admin/sign-in")
async def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=300)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    form_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin",
) -> Response:
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if (
        not same_origin(request)
        or not cookie
        or not hmac.compare_digest(cookie.encode(), form_token.encode())
    ):
        raise Refused(403, "The request was refused: reload the page and try again.")
    accounts = service_of(request).accounts
    try:
        signed, token = await run_in_threadpool(
            accounts.sign_in,
            email,
            password,
            address=client_address(request),
            user_agent=request.headers.get("user-agent", "")[:200],
        )
    except Throttled as exc:
        response = _sign_in_page(request, next, problem=str(exc), status_code=429, email=email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthorized as exc:
        return _sign_in_page(request, next, problem=str(exc), status_code=401, email=email)
    if signed.second_factor_due:
        to = "/admin/second-factor" + ("/enrol" if signed.must_enrol else "")
        to += f"?next={safe_next(next)}"
    else:
        to = safe_next(next)
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(SIGN_IN_COOKIE, path="/admin/sign-in")
    return response


OIDC_COOKIE = "diplomas_oidc"
OIDC_PATH = "/admin/sign-in/oidc"


def provider_of(request: Request) -> Provider | None:
    """The identity provider the settings name (one per app, keeping its keys), or None."""
    settings = request.app.state.settings
    if not (settings.oidc_issuer and settings.oidc_client_id and settings.oidc_client_secret):
        return None
    provider: Provider | None = getattr(request.app.state, "oidc", None)
    if provider is None or provider.issuer != settings.oidc_issuer.rstrip("/"):
        provider = Provider(
            settings.oidc_issuer,
            settings.oidc_client_id,
            settings.oidc_client_secret.get_secret_value(),
            settings.oidc_name,
        )
        request.app.state.oidc = provider
    return provider


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@router.get(OIDC_PATH)
async def oidc_start(request: Request, next: str = "/admin") -> Response:
    provider = provider_of(request)
    if provider is None:
        raise Refused(404, "Not found")
    url, pending = await run_in_threadpool(provider.start, _callback_url(request))
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        f"{pending.cookie()}.{quote(safe_next(next), safe='')}",
        path=OIDC_PATH,
        max_age=600,
        httponly=True,
        # Lax: the provider's redirect back is a top-level navigation from its site.
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(OIDC_PATH + "/callback", name="oidc_callback")
async def oidc_callback(request: Request, code: str = "", state: str = "") -> Response:
    provider = provider_of(request)
    if provider is None:
        raise Refused(404, "Not found")
    kept = request.cookies.get(OIDC_COOKIE, "")
    carried, _, wanted = kept.rpartition(".")
    pending = Pending.from_cookie(carried)
    try:
        email = await run_in_threadpool(
            provider.finish, code[:2000], state[:200], pending, _callback_url(request)
        )
        signed, token = await run_in_threadpool(
            lambda: service_of(request).accounts.sign_in_verified(
                email,
                method="oidc",
                address=client_address(request),
                user_agent=request.headers.get("user-agent", "")[:150],
            )
        )
    except Unauthorized as exc:
        response = _sign_in_page(request, "/admin", problem=str(exc), status_code=401)
        response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
        return response
    target = safe_next(unquote(wanted))
    if signed.second_factor_due:
        to = "/admin/second-factor" + ("/enrol" if signed.must_enrol else "")
    else:
        to = target
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, request, token)
    response.delete_cookie(OIDC_COOKIE, path=OIDC_PATH)
    return response


@router.get("/admin/second-factor")
def second_factor_form(request: Request, signed: Session, next: str = "/admin") -> Response:
    if not signed.second_factor_due:
        return redirect(request, safe_next(next))
    if signed.must_enrol:
        return redirect(request, "/admin/second-factor/enrol")
    return page(request, "second_factor.html", {"next": safe_next(next), "problem": ""})


@router.post("/admin/second-factor")
async def second_factor(
    request: Request,
    signed: Session,
    code: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/admin",
) -> Response:
    accounts = service_of(request).accounts
    try:
        await run_in_threadpool(
            accounts.prove_second_factor, signed, code, address=client_address(request)
        )
    except Throttled as exc:
        return page(
            request, "second_factor.html", {"next": next, "problem": str(exc)}, status_code=429
        )
    except DiplomaError as exc:
        problem = problems_of(exc).get("code") or str(exc)
        return page(
            request, "second_factor.html", {"next": next, "problem": problem}, status_code=422
        )
    return redirect(request, safe_next(next))


def _qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def _enrol_page(
    request: Request, signed: SignedIn, secret: str, problem: str = "", status_code: int = 200
) -> Response:
    accounts = service_of(request).accounts
    uri = accounts.totp_uri(signed.user, secret)
    return page(
        request,
        "enrol.html",
        {
            "secret": secret,
            "grouped": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "qr": _qr_data_uri(uri),
            "problem": problem,
            "required": signed.second_factor_due,
        },
        status_code=status_code,
    )


@router.get("/admin/second-factor/enrol")
def enrol_form(request: Request, signed: Session) -> Response:
    if signed.second_factor_due and not signed.must_enrol:
        return redirect(request, "/admin/second-factor")
    return _enrol_page(request, signed, service_of(request).accounts.new_totp_secret())


@router.post("/admin/second-factor/enrol")
async def enrol(
    request: Request,
    signed: Session,
    secret: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if signed.second_factor_due and not signed.must_enrol:
        return redirect(request, "/admin/second-factor")
    accounts = service_of(request).accounts
    try:
        await run_in_threadpool(accounts.enrol_totp, signed, secret, code)
    except InvalidInput as exc:
        problems = problems_of(exc)
        if "secret" in problems:
            # Not a secret this page made (a form sent without one): show a new one, as
            # the page cannot draw a QR code for it.
            secret = accounts.new_totp_secret()
        return _enrol_page(request, signed, secret, " ".join(problems.values()), status_code=422)
    return redirect(request, "/admin/account")


@router.post("/admin/sign-out")
async def sign_out(request: Request, signed: Session) -> Response:
    await run_in_threadpool(service_of(request).accounts.sign_out, signed)
    response = RedirectResponse("/admin/sign-in", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.post("/admin/sign-out-everywhere")
async def sign_out_everywhere(request: Request, signed: Complete) -> Response:
    await run_in_threadpool(service_of(request).accounts.sign_out_everywhere, signed)
    response = RedirectResponse("/admin/sign-in", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/admin/language")
def choose_language(request: Request, to: str = "fa", next: str = "/admin") -> Response:
    """The language switch: a link, kept in a cookie (a preference, not a change of
    anything stored, so a GET is right for it)."""
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        "en" if to == "en" else "fa",
        path="/admin",
        max_age=365 * 24 * 3600,
        samesite="lax",
        secure=request.url.scheme == "https",
        httponly=True,
    )
    return response
