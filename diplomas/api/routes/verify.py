"""Public verification as JSON: by id (what the QR code names) and by uploaded PDF."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.concurrency import run_in_threadpool

from ...core.errors import DocumentError
from ..deps import ServiceDep, SettingsDep
from ..schemas import VerdictOut

router = APIRouter(prefix="/api/v1/verify", tags=["verify"])


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


@router.get("/{diploma_id}")
def verify_id(diploma_id: str, service: ServiceDep) -> VerdictOut:
    """The verdict for a diploma id: valid, revoked, unknown or invalid, with reasons."""
    return VerdictOut.of(service.verify_id(diploma_id))


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
