"""Batches: the list of past ones, one batch's live progress, its archive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core.batch import Batch, BatchStatus
from ...core.errors import NotFound
from ...core.users import Permission
from ..web import Need, Refused, acting, page, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ))]
Issuer = Annotated[SignedIn, Depends(Need(Permission.ISSUE))]


def progress(batch: Batch, now: datetime) -> dict[str, float | int | None]:
    """How far, how fast, and how long to go (None until there is a rate to tell). The
    rows are counted as workers issue them (the batch's record is not touched for each),
    so the time is taken until `now`, or until the batch finished."""
    seconds = ((batch.finished_at or now) - batch.created_at).total_seconds()
    rate = batch.issued / seconds if seconds > 0 and batch.issued else 0.0
    left = batch.valid_rows - batch.done_rows if batch.valid_rows else None
    return {
        "percent": int(100 * batch.done_rows / batch.valid_rows) if batch.valid_rows else 0,
        "rate": round(rate, 1),
        "left_seconds": int(left / rate) if rate and left is not None else None,
    }


def _batch(request: Request, batch_id: str) -> Batch:
    try:
        return service_of(request).batch(batch_id)
    except NotFound:
        raise Refused(404, "Not found") from None


@router.get("/admin/batches")
def batches(request: Request, signed: Reader, offset: int = 0) -> Response:
    found = service_of(request).recent_batches(51, max(0, offset))
    return page(
        request,
        "batches.html",
        {"batches": found[:50], "more": len(found) > 50, "offset": max(0, offset)},
    )


@router.get("/admin/batches/{batch_id}")
def batch(request: Request, signed: Reader, batch_id: str) -> Response:
    found = _batch(request, batch_id)
    now = service_of(request).clock.now()
    context = {"b": found, "p": progress(found, now), "finished": found.status.finished}
    if request.headers.get("hx-request") == "true":
        return page(request, "batch_progress.html", context)
    return page(request, "batch.html", context)


@router.get("/admin/batches/{batch_id}/archive")
def archive(request: Request, signed: Reader, batch_id: str) -> Response:
    from ...shards import Shards

    found = _batch(request, batch_id)
    if found.status is not BatchStatus.DONE:
        raise Refused(409, "Not found")
    batches = request.app.state.batches_of(service_of(request))
    return StreamingResponse(
        iterate_in_threadpool(Shards(batches).archive(found)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="diplomas-{found.id}.zip"'},
    )


@router.get("/admin/batches/{batch_id}/mail")
def confirm_mail(request: Request, signed: Issuer, batch_id: str) -> Response:
    """Sending to a whole batch again asks first, on a page of its own."""
    return page(request, "batch_mail.html", {"b": _batch(request, batch_id)})


@router.post("/admin/batches/{batch_id}/mail")
def resend_mail(request: Request, signed: Issuer, batch_id: str) -> Response:
    found = _batch(request, batch_id)
    acting(request, signed).resend_batch_mail(found.id)
    return redirect(request, f"/admin/batches/{found.id}?mail=queued")
