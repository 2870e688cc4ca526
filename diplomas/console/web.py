"""What every console page shares: the signed-in session, the permission a page needs,
CSRF protection, the language, and rendering.

Protection is the default: every console route depends on `Need(permission)` (or is one
of the few pages for signing in, `PUBLIC_PATHS`), and `check_console_routes` refuses to
build an app where one does not. `Need` finds the session (or sends the browser to sign
in), demands the second factor where it is due, checks the permission, and for any
request that is not GET/HEAD checks the CSRF token and the request's origin before the
page's own code runs.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from ..accounts import SignedIn
from ..core.dates import format_gregorian, format_solar_hijri
from ..core.errors import DiplomaError, Forbidden, InvalidInput, Unauthorized
from ..core.proposals import Actor
from ..core.reasons import public_words
from ..core.sessions import console_actor
from ..core.text import persian_digits
from ..core.users import ROLE_SCOPES, Permission
from ..service import DiplomaService
from .i18n import LANGUAGES, Language, translate

SAFE_METHODS = frozenset({"GET", "HEAD"})
LANGUAGE_COOKIE = "diplomas_lang"
SIGN_IN_COOKIE = "diplomas_sign_in"
"""The pre-session CSRF token of the sign-in form (double-submit)."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
PUBLIC_PATHS = frozenset(
    {"/admin/sign-in", "/admin/language", "/admin/sign-in/oidc", "/admin/sign-in/oidc/callback"}
)

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.filters["fa_digits"] = persian_digits
templates.env.filters["solar_hijri"] = format_solar_hijri
templates.env.filters["gregorian"] = format_gregorian
templates.env.globals["reason_words"] = public_words


class SignInRequired(Exception):
    """No live session: the browser is sent to the sign-in page."""


class Refused(Exception):
    """A console request refused with a page: 403 (permission, CSRF) or 404."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def session_cookie_name(request: Request) -> str:
    """`__Host-` over HTTPS (the browser then insists on Secure, Path=/ and no Domain,
    so no other site on the domain can set or read it); plain over HTTP (development
    on loopback), where a `__Host-` cookie would be refused."""
    return "__Host-diplomas" if request.url.scheme == "https" else "diplomas_session"


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        session_cookie_name(request),
        token,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        session_cookie_name(request),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def language(request: Request) -> Language:
    chosen = request.cookies.get(LANGUAGE_COOKIE, "fa")
    return "en" if chosen == "en" else "fa"


def service_of(request: Request) -> DiplomaService:
    """The service as the signed-in person may use it (`DiplomaService.as_user`)."""
    service: DiplomaService = request.app.state.service
    signed: SignedIn | None = getattr(request.state, "signed_in", None)
    return service.as_user(signed.user) if signed is not None else service


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def same_origin(request: Request) -> bool:
    """The request came from one of our own pages, as the browser says: `Sec-Fetch-Site`
    (sent by every current browser, beyond a page's reach) must say same-origin; without
    it, an `Origin` must name this site exactly. (Our pages send no referrer, so a
    browser's form posts carry `Origin: null`: the fetch metadata is what counts.) A
    request with neither, not from a browser, passes here and still needs the token."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        return origin == f"{request.url.scheme}://{request.url.netloc}"
    return True


async def submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    """Refused (403) unless an unsafe request is same-origin and carries `expected`."""
    if not same_origin(request):
        raise Refused(403, "The request was refused: reload the page and try again.")
    given = await submitted_csrf(request)
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Refused(403, "The request was refused: reload the page and try again.")


class Need:
    """The dependency of a console route: a live, complete session whose user may
    `permission`; for unsafe methods, the CSRF check too. `second_factor=False` is for
    the second-factor pages themselves."""

    def __init__(
        self,
        permission: Permission | None,
        *,
        second_factor: bool = True,
        any_institution: bool = False,
    ) -> None:
        self.permission = permission
        self.second_factor = second_factor
        self.any_institution = any_institution
        """Open to users of co-issuing institutions too (the page limits what they see);
        otherwise only the issuing institution's own users."""

    async def __call__(self, request: Request) -> SignedIn:
        service = service_of(request)
        token = request.cookies.get(session_cookie_name(request))
        try:
            signed = await run_in_threadpool(service.accounts.current, token)
        except Unauthorized:
            raise SignInRequired() from None
        request.state.signed_in = signed
        if request.method not in SAFE_METHODS:
            await check_csrf(request, signed.session.csrf_token)
        if signed.second_factor_due and self.second_factor:
            raise SignInRequired()
        if self.permission is not None:
            try:
                signed.require(self.permission)
            except Forbidden:
                raise Refused(403, "You cannot do this") from None
        if not self.any_institution and signed.user.institution != service.institution.slug:
            raise Refused(403, "You cannot do this")
        return signed


def actor_of(signed: SignedIn) -> Actor:
    """The signed-in person as the two-person rule sees them: their role's permissions."""
    user = signed.user
    return Actor(console_actor(user.email), user, ROLE_SCOPES[user.role])


def acting(request: Request, signed: SignedIn) -> DiplomaService:
    """The service, naming the signed-in user in the audit log."""
    return service_of(request).acting_as(console_actor(signed.user.email)).as_user(signed.user)


def page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    lang = language(request)
    signed: SignedIn | None = getattr(request.state, "signed_in", None)

    def t(key: str) -> str:
        return translate(key, lang)

    values: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "dir": "rtl" if lang == "fa" else "ltr",
        "other_lang": "en" if lang == "fa" else "fa",
        "t": t,
        "signed": signed,
        "csrf": signed.session.csrf_token if signed else "",
        "institution": service_of(request).institution,
        "here": quote(request.url.path + (f"?{request.url.query}" if request.url.query else "")),
        "digits": persian_digits if lang == "fa" else str,
        "Permission": Permission,
    }
    values.update(context or {})
    return templates.TemplateResponse(
        request, name, values, status_code=status_code, headers=dict(headers or {})
    )


def problems_of(exc: DiplomaError) -> dict[str, str]:
    """A form's problems by field, from the service's error."""
    if isinstance(exc, InvalidInput):
        return {p.field: p.message for p in exc.problems}
    return {"": str(exc)}


def redirect(request: Request, to: str) -> Response:
    """A 303 to `to`; for htmx requests, HX-Redirect so the whole page goes there."""
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": to})
    return RedirectResponse(to, status_code=303)


def safe_next(target: str | None) -> str:
    """A place in the console to go after signing in: a local /admin path only, never
    another site (`//evil`, `https://…`)."""
    if not target:
        return "/admin"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/admin") or "\\" in target:
        return "/admin"
    return target


def on_sign_in_required(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed: SignedIn | None = getattr(request.state, "signed_in", None)
    if signed is not None and signed.second_factor_due:
        to = "/admin/second-factor" + ("/enrol" if signed.must_enrol else "")
    else:
        to = f"/admin/sign-in?next={quote(here)}"
    response = redirect(request, to)
    return response


def on_refused(request: Request, exc: Refused) -> Response:
    return page(request, "refused.html", {"message": exc.message}, status_code=exc.status)


def required_need(dependant: Dependant) -> Need | None:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Need):
            return dependency.call
        found = required_need(dependency)
        if found is not None:
            return found
    return None


def check_console_routes(routes: Iterable[BaseRoute]) -> None:
    """RuntimeError for a console route that neither needs a session nor is public."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path.startswith("/admin"):
            if route.path in PUBLIC_PATHS:
                continue
            if required_need(route.dependant) is None:
                raise RuntimeError(f"console route {route.path} does not declare Need(...)")


__all__ = ["LANGUAGES"]
