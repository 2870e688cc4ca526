"""Bulk issuance over HTTP: upload a roster, follow its progress, fetch the zip."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from ...batches import BatchOptions
from ...core.batch import Batch, BatchStatus
from ...core.errors import Conflict
from ...core.proposals import Proposal
from ...shards import Shards
from ..deps import AuthFirstRoute, BatchesDep, IssueToken, ReadToken, ServiceDep
from ..limits import Body, limits
from ..schemas import MailQueuedOut, ProposalOut

router = APIRouter(prefix="/api/v1/batches", tags=["batches"], route_class=AuthFirstRoute)


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
    batches: BatchesDep,
    token: IssueToken,
    file: Annotated[UploadFile, File(description="The roster: CSV or XLSX.")],
    template: Annotated[str, Form()] = "classic",
    skip_invalid: Annotated[bool, Form()] = False,
) -> BatchOut | ProposalOut:
    """Accept a roster and issue it in the background; answers the batch id at once.

    Where the two-person rule applies, the roster is validated now (422 lists its
    problems) and proposed: the answer is the proposal, and the batch waits, `proposed`,
    until every required approval is given."""
    options = BatchOptions(out_dir=Path("."), template=template, skip_invalid=skip_invalid)
    received = await run_in_threadpool(
        batches.receive,
        file.filename or "",
        file.file,
        options,
        service.actor_for_token(token),
    )
    if isinstance(received, Proposal):
        return ProposalOut.of(received, service.institution.public_url)
    await request.app.state.tasks.start(received.id)
    return BatchOut.of(received, service.institution.public_url)


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
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def get_archive(
    batch_id: str, service: ServiceDep, batches: BatchesDep, _: ReadToken
) -> StreamingResponse:
    """The zip of every PDF with the manifest, once the batch is done: streamed from the
    database, so any replica hands out any batch's archive."""
    batch = service.batch(batch_id)
    if batch.status is not BatchStatus.DONE:
        raise Conflict(f"the batch is {batch.status.value}; the archive exists once it is done")
    return StreamingResponse(
        iterate_in_threadpool(Shards(batches).archive(batch)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="diplomas-{batch.id}.zip"'},
    )
