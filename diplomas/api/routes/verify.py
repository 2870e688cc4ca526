"""Public verification as JSON: by id (what the QR code names) and by uploaded PDF."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, TypeVar, TypeVarTuple, Unpack

import anyio
from anyio.lowlevel import RunVar
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...core.errors import DocumentError
from ...core.errors import UploadTooLarge as UploadTooLarge  # raised here; app.py answers 413
from ...core.verification import Verdict
from ...service import DiplomaService
from ...verdicts import CachedVerdict
from ..answers import Answer, KeptResponse
from ..deps import AuthFirstRoute, ServiceDep, SettingsDep
from ..limits import Body, limits
from ..metrics import record_verdict
from ..schemas import VerdictOut

router = APIRouter(prefix="/api/v1/verify", tags=["verify"], route_class=AuthFirstRoute)
log = logging.getLogger("diplomas.verdicts")

T = TypeVar("T")
Args = TypeVarTuple("Args")

VERIFY_THREADS = 4
"""Threads that look diplomas up by id at once, per server process. Each lookup is short
(one indexed read and one Ed25519 check): a few threads answer as many requests a second as
forty, without fighting over the GIL or opening database connections beyond the pool's."""
_verify_limiter: RunVar[anyio.CapacityLimiter] = RunVar("diplomas_verify_limiter")


async def verdict_for_id(request: Request, diploma_id: str) -> CachedVerdict:
    """The verdict for an id: straight from the verdict cache when it holds a fresh one
    (answered on the event loop, no thread, no I/O), else looked up on a verify thread.
    Takes the request rather than a service dependency: FastAPI's dependency solving
    would cost these, the busiest routes, more than the cached answer itself."""
    service: DiplomaService = request.app.state.service
    kept = service.kept_verdict(diploma_id)
    if kept is None:
        kept = await in_verify_thread(service.verdict, diploma_id)
    record_verdict(request, kept.status)
    return kept


def _json_answer(verdict: Verdict) -> Answer:
    # Serialised here: returned as a model, FastAPI would validate it again first.
    body = VerdictOut.of(verdict).model_dump_json().encode()
    return Answer.of(Response(body, media_type="application/json"))


async def in_verify_thread(fn: Callable[[Unpack[Args]], T], *args: *Args) -> T:
    """Run a lookup off the event loop, on the few threads kept for lookups."""
    try:
        limiter = _verify_limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(VERIFY_THREADS)
        _verify_limiter.set(limiter)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


WARM_VERDICTS = 1000
"""Verdicts worked out before a server takes its first request (the newest diplomas')."""


async def warm_up(service: DiplomaService) -> None:
    """Before the first request: open the database pool, start the verify threads, and
    fill the verdict cache with the newest diplomas' verdicts and their JSON answers, so
    that the first requests after a start answer as the later ones do, instead of all
    queueing behind a few threads for the database. A database that is away only makes
    the first requests slower, as they were before (they meet it and answer 503)."""
    try:
        kept = await in_verify_thread(service.warm_verdicts, WARM_VERDICTS)
    except Exception as exc:
        log.warning("the verdict cache could not be filled at start: %s", type(exc).__name__)
        return
    for verdict in kept:
        verdict.form("json", _json_answer)


async def look_ahead_forever(current: Callable[[], DiplomaService]) -> None:
    """Keep the verdict cache's looks at the audit feed ahead of requests, on a verify
    thread every half of its check interval, for as long as the server runs (see
    `VerdictCache.look_ahead`), for whichever service `current` says answers now. While
    the database is away, requests find the look due and meet the error themselves: a
    503, as without the cache."""
    cache = current().verdicts
    if cache is None or cache.check_every <= 0:
        return
    failing = False
    while True:
        await anyio.sleep(cache.check_every / 2)
        try:
            await in_verify_thread(current().look_ahead)
        except Exception as exc:  # said once per outage, not twice a second
            if not failing:
                log.warning("the verdict cache cannot read the audit feed: %s", type(exc).__name__)
            failing = True
        else:
            if failing:
                log.info("the verdict cache reads the audit feed again")
            failing = False


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, refusing anything over the limit or not a PDF."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("the uploaded file is not a PDF")
    return data


@router.get("/{diploma_id}", response_model=VerdictOut)
@limits(rate_limited=True)
async def verify_id(diploma_id: str, request: Request) -> Response:
    """The verdict for a diploma id: valid, revoked, unknown or invalid, with reasons."""
    kept = await verdict_for_id(request, diploma_id)
    return KeptResponse(kept.form("json", _json_answer))


@router.post("")
@limits(body=Body.UPLOAD, rate_limited=True)
async def verify_upload(
    request: Request,
    file: Annotated[UploadFile, File(description="The diploma PDF to check.")],
    service: ServiceDep,
    settings: SettingsDep,
) -> VerdictOut:
    """Check an uploaded PDF: its signatures, its embedded record, and the issuer's records."""
    pdf = await read_upload(file, settings.max_upload_bytes)
    # CPU-bound, and pyHanko runs its own event loop: keep it off the server's loop.
    verdict = await run_in_threadpool(service.verify_pdf, pdf)
    record_verdict(request, verdict.status.value)
    return VerdictOut.of(verdict)
