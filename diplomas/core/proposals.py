"""The two-person rule: nothing is signed until someone other than its proposer approves.

An institution whose rule applies (`rule_applies`: its `two_person_rule` setting, or on in
production and off in development when it is unset) has diplomas proposed, not issued.
A `Proposal` holds exactly what will be issued (one validated request, or a validated
roster's batch), who proposed it, and one `Approval` per institution that must approve:
the issuer and each co-issuer whose rule applies. Each institution's key signs only once
an approver of that institution approved, so the diploma is issued (or the batch queued)
when the last required approval arrives.

Who may approve what (`approval_refusal`):

- a person, never a token that belongs to nobody (there is no one behind it);
- with the `approve` permission (the approver and admin roles);
- of the institution whose approval it is;
- never the proposer, with whichever of their tokens or sign-ins;
- once per institution, and only while the proposal is pending.

Nothing here touches a database or the web.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .corrections import FieldChange
from .errors import Conflict, FieldProblem, Forbidden, InvalidInput
from .model import DiplomaRequest, Institution
from .text import normalize
from .users import User

APPROVE_SCOPE = "approve"
MAX_COMMENT = 500


class ProposalKind(StrEnum):
    DIPLOMA = "diploma"
    BATCH = "batch"
    CORRECTION = "correction"


class ProposalState(StrEnum):
    PENDING = "pending"
    """Waiting for one or more institutions' approval; nothing is signed."""
    APPROVED = "approved"
    """Every required institution approved: a batch is queued (its progress is the
    batch's); a diploma whose issuing was interrupted is issued by the next approve."""
    ISSUED = "issued"
    """The diploma is signed and stored (`diploma_id`); for a correction, the correction
    is applied (the diploma's new version signed and stored)."""
    REJECTED = "rejected"
    """Refused, with a comment; final."""

    @property
    def final(self) -> bool:
        return self in (ProposalState.ISSUED, ProposalState.REJECTED)


def rule_applies(institution: Institution, production: bool) -> bool:
    """Whether the institution's diplomas need a second person: its setting when set,
    else on in production and off in development."""
    if institution.two_person_rule is not None:
        return institution.two_person_rule
    return production


def rule_source(institution: Institution, production: bool) -> str:
    """Why the rule is on or off, in words: for `settings check` and `settings show`."""
    state = "on" if rule_applies(institution, production) else "off"
    if institution.two_person_rule is not None:
        return f"{state} (two_person_rule = {str(institution.two_person_rule).lower()})"
    where = "production" if production else "development"
    return f"{state} (unset: the {where} default)"


def required_institutions(
    issuer: Institution, co_issuers: Sequence[Institution], production: bool
) -> tuple[str, ...]:
    """The slugs of the institutions that must approve, in signing order: the issuer and
    each co-issuer whose rule applies. Empty: the diploma is issued at once."""
    return tuple(i.slug for i in (issuer, *co_issuers) if rule_applies(i, production))


@dataclass(frozen=True)
class Actor:
    """Who asks: a person (a user signed in, or a token of theirs) or a token that
    belongs to nobody (made before users existed)."""

    label: str
    """What the audit log names: `user:<email> (token <name>)`, `token:<id>`, `cli:<login>`."""
    user: User | None = None
    scopes: frozenset[str] = frozenset()
    """What this sign-in or token may do (a token's scopes, or the user's role's)."""

    @property
    def person(self) -> bool:
        return self.user is not None

    @property
    def email(self) -> str:
        return "" if self.user is None else self.user.email


@dataclass(frozen=True)
class Approval:
    institution: str
    """The slug of the institution approved for."""
    user_id: str
    email: str
    actor: str
    at: datetime
    comment: str = ""


@dataclass(frozen=True)
class Rejection:
    user_id: str
    email: str
    actor: str
    at: datetime
    comment: str


