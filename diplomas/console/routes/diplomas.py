"""The diplomas: the list with its search, one diploma's page, and its actions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.corrections import SIGNED_FIELDS, CorrectionPlan
from ...core.dates import format_solar_hijri_numeric, parse_date
from ...core.errors import Conflict, DiplomaError, FieldProblem, InvalidInput, NotFound
from ...core.model import Diploma, DiplomaStatus
from ...core.proposals import Proposal
from ...core.reasons import choose, reasons_for
from ...core.search import DiplomaQuery, SearchResult, SortOrder
from ...core.users import Permission
from ...render.preview import first_page_png
from ..web import Need, Refused, acting, actor_of, page, problems_of, redirect, service_of
from .proposals import visible

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ, any_institution=True))]
Revoker = Annotated[SignedIn, Depends(Need(Permission.REVOKE))]
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]
PAGE_SIZE = 25
MAX_BULK = 500
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
    own = service.institution.slug
    mine = signed.user.institution if signed.user.institution != own else None
    result = service.search(DiplomaQuery(co_issuer=mine, limit=8))
    waiting = [p for p in service.proposals("pending") if visible(signed, request, p)]
    return page(
        request,
        "home.html",
        {"recent": list(result.items), "result": result, "waiting": waiting},
    )


FILTERS = ("q", "status", "from", "to", "batch", "template", "co_issuer", "sort")


def _query(request: Request, signed: SignedIn, values: dict[str, str], offset: int) -> DiplomaQuery:
    """The search the form asks for, as the service takes it; a co-issuer's user only
    ever searches what its institution co-issued."""
    problems: list[FieldProblem] = []
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        try:
            days[key] = parse_date(values[key]) if values[key] else None
        except ValueError as exc:
            problems.append(FieldProblem(key, str(exc)))
    if problems:
        raise InvalidInput(problems)
    own = service_of(request).institution.slug
    co_issuer = values["co_issuer"] or None
    if signed.user.institution != own:
        co_issuer = signed.user.institution
    return DiplomaQuery(
        text=values["q"],
        status=DiplomaStatus(values["status"]) if values["status"] in STATUSES else None,
        issued_from=days["from"],
        issued_to=days["to"],
        batch_id=values["batch"] or None,
        template=values["template"] or None,
        co_issuer=co_issuer,
        sort=SortOrder(values["sort"]) if values["sort"] in SORTS else SortOrder.NEWEST,
        offset=max(0, offset),
        limit=PAGE_SIZE,
    )


STATUSES = {s.value for s in DiplomaStatus}
SORTS = {s.value for s in SortOrder}


@router.get("/admin/diplomas")
async def diplomas(request: Request, signed: Reader, offset: int = 0) -> Response:
    service = service_of(request)
    values = {k: str(request.query_params.get(k, ""))[:200].strip() for k in FILTERS}
    problems: dict[str, str] = {}
    try:
        query = _query(request, signed, values, offset)
        result = await run_in_threadpool(service.search, query)
    except DiplomaError as exc:
        problems = problems_of(exc)
        result = SearchResult((), 0)
    context = {
        "rows": list(result.items),
        "result": result,
        "f": values,
        "filters": urlencode({k: v for k, v in values.items() if v}),
        "offset": max(0, offset),
        "size": PAGE_SIZE,
        "statuses": [s.value for s in DiplomaStatus],
        "sorts": [s.value for s in SortOrder],
        "designs": service.design_names(),
        "co_issuing": list(service.co_issuing.values()),
        "problems": problems,
        "may_revoke": signed.user.may(Permission.REVOKE)
        and signed.user.institution == service.institution.slug,
        "may_export": signed.user.may(Permission.ISSUE)
        and signed.user.institution == service.institution.slug,
    }
    if request.headers.get("hx-request") == "true":
        return page(request, "diplomas_table.html", context)
    return page(request, "diplomas.html", context)


def _many(request: Request, signed: SignedIn, ids: list[str]) -> list[Diploma]:
    found = []
    for reference in dict.fromkeys(ids):
        try:
            found.append(_diploma(request, signed, reference))
        except Refused:
            continue
    if not found:
        raise Refused(404, "Not found")
    return found[:MAX_BULK]


@router.post("/admin/diplomas/bulk")
async def bulk_confirm(request: Request, signed: Revoker) -> Response:
    """The chosen diplomas and an action: asks first, listing exactly what will change."""
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in ACTIONS:
        raise Refused(404, "Not found")
    chosen = _many(request, signed, [str(v) for v in form.getlist("ids")])
    return page(
        request,
        "bulk_confirm.html",
        {
            "chosen": chosen,
            "action": action,
            "words": ACTIONS[action],
            "reasons": reasons_for(action),
            "problems": {},
        },
    )


@router.post("/admin/diplomas/bulk/{action}")
async def bulk_act(
    request: Request,
    signed: Revoker,
    action: str,
    reason: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    confirmed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Each chosen diploma revoked, suspended or lifted, one by one; the page says what
    happened to each (one already revoked does not stop the others)."""
    if action not in ACTIONS:
        raise Refused(404, "Not found")
    form = await request.form()
    chosen = _many(request, signed, [str(v) for v in form.getlist("ids")])
    service = acting(request, signed)
    if confirmed != "yes":
        raise Refused(422, "Please check the form")
    try:
        choose(action, reason, note) if action != "unsuspend" else None
    except DiplomaError as exc:
        return page(
            request,
            "bulk_confirm.html",
            {
                "chosen": chosen,
                "action": action,
                "words": ACTIONS[action],
                "reasons": reasons_for(action),
                "problems": problems_of(exc),
            },
            status_code=422,
        )

    def apply() -> list[tuple[Diploma, str]]:
        done: list[tuple[Diploma, str]] = []
        for d in chosen:
            try:
                if action == "revoke":
                    service.revoke(d.id, reason, note=note)
                elif action == "suspend":
                    service.suspend(d.id, reason, note=note)
                else:
                    service.unsuspend(d.id)
                done.append((d, ""))
            except DiplomaError as exc:
                done.append((d, str(exc)))
        return done

    outcome = await run_in_threadpool(apply)
    return page(request, "bulk_done.html", {"outcome": outcome, "action": action})


