"""Public verification as JSON: by id (what the QR code names) and by uploaded PDF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import anyio
from anyio.lowlevel import RunVar
from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...core.errors import DocumentError
from ...service import DiplomaService
from ..deps import ServiceDep, SettingsDep
from ..schemas import VerdictOut

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])

T = TypeVar("T")

VERIFY_THREADS = 4
"""Threads that look diplomas up by id at once, per server process. Each lookup is short
(one indexed read and one Ed25519 check): a few threads answer as many requests a second as
forty, without fighting over the GIL or opening database connections beyond the pool's."""
_verify_limiter: RunVar[anyio.CapacityLimiter] = RunVar("diplomas_verify_limiter")


async def in_verify_thread(fn: Callable[[str], T], diploma_id: str) -> T:
    """Run a lookup by id off the event loop, on the few threads kept for it."""
    try:
        limiter = _verify_limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(VERIFY_THREADS)
        _verify_limiter.set(limiter)
    return await anyio.to_thread.run_sync(fn, diploma_id, limiter=limiter)


async def reading_service(request: Request) -> DiplomaService:
    """The service, for routes that only read (no actor to record). A coroutine, so
    FastAPI calls it on the loop instead of sending it to a thread of its own."""
    service: DiplomaService = request.app.state.service
    return service


ReadingService = Annotated[DiplomaService, Depends(reading_service)]


async def read_upload(upload: UploadFile, limit: int) -> bytes:
    """The uploaded bytes, refusing anything over the limit or not a PDF."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("the uploaded file is not a PDF")
    return data


class UploadTooLarge(DocumentError):
    pass


@router.get("/{diploma_id}", response_model=VerdictOut)
async def verify_id(diploma_id: str, service: ReadingService) -> Response:
    """The verdict for a diploma id: valid, revoked, unknown or invalid, with reasons."""
    verdict = await in_verify_thread(service.verify_id, diploma_id)
    # Serialised once, here: returned as a model, FastAPI would validate it again first.
    body = VerdictOut.of(verdict).model_dump_json().encode()
    return Response(body, media_type="application/json")


@router.post("")
async def verify_upload(
    file: Annotated[UploadFile, File(description="The diploma PDF to check.")],
    service: ServiceDep,
    settings: SettingsDep,
) -> VerdictOut:
    """Check an uploaded PDF: its signatures, its embedded record, and the issuer's records."""
    pdf = await read_upload(file, settings.max_upload_bytes)
    # CPU-bound, and pyHanko runs its own event loop: keep it off the server's loop.
    return VerdictOut.of(await run_in_threadpool(service.verify_pdf, pdf))
