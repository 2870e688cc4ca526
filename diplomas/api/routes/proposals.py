"""Proposals under the two-person rule: list and read them (`read`), approve or reject
them (`approve`, a person's token: never the proposer's own, nor one of an institution
whose approval the proposal does not need)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request

from ...core.proposals import Proposal, ProposalKind, ProposalState
from ..deps import ApproveToken, AuthFirstRoute, ReadToken, ServiceDep
from ..schemas import DecisionIn, ProposalOut

router = APIRouter(prefix="/api/v1/proposals", tags=["proposals"], route_class=AuthFirstRoute)


@router.get("")
def list_proposals(
    service: ServiceDep,
    _: ReadToken,
    state: Annotated[
        str | None, Query(max_length=20, description="pending, approved, issued or rejected.")
    ] = None,
) -> list[ProposalOut]:
    """Proposals, newest first."""
    base = service.institution.public_url
    return [ProposalOut.of(p, base) for p in service.proposals(state)]


@router.get("/{proposal_id}")
def get_proposal(proposal_id: str, service: ServiceDep, _: ReadToken) -> ProposalOut:
    """One proposal: what it will issue (or correct: each field's old and new value),
    and the approvals given and still needed."""
    return ProposalOut.of(service.proposal(proposal_id), service.institution.public_url)


@router.post("/{proposal_id}/approve")
def approve_proposal(
    proposal_id: str, body: DecisionIn, request: Request, service: ServiceDep, token: ApproveToken
) -> ProposalOut:
    """Approve for the token owner's institution. The approval that completes the
    proposal signs and issues its diploma (state `issued`, with `diploma_id`), applies its
    correction (state `issued`: the diploma's new version is signed, same id and serial),
    or queues its batch (state `approved`; follow it at `links.batch`). 403 for the
    proposer's own tokens and for another institution's approver; 409 when it is not
    pending, or when the diploma to correct was corrected or revoked since."""
    proposal = service.approve(proposal_id, service.actor_for_token(token), body.comment)
    start_batch(request, service, proposal)
    return ProposalOut.of(proposal, service.institution.public_url)


@router.post("/{proposal_id}/reject")
def reject_proposal(
    proposal_id: str, body: DecisionIn, service: ServiceDep, token: ApproveToken
) -> ProposalOut:
    """Reject, saying why (`comment` required); nothing of it is ever issued."""
    proposal = service.reject(proposal_id, service.actor_for_token(token), body.comment)
    return ProposalOut.of(proposal, service.institution.public_url)


def start_batch(request: Request, service: ServiceDep, proposal: Proposal) -> None:
    """Hand an approved batch to the server's queue."""
    if proposal.kind is ProposalKind.BATCH and proposal.state is ProposalState.APPROVED:
        # A sync route runs on anyio's threads: the deferral runs on the event loop.
        anyio.from_thread.run(request.app.state.tasks.start, proposal.batch_id)
