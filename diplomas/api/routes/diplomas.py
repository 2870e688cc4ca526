"""Admin routes: issue, read, list, download and revoke diplomas (scoped tokens)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from ...core.audit import AuditAction
from ...core.errors import Conflict, ExternalIdTaken
from ...core.model import Diploma, DiplomaStatus
from ...core.ports import TokenRecord
from ...core.proposals import Proposal
from ...core.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_TEXT,
    DiplomaQuery,
    SortOrder,
)
from ...core.statuslist import MEDIA_TYPE as CREDENTIAL_MEDIA_TYPE
from ...service import DiplomaService
from ..deps import AuthFirstRoute, IssueToken, ReadToken, RevokeToken, ServiceDep
from ..limits import limits
from ..schemas import (
    CorrectionIn,
    CorrectionOut,
    DiplomaIn,
    DiplomaOut,
    DiplomaPage,
    HolderLinkOut,
    IssueOut,
    MailOut,
    ProposalOut,
    RevokeIn,
    SuspendIn,
    VersionOut,
)

router = APIRouter(prefix="/api/v1/diplomas", tags=["diplomas"], route_class=AuthFirstRoute)


def pdf_url(diploma: Diploma) -> str:
    return f"{diploma.institution.public_url}/api/v1/diplomas/{diploma.id}/pdf"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": IssueOut,
            "description": "already issued for this external_id: to the token that issued it, "
            "or one with `read`",
        },
        202: {
            "model": ProposalOut,
            "description": "proposed: the two-person rule applies, so nothing is signed "
            "until an approver other than the proposer approves it",
        },
    },
)
def issue_diploma(
    body: DiplomaIn, service: ServiceDep, token: IssueToken, response: Response
) -> IssueOut | ProposalOut:
    """Issue one diploma: signed record, signed PDF, QR code to the verify page.

    Where the two-person rule applies (the issuer's or a co-issuer's setting), the
    diploma is proposed instead (202, the proposal): it is signed and issued when an
    approver of each institution concerned, other than the proposer, approves it.

    Sending an `external_id` that was issued before issues nothing. The diploma is
    answered (200) to the token that issued it (a retry) and to a token with the `read`
    scope; any other token gets 409 without it, so that an `issue`-only token cannot map
    student numbers to diplomas.

    Sending it again with other details is 409: the diploma is corrected on purpose
    (`POST /api/v1/diplomas/{id}/corrections`), never by a re-send."""
    try:
        outcome = service.submit_issue(
            body.model_dump(exclude_none=True), service.actor_for_token(token)
        )
    except ExternalIdTaken as exc:
        if "read" not in token.scopes and not issued_by(service, exc.diploma_id, token):
            raise Conflict(
                "a diploma with this external_id was issued already, not with this token, "
                "with other details; ask with a token that has the read scope"
            ) from None
        raise Conflict(
            f"{exc} (the diploma is {exc.serial}: "
            f"POST /api/v1/diplomas/{exc.diploma_id}/corrections)"
        ) from None
    if isinstance(outcome, Proposal):
        response.status_code = status.HTTP_202_ACCEPTED
        return ProposalOut.of(outcome, service.institution.public_url)
    if not outcome.created:
        if "read" not in token.scopes and not issued_by(service, outcome.diploma.id, token):
            raise Conflict(
                "a diploma with this external_id was issued already, not with this token; "
                "ask with a token that has the read scope to be answered which one"
            )
        response.status_code = status.HTTP_200_OK
    d = outcome.diploma
    return IssueOut(
        id=d.id,
        serial=d.serial,
        verify_url=d.verify_url,
        pdf_url=pdf_url(d),
        status=d.status.value,
        created=outcome.created,
        holder_url=service.holder_url_shown(d),
    )


def issued_by(service: DiplomaService, diploma_id: str, token: TokenRecord) -> bool:
    """Whether the audit log names `token` as the issuer of the diploma."""
    if service.audit is None:
        return False
    issued = service.audit.entries(1, action=AuditAction.DIPLOMA_ISSUED, subject=diploma_id)
    return bool(issued) and issued[0].actor == token.actor


DateParam = Query(
    max_length=20,
    description="A day as 1405/09/05 (Solar Hijri) or 2026-11-26, in any digits; inclusive.",
)


@router.get("")
def list_diplomas(
    service: ServiceDep,
    _: ReadToken,
    q: Annotated[
        str,
        Query(
            max_length=MAX_TEXT,
            description="Part of a name (Persian or English), serial, external id or email, "
            "compared without spaces, ZWNJ, punctuation, case, or the difference between "
            "Arabic and Persian letters and digits; or a whole national id.",
        ),
    ] = "",
    status: Annotated[DiplomaStatus | None, Query(description="Only diplomas in it.")] = None,
    issued_from: Annotated[str | None, DateParam] = None,
    issued_to: Annotated[str | None, DateParam] = None,
    batch_id: Annotated[
        str | None, Query(max_length=64, description="Only diplomas of this bulk issuance.")
    ] = None,
    template: Annotated[
        str | None, Query(max_length=64, description="Only diplomas of this design.")
    ] = None,
    co_issuer: Annotated[
        str | None,
        Query(max_length=64, description="Only diplomas co-issued by this institution (slug)."),
    ] = None,
    sort: Annotated[
        SortOrder,
        Query(
            description="newest first (by the date on the diploma, then when issued), oldest "
            "first, by name or by serial."
        ),
    ] = SortOrder.NEWEST,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DiplomaPage:
    """Search issued diplomas, a page at a time. `total` counts the matches up to 1,000;
    past that `total_is_exact` is false and `total` is 1,000."""
    found = service.search(
        DiplomaQuery.parse(
            text=q,
            status=None if status is None else status.value,
            issued_from=issued_from,
            issued_to=issued_to,
            batch_id=batch_id,
            template=template,
            co_issuer=co_issuer,
            sort=sort.value,
            offset=offset,
            limit=limit,
        )
    )
    mail = service.mail_states([d.id for d in found.items])
    return DiplomaPage(
        items=[
            DiplomaOut.of(d, pdf_url(d), service.holder_url_shown(d), mail.get(d.id))
            for d in found.items
        ],
        total=found.total,
        total_is_exact=found.total_is_exact,
        offset=offset,
        limit=limit,
    )


@router.get("/{diploma_id}")
def get_diploma(diploma_id: str, service: ServiceDep, _: ReadToken) -> DiplomaOut:
    d = service.get(diploma_id)
    return DiplomaOut.of(d, pdf_url(d), service.holder_url_shown(d), service.mail_state(d.id))


@router.post("/{diploma_id}/mail", status_code=status.HTTP_202_ACCEPTED)
def resend_mail(diploma_id: str, service: ServiceDep, _: IssueToken) -> MailOut:
    """Send the diploma to its holder again: a new message is queued (sent by the mail
    sender); 422 without an email, 409 when the diploma is revoked."""
    return MailOut.of(service.resend_mail(service.get(diploma_id).id))


@router.get(
    "/{diploma_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_diploma_pdf(diploma_id: str, service: ServiceDep, _: ReadToken) -> Response:
    d = service.get(diploma_id)
    return Response(
        service.pdf(d.id),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{d.serial}.pdf"'},
    )


@router.post("/{diploma_id}/holder-link")
def renew_holder_link(diploma_id: str, service: ServiceDep, _: IssueToken) -> HolderLinkOut:
    """End every copy of the holder's private link given so far and answer the new one
    (the issuing institution's tokens only)."""
    return HolderLinkOut(holder_url=service.renew_holder_link(diploma_id))


@router.post("/{diploma_id}/revoke")
def revoke_diploma(
    diploma_id: str, body: RevokeIn, service: ServiceDep, _: RevokeToken
) -> DiplomaOut:
    d = service.revoke(diploma_id, body.reason, note=body.note)
    return DiplomaOut.of(d, pdf_url(d), service.holder_url_shown(d))


@router.post("/{diploma_id}/suspend")
def suspend_diploma(
    diploma_id: str, body: SuspendIn, service: ServiceDep, _: RevokeToken
) -> DiplomaOut:
    """Suspend until unsuspended; 409 if it is revoked (final) or suspended already."""
    d = service.suspend(diploma_id, body.reason, note=body.note)
    return DiplomaOut.of(d, pdf_url(d), service.holder_url_shown(d))


@router.post("/{diploma_id}/unsuspend")
def unsuspend_diploma(diploma_id: str, service: ServiceDep, _: RevokeToken) -> DiplomaOut:
    """Lift a suspension; 409 if it is revoked or not suspended."""
    d = service.unsuspend(diploma_id)
    return DiplomaOut.of(d, pdf_url(d), service.holder_url_shown(d))


@router.post(
    "/{diploma_id}/corrections",
    responses={
        202: {
            "model": ProposalOut,
            "description": "proposed: the two-person rule applies, so nothing is signed "
            "or changed until an approver other than the proposer approves it",
        },
        404: {"description": "no such diploma"},
        409: {"description": "revoked, or changed while the correction was checked"},
        422: {"description": "a refused value, a field that cannot change, or no change"},
    },
)
def correct_diploma(
    diploma_id: str,
    body: CorrectionIn,
    service: ServiceDep,
    token: IssueToken,
    response: Response,
) -> CorrectionOut | ProposalOut:
    """Correct a diploma: a new version under the same id, serial and QR link, signed
    again and printed again; the replaced version verifies as superseded from then on.
    Only the fields sent change.

    Where the two-person rule applies (the issuer's or a co-issuer's setting), the
    correction is proposed instead (202, the proposal, with each field's old and new
    value): it is signed when an approver of each institution concerned, other than the
    proposer, approves it (`POST /api/v1/proposals/{id}/approve`)."""
    service.get(diploma_id)  # ids only here, as on every route: 404 for a serial
    outcome = service.submit_correction(
        diploma_id, body.model_dump(exclude_none=True), service.actor_for_token(token)
    )
    if isinstance(outcome, Proposal):
        response.status_code = status.HTTP_202_ACCEPTED
        return ProposalOut.of(
            outcome, service.institution.public_url, stored_values="read" in token.scopes
        )
    d = outcome.diploma
    return CorrectionOut(
        id=d.id,
        serial=d.serial,
        version=outcome.version,
        fields=list(outcome.plan.fields),
        status=d.status.value,
        verify_url=d.verify_url,
        pdf_url=pdf_url(d),
    )


@router.get("/{diploma_id}/versions")
def list_versions(diploma_id: str, service: ServiceDep, _: ReadToken) -> list[VersionOut]:
    """Every version of the diploma, the issued one first, the current one last."""
    return [
        VersionOut(
            version=v.version,
            issued_at=v.issued_at,
            superseded_at=v.superseded_at,
            record_sha256=v.record_sha256,
            pdf_sha256=v.pdf_sha256,
        )
        for v in service.versions(diploma_id)
    ]


@router.get(
    "/{diploma_id}/credential",
    response_class=Response,
    responses={200: {"content": {CREDENTIAL_MEDIA_TYPE: {}}}, 404: {}},
)
@limits(rate_limited=True)
def get_credential(diploma_id: str, service: ServiceDep) -> Response:
    """Public: the signed Open Badges credential, exactly as stored and embedded in the PDF.

    It holds only what the printed page shows (no email, national id or internal ids).
    """
    d = service.get(diploma_id)
    return Response(
        d.record,
        media_type=CREDENTIAL_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=300"},
    )