@dataclass(frozen=True)
class BatchPlan:
    """What a proposed batch will issue: the roster as validated (its digest pins it),
    and its valid rows' requests."""

    batch_id: str
    source: str
    roster_sha256: str
    template: str
    skip_invalid: bool
    total_rows: int
    requests: tuple[DiplomaRequest, ...]
    refused_rows: int = 0


@dataclass(frozen=True)
class CorrectionRequest:
    """What a proposed correction will change, as checked when it was proposed.

    A correction is under the rule like an issuing, whatever it changes. One that changes
    only private fields (email, national id) signs nothing, but it changes where the
    diploma is sent and whom a lookup by national id finds: an unreviewed change there
    is as good as issuing the diploma to someone else, so it waits for an approver too.
    """

    diploma_id: str
    serial: str
    changes: Mapping[str, str]
    """The changes as asked for, field to value, without the national id (a proposal
    keeps only its keyed hash: `Proposal.national_id_hash`)."""
    shown: tuple[FieldChange, ...]
    """Each field's old and new value as the approver sees them (a national id only by
    its last two digits)."""
    base_sha256: str
    """The digest of the record the correction was checked against: approving refuses
    when the diploma was corrected since (or revoked: it cannot be corrected)."""
    national_id: str = field(default="", repr=False, compare=False)
    """A new national id in the clear, only until stored (then only its keyed hash is
    kept, as `Proposal.national_id_hash`)."""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.shown)


@dataclass(frozen=True)
class Proposal:
    id: str
    kind: ProposalKind
    state: ProposalState
    institution: str
    """The issuer's slug."""
    required: tuple[str, ...]
    """The slugs of the institutions that must approve, in signing order."""
    proposer: str
    """The proposer's audit label."""
    proposer_id: str | None
    """The proposer's user id; None for a token of nobody or the command line."""
    proposer_email: str
    created_at: datetime
    request: DiplomaRequest | None = None
    """A diploma proposal's request (its national id kept only as `national_id_hash`)."""
    national_id_hash: str = field(default="", repr=False)
    """The keyed hash of a proposed diploma's national id, or of a correction's new one."""
    batch: BatchPlan | None = None
    correction: CorrectionRequest | None = None
    approvals: tuple[Approval, ...] = ()
    rejection: Rejection | None = None
    decided_at: datetime | None = None
    diploma_id: str = ""
    """The issued diploma's id, once issued; a correction's diploma from the start."""

    @property
    def missing(self) -> tuple[str, ...]:
        """The institutions whose approval is still needed, in signing order."""
        done = {a.institution for a in self.approvals}
        return tuple(slug for slug in self.required if slug not in done)

    @property
    def batch_id(self) -> str:
        return "" if self.batch is None else self.batch.batch_id

    def approval_by(self, institution: str) -> Approval | None:
        return next((a for a in self.approvals if a.institution == institution), None)


@dataclass(frozen=True)
class ProposalEvent:
    """A change to a proposal and the audit entry that records it (no entry when
    `action` is empty)."""

    proposal: Proposal
    actor: str = ""
    action: str = ""
    at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def comment_text(comment: str, *, required: bool) -> str:
    """A decision's comment, normalised; InvalidInput if required and empty, or too long."""
    comment = normalize(comment or "")
    if required and not comment:
        raise InvalidInput(FieldProblem("comment", "is required: say why it is rejected"))
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(FieldProblem("comment", f"is longer than {MAX_COMMENT} characters"))
    return comment


def same_person(proposal: Proposal, actor: Actor) -> bool:
    """Whether `actor` is the proposer: the same user with any token or sign-in; for a
    proposer that is no user, the very same label, or a user signed in where it
    proposed (`user:<email> (cli:<login>)` after `cli:<login>` proposed)."""
    if actor.user is not None and proposal.proposer_id is not None:
        return actor.user.id == proposal.proposer_id
    return actor.label == proposal.proposer or actor.label.endswith(f"({proposal.proposer})")


