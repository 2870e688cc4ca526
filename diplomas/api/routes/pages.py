"""The public HTML pages: the QR landing page, the upload check and the serial lookup,
in Persian (the default) or English (`?lang=en`).

A page for a verdict is rendered once per language and kept with the verdict (see
`verdicts.CachedVerdict.form`); what changes on every request, the time of the check and
the page's address, fills slots left in it (`answers.SlottedAnswer`).
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.convertors import StringConvertor, register_url_convertor

from ...core.dates import format_gregorian, format_gregorian_fa, format_solar_hijri
from ...core.errors import DocumentError, InvalidInput
from ...core.reasons import public_words
from ...core.text import persian_digits
from ...core.verification import Verdict
from ...core.words import LEVELS, Words
from ...service import DiplomaService
from ..answers import SLOT, KeptResponse, SlottedAnswer
from ..deps import AuthFirstRoute, ServiceDep, SettingsDep
from ..limits import Body, limits
from ..metrics import record_verdict
from ..ratelimit import RateLimiter
from .verify import in_verify_thread, read_upload, verdict_for_id

router = APIRouter(tags=["pages"], route_class=AuthFirstRoute)


class PageIdConvertor(StringConvertor):
    """A path segment, but never `did.json`: this page is matched before the DID routes,
    and `/v/did.json` is the DID document of a co-issuer whose public URL ends in `/v`.
    (No diploma id has a dot, so the page loses nothing: what it refuses is malformed.)"""

    regex = r"(?!did\.json$)[^/]+"


register_url_convertor("page_id", PageIdConvertor())

CHECK_TIME = b"check-time"


def _slot(name: bytes) -> Markup:
    # Our own constant (a NUL-bracketed name), never anything a person typed.
    return Markup(f"{SLOT}{name.decode()}{SLOT}")  # noqa: S704


def _day(day: date, lang: str) -> str:
    """Persian: the Solar Hijri date with the Gregorian beside it; English: Gregorian."""
    if lang == "fa":
        return f"{format_solar_hijri(day)} ({format_gregorian_fa(day)})"
    return format_gregorian(day)


def _moment(moment: datetime, lang: str) -> str:
    at = moment.astimezone(UTC)
    clock = at.strftime("%H:%M")
    # The Solar Hijri date alone: the Gregorian one beside it would crowd a line that
    # already carries a time.
    if lang == "fa":
        return f"{format_solar_hijri(at.date())}، ساعت {persian_digits(clock)} (UTC)"
    return f"{format_gregorian(at.date())}, {clock} UTC"


def _number(value: object, lang: str) -> str:
    return persian_digits(str(value)) if lang == "fa" else str(value)


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _reason(code: str, lang: str) -> str:
    fa, en = public_words(code)
    return fa if lang == "fa" else en


templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
templates.env.globals.update(
    day=_day,
    moment=_moment,
    number=_number,
    host=_host,
    reason=_reason,
    levels=LEVELS,
    check_time=_slot(CHECK_TIME),
)


def language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "fa"


def _status_code(verdict: Verdict | None) -> int:
    return 200 if verdict is None or verdict.status.value != "unknown" else 404


def _slotted(
    lang: str,
    site: str,
    verdict: Verdict | None,
    status: int | None = None,
    *,
    switch_to: str = "",
    **extra: Any,
) -> SlottedAnswer:
    """The page for a verdict (or the bare forms), with the request's slots left open.

    Nothing in it comes from the request but the language: the other language's link is
    relative (`?lang=en` on this path) unless `switch_to` names a page, and the address
    printed is the diploma's own page (or the site's), never the URL asked for, so that
    unknown and malformed ids answer alike."""
    other = "fa" if lang == "en" else "en"
    address = verdict.claims.verify_url if verdict is not None and verdict.claims else site
    page = templates.get_template("verify.html").render(
        lang=lang,
        fa=lang == "fa",
        t=lambda fa, en: fa if lang == "fa" else en,
        verdict=verdict,
        switch=f"{switch_to}?lang={other}",
        lang_query="?lang=en" if lang == "en" else "",
        address=address + ("?lang=en" if lang == "en" and address != site else ""),
        **extra,
    )
    code = status if status is not None else _status_code(verdict)
    return SlottedAnswer.of(HTMLResponse(page, code))


def _filled(page: SlottedAnswer, request: Request, lang: str) -> Response:
    service: DiplomaService = request.app.state.service
    return KeptResponse(page.fill({CHECK_TIME: _check_time_now(service.clock.now(), lang)}))


_last_check_time: dict[str, tuple[int, bytes]] = {}
"""The check time last written, per language: it reads the same for a whole second, and
formatting a Solar Hijri date costs more than the rest of a kept page's answer."""


def _check_time_now(now: datetime, lang: str) -> bytes:
    second = int(now.timestamp())
    kept = _last_check_time.get(lang)
    if kept is None or kept[0] != second:
        # Two threads may both write it in the same second; either copy is the same.
        kept = _last_check_time[lang] = (second, _check_time(now, lang).encode())
    return kept[1]


