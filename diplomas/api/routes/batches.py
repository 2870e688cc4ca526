"""Bulk issuance over HTTP: upload a roster, follow its progress, fetch the zip."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ...batches import batch_folder
from ...core.batch import Batch, BatchStatus
from ...core.errors import Conflict, DocumentError, InvalidInput
from ..deps import AuthFirstRoute, IssueToken, ReadToken, ServiceDep, SettingsDep
from ..limits import Body, limits
from ..schemas import MailQueuedOut, ProposalOut
from .verify import UploadTooLarge

router = APIRouter(prefix="/api/v1/batches", tags=["batches"], route_class=AuthFirstRoute)
ROSTER_TYPES = (".csv", ".tsv", ".txt", ".xlsx")


class ProblemOut(BaseModel):
    row: int
    column: str
    field: str
    value: str
    message: str


class BatchOut(BaseModel):
    id: str
    status: str
    source: str
    template: str
    total_rows: int
    valid_rows: int
    issued: int
    skipped: int
    refused: int
    done_rows: int
    problems: list[ProblemOut]
    message: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    status_url: str
    archive_url: str | None

    @classmethod
    def of(cls, b: Batch, base: str) -> BatchOut:
        url = f"{base}/api/v1/batches/{b.id}"
        return cls(
            id=b.id,
            status=b.status.value,
            source=b.source,
            template=b.template,
            total_rows=b.total_rows,
            valid_rows=b.valid_rows,
            issued=b.issued,
            skipped=b.skipped,
            refused=b.refused,
            done_rows=b.done_rows,
            problems=[
                ProblemOut(
                    row=p.row, column=p.column, field=p.field, value=p.value, message=p.message
                )
                for p in b.problems
            ],
            message=b.message,
            created_at=b.created_at,
            updated_at=b.updated_at,
            finished_at=b.finished_at,
            status_url=url,
            archive_url=f"{url}/archive" if b.status is BatchStatus.DONE else None,
        )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        202: {
            "description": "the batch, queued; or, where the two-person rule applies, its "
            "proposal (the roster validated now, run once approved)",
        }
    },
)
@limits(body=Body.ROSTER)
async def upload_roster(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    token: IssueToken,
    file: Annotated[UploadFile, File(description="The roster: CSV or XLSX.")],
    template: Annotated[str, Form()] = "classic",
    skip_invalid: Annotated[bool, Form()] = False,
) -> BatchOut | ProposalOut:
    """Accept a roster and issue it in the background; answers the batch id at once.

    Where the two-person rule applies, the roster is validated now (422 lists its
    problems) and proposed: the answer is the proposal, and the batch waits, `proposed`,
    until every required approval is given."""
    from ...batches import BatchOptions

    service.require_issuer()
    name = os.path.basename(file.filename or "roster.csv")
    suffix = Path(name).suffix.lower()
    if suffix not in ROSTER_TYPES:
        raise DocumentError(f"a roster must be one of {', '.join(ROSTER_TYPES)}, not {name!r}")
    runner = request.app.state.batch_runner
    options = BatchOptions(out_dir=Path("."), template=template, skip_invalid=skip_invalid)
    proposing = service.rule_anywhere
    batch = runner.new_batch(
        name, options, BatchStatus.PROPOSED if proposing else BatchStatus.QUEUED
    )
    folder = batch_folder(settings.home, batch.id)
    folder.mkdir(parents=True)
    roster = folder / f"roster{suffix}"
    with open(roster, "wb") as fh:
        copied = 0
        while chunk := await file.read(1 << 20):
            copied += len(chunk)
            if copied > settings.max_roster_bytes:
                fh.close()
                shutil.rmtree(folder)
                raise UploadTooLarge(
                    f"the roster is larger than {settings.max_roster_bytes // (1 << 20)} MB"
                )
            fh.write(chunk)
    if proposing:
        try:
            proposal = await run_in_threadpool(
                runner.propose, roster, options, service.actor_for_token(token), batch
            )
        except InvalidInput:
            runner.store.touch(
                batch,
                datetime.now(UTC),
                status=BatchStatus.REFUSED,
                message="the roster has problems; nothing was proposed",
                finished_at=datetime.now(UTC),
            )
            shutil.rmtree(folder)
            raise
        if proposal is not None:
            return ProposalOut.of(proposal, service.institution.public_url)
        batch = runner.store.touch(batch, datetime.now(UTC), status=BatchStatus.QUEUED)
    request.app.state.batch_queue.submit(batch)
    return BatchOut.of(batch, service.institution.public_url)


@router.get("/{batch_id}")
def get_batch(batch_id: str, service: ServiceDep, _: ReadToken) -> BatchOut:
    """Progress and per-row problems of a batch."""
    return BatchOut.of(service.batch(batch_id), service.institution.public_url)


@router.post("/{batch_id}/mail", status_code=status.HTTP_202_ACCEPTED)
def resend_batch_mail(batch_id: str, service: ServiceDep, _: IssueToken) -> MailQueuedOut:
    """Send every holder of the batch her diploma again (those with an email, whose
    diploma is not revoked): new messages are queued for the mail sender."""
    return MailQueuedOut(queued=service.resend_batch_mail(batch_id))


@router.get(
    "/{batch_id}/archive",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def get_archive(
    batch_id: str, service: ServiceDep, settings: SettingsDep, _: ReadToken
) -> FileResponse:
    """The zip of every PDF with the manifest, once the batch is done."""
    batch = service.batch(batch_id)
    archive = batch_folder(settings.home, batch.id) / "out" / "diplomas.zip"
    if batch.status is not BatchStatus.DONE or not archive.exists():
        raise Conflict(f"the batch is {batch.status.value}; the archive exists once it is done")
    return FileResponse(archive, media_type="application/zip", filename=f"diplomas-{batch.id}.zip")