@router.get("/admin/diplomas/{reference}")
async def diploma(request: Request, signed: Reader, reference: str) -> Response:
    found = _diploma(request, signed, reference)
    service = service_of(request)
    verdict = await run_in_threadpool(service.verify_id, found.id)
    versions = await run_in_threadpool(service.versions, found.id)
    history = await run_in_threadpool(service.history, found.id)
    mail = await run_in_threadpool(service.mail_state, found.id)
    return page(
        request,
        "diploma.html",
        {
            "d": found,
            "verdict": verdict,
            "history": history,
            "mail": mail,
            "holder_url": service.holder_url_shown(found),
            "actions": ACTIONS,
            "versions": versions if len(versions) > 1 else [],
        },
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


CORRECTABLE_SHOWN = (*SIGNED_FIELDS, "template", "email", "national_id")


def _correction_values(form: Mapping[str, object], d: Diploma) -> dict[str, str]:
    """The fields the form changes: those whose value differs from the stored one (the
    national id only when one is typed: it is never shown)."""
    current = _current(d)
    changes = {}
    for key in CORRECTABLE_SHOWN:
        value = str(form.get(key, "")).strip()
        if key == "national_id":
            if value:
                changes[key] = value
        elif value != current[key]:
            changes[key] = value
    return changes


def _current(d: Diploma) -> dict[str, str]:
    r = d.request
    return {
        "name": r.name,
        "name_en": r.name_en,
        "award": r.award,
        "award_en": r.award_en,
        "citation": r.citation,
        "field": r.field,
        "issued_on": format_solar_hijri_numeric(r.issued_on),
        "template": r.template,
        "email": r.email,
        "national_id": "",
    }


def _correct_page(
    request: Request,
    d: Diploma,
    values: Mapping[str, str],
    *,
    plan: CorrectionPlan | None = None,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    service = service_of(request)
    return page(
        request,
        "correct.html",
        {
            "d": d,
            "values": values,
            "plan": plan,
            "problems": problems or {},
            "designs": service.design_names(),
            "ruled": bool(service.required_approvals(d.co_issuers)),
        },
        status_code=status_code,
    )


@router.get("/admin/diplomas/{reference}/correct")
def correct_form(request: Request, signed: Issuer, reference: str) -> Response:
    found = _diploma(request, signed, reference)
    return _correct_page(request, found, _current(found))


@router.post("/admin/diplomas/{reference}/correct")
async def correct(
    request: Request,
    signed: Issuer,
    reference: str,
    confirmed: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """First the form's changes are checked and shown old → new; confirmed, they are
    applied (or proposed, where the two-person rule applies)."""
    found = _diploma(request, signed, reference)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in CORRECTABLE_SHOWN}
    changes = _correction_values(form, found)
    service = service_of(request)
    try:
        if confirmed != "yes":
            plan = await run_in_threadpool(service.check_correction, found.id, changes)
            return _correct_page(request, found, values, plan=plan)
        outcome = await run_in_threadpool(
            service.submit_correction, found.id, changes, actor_of(signed)
        )
    except DiplomaError as exc:
        return _correct_page(request, found, values, problems=problems_of(exc), status_code=422)
    if isinstance(outcome, Proposal):
        return redirect(request, f"/admin/proposals/{outcome.id}")
    return redirect(request, f"/admin/diplomas/{found.id}")


@router.post("/admin/diplomas/{reference}/mail")
async def resend_mail(request: Request, signed: Issuer, reference: str) -> Response:
    """Send the diploma to its holder again (a new message in the outbox)."""
    found = _diploma(request, signed, reference)
    try:
        await run_in_threadpool(acting(request, signed).resend_mail, found.id)
    except (InvalidInput, Conflict) as exc:
        raise Refused(409, str(exc)) from None
    return redirect(request, f"/admin/diplomas/{found.id}")


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