def _check_time(now: datetime, lang: str) -> str:
    iso = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return f'<time datetime="{iso}">{html.escape(_moment(now, lang))}</time>'


@router.get(
    "/v/{diploma_id:page_id}",
    response_class=HTMLResponse,
    responses={404: {"content": {"text/html": {}}, "description": "no such diploma"}},
)
@limits(rate_limited=True)
async def verify_page(diploma_id: str, request: Request) -> Response:
    """The page the QR code opens: the verdict for a diploma id, Persian first."""
    kept = await verdict_for_id(request, diploma_id)
    lang = language(request)
    site = _site(request)
    page = kept.form(f"page-{lang}", lambda v: _slotted(lang, site, v))
    return _filled(page, request, lang)


def _site(request: Request) -> str:
    service: DiplomaService = request.app.state.service
    return service.institution.public_url.rstrip("/") + "/"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request) -> Response:
    lang = language(request)
    return _filled(_slotted(lang, _site(request), None, lookup=True), request, lang)


@router.post(
    "/verify",
    response_class=HTMLResponse,
    responses={422: {"content": {"text/html": {}}, "description": "the file was refused"}},
)
@limits(body=Body.UPLOAD, rate_limited=True)
async def verify_upload_page(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    """The upload form's answer: the verdict for a PDF, as a page."""
    lang = language(request)
    try:
        pdf = await read_upload(file, settings.max_upload_bytes)
    except DocumentError as exc:
        page = _slotted(lang, _site(request), None, 422, switch_to="/", upload_error=str(exc))
        return _filled(page, request, lang)
    verdict = await run_in_threadpool(service.verify_pdf, pdf)
    record_verdict(request, verdict.status.value)
    page = _slotted(lang, _site(request), verdict, switch_to="/", uploaded=True)
    return _filled(page, request, lang)


LOOKUP_REFUSED = Words(
    "دیپلمی با این شماره و این نام خانوادگی پیدا نشد. شماره و نام خانوادگی را همان‌گونه "
    "که روی دیپلم چاپ شده است وارد کنید.",
    "No diploma matches this serial and family name. Type both as printed on the diploma.",
)
LOOKUP_MISSING = {
    "serial": Words(
        "شمارهٔ چاپ‌شده روی دیپلم را وارد کنید.", "Type the serial printed on the diploma."
    ),
    "family_name": Words(
        "نام خانوادگی دارنده را وارد کنید (دست‌کم دو حرف).",
        "Type the holder's family name (at least two letters).",
    ),
}
LOOKUP_TOO_MANY = Words(
    "درخواست‌های جست‌وجو بیش از اندازه بود. پس از {seconds} ثانیه دوباره بکوشید.",
    "Too many lookups. Try again in {seconds} seconds.",
)


@router.post(
    "/lookup",
    response_class=HTMLResponse,
    responses={
        303: {"description": "found: the diploma's page"},
        404: {"content": {"text/html": {}}, "description": "no such serial and family name"},
        422: {"content": {"text/html": {}}, "description": "a field is missing"},
        429: {"content": {"text/html": {}}, "description": "too many lookups"},
    },
)
async def lookup_page(
    request: Request,
    serial: Annotated[str, Form(max_length=100)] = "",
    family_name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Find a diploma by the serial on a paper copy and its holder's family name. No
    match and a wrong name answer with the same page (see `core.lookup`)."""
    lang = language(request)
    limiter: RateLimiter | None = request.app.state.lookups
    client = request.client.host if request.client else ""
    wait = limiter.acquire(client) if limiter is not None else 0.0
    if wait > 0:
        retry = RateLimiter.retry_after(wait)
        message = LOOKUP_TOO_MANY(lang).format(seconds=_number(retry, lang))
        page = _slotted(
            lang, _site(request), None, 429, switch_to="/", lookup=True, lookup_error=message
        )
        response = _filled(page, request, lang)
        response.headers["retry-after"] = retry
        return response
    service: DiplomaService = request.app.state.service
    try:
        found = await in_verify_thread(service.lookup_serial, serial, family_name)
    except InvalidInput as exc:
        missing = [LOOKUP_MISSING[p.field](lang) for p in exc.problems]
        page = _slotted(
            lang,
            _site(request),
            None,
            422,
            switch_to="/",
            lookup=True,
            lookup_error=" ".join(missing),
            serial=serial,
        )
        return _filled(page, request, lang)
    if found is None:
        refused = LOOKUP_REFUSED(lang)
        page = _slotted(
            lang, _site(request), None, 404, switch_to="/", lookup=True, lookup_error=refused
        )
        return _filled(page, request, lang)
    suffix = "?lang=en" if lang == "en" else ""
    return RedirectResponse(f"/v/{found}{suffix}", status_code=303)