def decision_refusal(proposal: Proposal, actor: Actor) -> str | None:
    """Why `actor` may not decide (approve or reject) on `proposal` at all; None if they may."""
    if actor.user is None:
        return (
            "a proposal is approved or rejected by a person: this token belongs to no user "
            "(use a token of an approver, or `diplomas proposals approve --user`)"
        )
    if not actor.user.active:
        return f"{actor.user.email} is disabled"
    if APPROVE_SCOPE not in actor.scopes:
        return f"{actor.user.email} may not approve: this needs the {APPROVE_SCOPE!r} permission"
    if same_person(proposal, actor):
        if proposal.proposer_id is None and actor.label != proposal.proposer:
            return (
                f"the proposer cannot approve or reject their own proposal: it was proposed "
                f"as {proposal.proposer}, where you sign in now, naming no person (propose "
                "with --user, or ask an approver elsewhere)"
            )
        return "the proposer cannot approve or reject their own proposal: ask another approver"
    if actor.user.institution not in proposal.required:
        return (
            f"{actor.user.email} belongs to {actor.user.institution}, whose approval this "
            f"proposal does not need (it needs: {', '.join(proposal.required)})"
        )
    return None


def approve(proposal: Proposal, actor: Actor, at: datetime, comment: str = "") -> Proposal:
    """`proposal` with `actor`'s approval for their institution; APPROVED when it was the
    last one needed. Forbidden when they may not approve it, Conflict when it is not
    pending or their institution approved already."""
    refusal = decision_refusal(proposal, actor)
    if refusal is not None:
        raise Forbidden(refusal)
    assert actor.user is not None
    if proposal.state is not ProposalState.PENDING:
        raise Conflict(f"proposal {proposal.id} is {proposal.state.value}, not pending")
    institution = actor.user.institution
    earlier = proposal.approval_by(institution)
    if earlier is not None:
        raise Conflict(f"{institution} approved proposal {proposal.id} already ({earlier.email})")
    approval = Approval(
        institution,
        actor.user.id,
        actor.user.email,
        actor.label,
        at,
        comment_text(comment, required=False),
    )
    approved = replace(proposal, approvals=(*proposal.approvals, approval))
    if not approved.missing:
        approved = replace(approved, state=ProposalState.APPROVED, decided_at=at)
    return approved


def reject(proposal: Proposal, actor: Actor, at: datetime, comment: str) -> Proposal:
    """`proposal` rejected by `actor` with a comment (required). Forbidden when they may
    not decide on it, Conflict when it is not pending."""
    text = comment_text(comment, required=True)
    refusal = decision_refusal(proposal, actor)
    if refusal is not None:
        raise Forbidden(refusal)
    assert actor.user is not None
    if proposal.state is not ProposalState.PENDING:
        raise Conflict(f"proposal {proposal.id} is {proposal.state.value}, not pending")
    rejection = Rejection(actor.user.id, actor.user.email, actor.label, at, text)
    return replace(proposal, state=ProposalState.REJECTED, rejection=rejection, decided_at=at)


def correction_refusal(proposal: Proposal, record_sha256: str) -> str | None:
    """Why a correction proposal cannot be applied to the diploma whose current record
    has this digest (it was corrected since it was proposed); None if it can."""
    assert proposal.correction is not None
    if proposal.correction.base_sha256 != record_sha256:
        return (
            f"diploma {proposal.correction.serial} was corrected since proposal {proposal.id} "
            "was made: nothing is signed (reject it, and propose the correction again)"
        )
    return None


def issued(proposal: Proposal, diploma_id: str) -> Proposal:
    """An approved diploma proposal once its diploma is signed and stored."""
    if proposal.state is not ProposalState.APPROVED or proposal.kind is not ProposalKind.DIPLOMA:
        raise Conflict(f"proposal {proposal.id} is {proposal.state.value}; it cannot be issued")
    return replace(proposal, state=ProposalState.ISSUED, diploma_id=diploma_id)
