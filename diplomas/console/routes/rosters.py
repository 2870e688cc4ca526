"""A roster, step by step: upload, match its columns to fields, see every problem and
every person named twice, look at sample pages, then issue it as a batch."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...api.limits import Body, limits
from ...core.errors import DiplomaError, NotFound
from ...core.users import Permission
from ...render.preview import first_page_png
from ...roster import PREFERRED_HEADERS, ROSTER_FIELDS, write_problems_csv
from ...rosters import IGNORE, Draft, RosterCheck, RosterDrafts
from ..web import Need, Refused, actor_of, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]


def drafts(request: Request) -> RosterDrafts:
    return RosterDrafts(service_of(request), request.app.state.settings.home)


def _draft(request: Request, signed: SignedIn, draft_id: str) -> Draft:
    try:
        return drafts(request).get(signed.user, draft_id)
    except NotFound:
        raise Refused(404, "Not found") from None


@router.get("/admin/rosters/new")
def upload_form(request: Request, signed: Issuer) -> Response:
    return page(
        request,
        "roster_upload.html",
        {"designs": service_of(request).design_names(), "problem": ""},
    )


@router.post("/admin/rosters")
@limits(body=Body.ROSTER)
async def upload(
    request: Request,
    signed: Issuer,
    file: Annotated[UploadFile, File()],
    template: Annotated[str, Form(max_length=64)] = "classic",
) -> Response:
    settings = request.app.state.settings

    def chunks() -> Iterator[bytes]:
        while chunk := file.file.read(1 << 20):
            yield chunk

    try:
        draft = await run_in_threadpool(
            lambda: drafts(request).stage(
                signed.user,
                file.filename or "roster.csv",
                chunks(),
                template=template,
                max_bytes=settings.max_roster_bytes,
            )
        )
    except DiplomaError as exc:
        return page(
            request,
            "roster_upload.html",
            {"designs": service_of(request).design_names(), "problem": str(exc)},
            status_code=422,
        )
    return redirect(request, f"/admin/rosters/{draft.id}/columns")


def _columns_page(
    request: Request, draft: Draft, problems: dict[str, str], status_code: int = 200
) -> Response:
    columns, file_problems = drafts(request).columns(draft)
    chosen = draft.mapping or tuple(c.guess for c in columns)
    return page(
        request,
        "roster_columns.html",
        {
            "draft": draft,
            "columns": list(zip(columns, chosen, strict=False)),
            "fields": [(f, PREFERRED_HEADERS[f]) for f in ROSTER_FIELDS],
            "ignore": IGNORE,
            "file_problems": file_problems,
            "problems": problems,
        },
        status_code=status_code,
    )


@router.get("/admin/rosters/{draft_id}/columns")
async def columns(request: Request, signed: Issuer, draft_id: str) -> Response:
    draft = _draft(request, signed, draft_id)
    return await run_in_threadpool(_columns_page, request, draft, {})


@router.post("/admin/rosters/{draft_id}/columns")
async def choose_columns(request: Request, signed: Issuer, draft_id: str) -> Response:
    draft = _draft(request, signed, draft_id)
    form = await request.form()
    mapping = {
        int(key[7:]): str(value)
        for key, value in form.items()
        if key.startswith("column-") and key[7:].isdigit()
    }
    try:
        await run_in_threadpool(drafts(request).map_columns, draft, mapping)
    except DiplomaError as exc:
        return await run_in_threadpool(_columns_page, request, draft, problems_of(exc), 422)
    return redirect(request, f"/admin/rosters/{draft.id}/check")


def _sample_images(request: Request, check: RosterCheck) -> list[str]:
    service = service_of(request)
    images = []
    for sample in check.samples:
        raw = {
            k: v for k, v in sample.__dict__.items() if k != "co_issuers" and v not in ("", None)
        }
        raw["issued_on"] = sample.issued_on.isoformat()
        if sample.co_issuers:
            raw["co_issuers"] = list(sample.co_issuers)
        png = first_page_png(service.page_preview(raw), 700)
        images.append("data:image/png;base64," + base64.b64encode(png).decode())
    return images


@router.get("/admin/rosters/{draft_id}/check")
async def check(request: Request, signed: Issuer, draft_id: str) -> Response:
    draft = _draft(request, signed, draft_id)
    if draft.mapping is None:
        return redirect(request, f"/admin/rosters/{draft.id}/columns")
    result = await run_in_threadpool(drafts(request).check, draft)
    images = await run_in_threadpool(_sample_images, request, result)
    return page(
        request,
        "roster_check.html",
        {"draft": draft, "check": result, "images": images, "problems": {}},
    )


@router.get("/admin/rosters/{draft_id}/problems.csv")
async def problems_csv(request: Request, signed: Issuer, draft_id: str) -> Response:
    draft = _draft(request, signed, draft_id)
    result = await run_in_threadpool(drafts(request).check, draft)
    out = draft.folder / "problems.csv"
    await run_in_threadpool(write_problems_csv, out, result.problems)
    return Response(
        out.read_bytes(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="roster-problems.csv"'},
    )


@router.post("/admin/rosters/{draft_id}/issue")
async def issue(
    request: Request,
    signed: Issuer,
    draft_id: str,
    skip_invalid: Annotated[bool, Form()] = False,
) -> Response:
    """Issue the checked roster as a batch (each row once, resumable, in the background)."""
    from ...batches import BatchOptions, BatchService
    from ...core.proposals import Proposal

    draft = _draft(request, signed, draft_id)
    if draft.mapping is None:
        return redirect(request, f"/admin/rosters/{draft.id}/columns")
    batches: BatchService = request.app.state.batches_of(service_of(request))

    def start() -> str:
        """The batch proposed where the two-person rule applies (it waits, `proposed`,
        for its approvals), else queued at once; the proposal's or the batch's page."""
        options = BatchOptions(
            out_dir=Path("."), template=draft.template, skip_invalid=skip_invalid
        )
        submitted = batches.submit_file(draft.roster_file, draft.source, options, actor_of(signed))
        drafts(request).discard(draft)
        if isinstance(submitted, Proposal):
            return f"/admin/proposals/{submitted.id}"
        return f"/admin/batches/{submitted.id}"

    try:
        target = await run_in_threadpool(start)
        if target.startswith("/admin/batches/"):
            await request.app.state.tasks.start(target.rsplit("/", 1)[1])
    except DiplomaError as exc:
        result = await run_in_threadpool(drafts(request).check, draft)
        return page(
            request,
            "roster_check.html",
            {"draft": draft, "check": result, "images": [], "problems": problems_of(exc)},
            status_code=422,
        )
    return redirect(request, target)
