"""The two-person rule in the console: what waits for approval, exactly what each
proposal will issue, and approving or rejecting it (the service decides who may)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from ...accounts import SignedIn
from ...api.deps import AuthFirstRoute
from ...core import proposals as rule
from ...core.errors import DiplomaError, Forbidden, InvalidInput, NotFound
from ...core.proposals import Proposal, ProposalKind, ProposalState
from ...core.users import Permission
from ..web import Need, Refused, actor_of, page, problems_of, redirect, service_of

router = APIRouter(include_in_schema=False, route_class=AuthFirstRoute)
Reader = Annotated[SignedIn, Depends(Need(Permission.READ, any_institution=True))]
Approver = Annotated[SignedIn, Depends(Need(Permission.APPROVE, any_institution=True))]
SHOWN_ROWS = 200


def visible(signed: SignedIn, request: Request, proposal: Proposal) -> bool:
    """The issuer's users see every proposal; a co-issuer's, those needing its approval."""
    own = service_of(request).institution.slug
    return signed.user.institution == own or signed.user.institution in proposal.required


def _proposal(request: Request, signed: SignedIn, proposal_id: str) -> Proposal:
    try:
        found = service_of(request).proposal(proposal_id)
    except NotFound:
        raise Refused(404, "Not found") from None
    if not visible(signed, request, found):
        raise Refused(404, "Not found")
    return found


@router.get("/admin/proposals")
def proposals(request: Request, signed: Reader, state: str = "pending") -> Response:
    service = service_of(request)
    wanted = state if state in {s.value for s in ProposalState} else None
    found = [p for p in service.proposals(wanted) if visible(signed, request, p)]
    return page(
        request,
        "proposals.html",
        {"proposals": found, "state": wanted or "", "states": [s.value for s in ProposalState]},
    )


def _show(
    request: Request,
    signed: SignedIn,
    proposal: Proposal,
    problems: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    refusal = rule.decision_refusal(proposal, actor_of(signed))
    return page(
        request,
        "proposal.html",
        {
            "p": proposal,
            "rows": proposal.batch.requests[:SHOWN_ROWS] if proposal.batch else (),
            "may_decide": proposal.state is ProposalState.PENDING and refusal is None,
            "refusal": refusal if proposal.state is ProposalState.PENDING else None,
            "problems": problems or {},
            "Kind": ProposalKind,
        },
        status_code=status_code,
    )


@router.get("/admin/proposals/{proposal_id}")
def proposal(request: Request, signed: Reader, proposal_id: str) -> Response:
    return _show(request, signed, _proposal(request, signed, proposal_id))


@router.post("/admin/proposals/{proposal_id}/{decision}")
async def decide(
    request: Request,
    signed: Approver,
    proposal_id: str,
    decision: str,
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if decision not in ("approve", "reject"):
        raise Refused(404, "Not found")
    found = _proposal(request, signed, proposal_id)
    service = service_of(request)
    actor = actor_of(signed)
    try:
        if decision == "approve":
            decided = await run_in_threadpool(service.approve, found.id, actor, comment)
        else:
            decided = await run_in_threadpool(service.reject, found.id, actor, comment)
    except DiplomaError as exc:
        current = service.proposal(found.id)
        code = 403 if isinstance(exc, Forbidden) else 422 if isinstance(exc, InvalidInput) else 409
        return _show(request, signed, current, problems_of(exc), status_code=code)
    if decided.kind is ProposalKind.BATCH and decided.state is ProposalState.APPROVED:
        await request.app.state.tasks.start(decided.batch_id)
        return redirect(request, f"/admin/batches/{decided.batch_id}")
    if decided.diploma_id:
        return redirect(request, f"/admin/diplomas/{decided.diploma_id}")
    return redirect(request, f"/admin/proposals/{decided.id}")
