"""Request and response bodies of the JSON API (separate from tables and core models)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from ..core.credential import PublicClaims
from ..core.dates import format_solar_hijri_numeric
from ..core.model import Diploma, DiplomaRequest
from ..core.outbox import OutboxMessage
from ..core.proposals import Proposal, ProposalState
from ..core.reasons import public_words
from ..core.verification import Verdict


class DiplomaIn(BaseModel):
    """A diploma to issue. Field names match the CLI options and the roster columns."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Recipient's name in Persian script (required).")
    name_en: str | None = Field(None, description="Recipient's name in Latin script.")
    award: str | None = Field(
        None, description="Award title in Persian (default: دیپلم کارآفرینی)."
    )
    award_en: str | None = Field(None, description="Award title in English.")
    citation: str | None = Field(None, description="The venture or innovation it honours.")
    field: str | None = Field(None, description="Field, e.g. «فناوری سلامت».")
    issued_on: str | None = Field(
        None, description="Date of award: 1405/09/05 (Solar Hijri) or 2026-11-26; default today."
    )
    email: str | None = Field(None, description="Recipient's email (never shown publicly).")
    national_id: str | None = Field(
        None, description="Iranian national code; stored only as a keyed hash."
    )
    external_id: str | None = Field(
        None, description="Your own id for the recipient; re-issuing it returns the same diploma."
    )
    template: str | None = Field(None, description="Design folder under templates/.")
    co_issuers: list[str] | None = Field(
        None,
        description="Slugs of institutions of this instance that award it jointly; each "
        "adds its own record proof and PDF signature.",
    )


class IssueOut(BaseModel):
    id: str
    serial: str
    verify_url: str
    pdf_url: str
    status: str
    created: bool
    holder_url: str | None = Field(
        default=None, description="The holder's private link (see DiplomaOut.holder_url)."
    )


class MailOut(BaseModel):
    """The newest message to a diploma's holder."""

    state: str = Field(
        description="queued, sending, handed (given to the mail server, its answer not yet "
        "heard), sent or failed."
    )
    attempts: int
    last_error: str = Field(description="The mail server's words on the last failure.")
    sent_at: datetime | None

    @classmethod
    def of(cls, message: OutboxMessage) -> MailOut:
        return cls(
            state=message.state.value,
            attempts=message.attempts,
            last_error=message.last_error,
            sent_at=message.sent_at,
        )


class MailQueuedOut(BaseModel):
    queued: int = Field(description="Messages queued: one per diploma that has an email.")


class DiplomaOut(BaseModel):
    id: str
    serial: str
    institution: str
    co_issuers: list[str]
    name: str
    name_en: str
    award: str
    award_en: str
    citation: str
    field: str
    issued_on: date
    issued_on_solar_hijri: str
    email: str
    external_id: str
    template: str
    key_id: str
    issued_at: datetime
    status: str
    revoked_at: datetime | None
    revocation_reason: str = Field(description="The public reason's code (`reason` list).")
    revocation_note: str = Field(description="The office's private note: never published.")
    suspended_at: datetime | None
    suspension_reason: str
    suspension_note: str
    verify_url: str
    pdf_url: str
    pdf_sha256: str
    batch_id: str | None = Field(
        default=None, description="The bulk issuance it came from; null when issued alone."
    )
    holder_url: str | None = Field(
        default=None,
        description="The holder's private link (her page, PDF and credential): for the "
        "issuing institution's tokens only; null for a co-issuer's.",
    )
    mail: MailOut | None = Field(
        default=None, description="The newest message to the holder; null when none was sent."
    )

    @classmethod
    def of(
        cls,
        d: Diploma,
        pdf_url: str,
        holder_url: str | None = None,
        mail: OutboxMessage | None = None,
    ) -> DiplomaOut:
        r = d.request
        return cls(
            id=d.id,
            serial=d.serial,
            institution=d.institution.slug,
            co_issuers=[i.slug for i in d.co_issuers],
            name=r.name,
            name_en=r.name_en,
            award=r.award,
            award_en=r.award_en,
            citation=r.citation,
            field=r.field,
            issued_on=r.issued_on,
            issued_on_solar_hijri=format_solar_hijri_numeric(r.issued_on),
            email=r.email,
            external_id=r.external_id,
            template=r.template,
            key_id=d.key_id,
            issued_at=d.issued_at,
            status=d.status.value,
            revoked_at=d.revoked_at,
            revocation_reason=d.revocation_reason,
            revocation_note=d.revocation_note,
            suspended_at=d.suspended_at,
            suspension_reason=d.suspension_reason,
            suspension_note=d.suspension_note,
            verify_url=d.verify_url,
            pdf_url=pdf_url,
            pdf_sha256=d.pdf_sha256,
            batch_id=d.batch_id,
            holder_url=holder_url,
            mail=None if mail is None else MailOut.of(mail),
        )


class HolderLinkOut(BaseModel):
    holder_url: str = Field(description="The holder's new private link.")


class DiplomaPage(BaseModel):
    items: list[DiplomaOut]
    total: int = Field(description="How many match; at most 1,000 (see total_is_exact).")
    total_is_exact: bool = Field(
        description="False when more than 1,000 match: total is then 1,000 (say 1,000+)."
    )
    offset: int
    limit: int


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        max_length=2000,
        description="The public reason: issued_in_error, false_information, misconduct, "
        "replaced, holder_request or other, published in Persian and English. Other text "
        "is kept as the private note, under other.",
    )
    note: str = Field(
        "", max_length=2000, description="The office's private note: never published."
    )


class SuspendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        max_length=2000,
        description="The public reason: under_review, disputed, holder_request or other, "
        "published in Persian and English. Other text is kept as the private note, under "
        "other.",
    )
    note: str = Field(
        "", max_length=2000, description="The office's private note: never published."
    )


class IssuerOut(BaseModel):
    name: str
    name_en: str
    id: str


class SignatoryOut(BaseModel):
    name: str
    title: str
    name_en: str
    title_en: str


class PublicDiplomaOut(BaseModel):
    """Only what the printed page shows: nothing private, nothing internal."""

    id: str
    serial: str
    name: str
    name_en: str
    award: str
    award_en: str
    citation: str
    field: str
    issued_on: date
    issued_on_solar_hijri: str
    issuers: list[IssuerOut]
    signatories: list[SignatoryOut]
    version: int = Field(
        1, description="1 as issued; each correction signs the next under the same id."
    )

    @classmethod
    def of(cls, c: PublicClaims) -> PublicDiplomaOut:
        return cls(
            id=c.id,
            serial=c.serial,
            name=c.name,
            name_en=c.name_en,
            award=c.award,
            award_en=c.award_en,
            citation=c.citation,
            field=c.field,
            issued_on=c.issued_on,
            issued_on_solar_hijri=format_solar_hijri_numeric(c.issued_on),
            issuers=[IssuerOut(name=i.name, name_en=i.name_en, id=i.did) for i in c.issuers],
            signatories=[
                SignatoryOut(name=s.name, title=s.title, name_en=s.name_en, title_en=s.title_en)
                for s in c.signatories
            ],
            version=c.version,
        )


class SignerOut(BaseModel):
    kind: str
    signer: str
    ok: bool
    reasons: list[str]
    vouched_by: str = Field(
        "",
        description="Whose keys or roots checked this signature: the institution configured "
        "on this server that the signature speaks for (empty when it matched none).",
    )
    timestamped_at: datetime | None = Field(
        None,
        description="A PDF signature's time as a trusted timestamp authority proves it "
        "(PAdES B-T); absent when the PDF carries no trusted timestamp.",
        exclude_if=lambda v: v is None,
    )


class RecordSignatureOut(BaseModel):
    """One institution's signature on the record and the key that made it."""

    did: str = Field(description="The DID the signature names.")
    key_id: str
    signed_at: datetime | None = Field(description="The proof's creation time.")
    ok: bool
    key_known: bool = Field(description="Whether this server knows the key.")
    key_valid_from: datetime | None
    key_valid_until: datetime | None = Field(description="When the key was retired, if it was.")
    key_compromised_since: datetime | None
    key_state: str = Field(description="The key's state now: active, retired, compromised.")
    valid_at_signing: bool = Field(
        description="Whether the signing time fell inside the key's validity window."
    )
    issuer: str = Field("", description="The DID of the issuing institution it speaks for.")


class CheckOut(BaseModel):
    """One line of "how we verified"."""

    code: str = Field(
        description="record_signature, key_valid_at_signing, key_not_compromised, "
        "key_retired, status, status_revoked, status_suspended, status_unknown, "
        "pdf_signature, pdf_none, pdf_coverage, pdf_timestamp or record_matches"
    )
    outcome: str = Field(description="ok, warn or fail")
    fa: str
    en: str
    about: str = Field("", description="The institution or signer the line is about.")
    about_en: str = ""
    at: datetime | None = None


class VerdictOut(BaseModel):
    status: str = Field(
        description="valid, revoked, suspended, superseded (a genuine copy of a version a "
        "correction replaced), unknown or invalid"
    )
    reasons: list[str]
    diploma: PublicDiplomaOut | None
    revoked_at: datetime | None
    revocation_reason: str
    signers: list[SignerOut]
    suspended_at: datetime | None = Field(
        None, description="Only when suspended.", exclude_if=lambda v: v is None
    )
    suspension_reason: str = Field(
        "", description="Only when suspended.", exclude_if=lambda v: not v
    )
    superseded_at: datetime | None = Field(
        None,
        description="When a correction replaced the version of the document checked; only "
        "for such a copy (superseded, or revoked or suspended since).",
        exclude_if=lambda v: v is None,
    )
    level: str = Field(
        "",
        description="genuine, warning (genuine, but superseded or signed with a key since "
        "retired) or not_valid (invalid, revoked, suspended, unknown)",
    )
    record_signatures: list[RecordSignatureOut] = Field(default_factory=list)
    checks: list[CheckOut] = Field(
        default_factory=list, description='"How we verified", in plain words, both languages.'
    )

    @classmethod
    def of(cls, v: Verdict) -> VerdictOut:
        """The verdict as the public JSON answer."""
        return cls(
            status=v.status.value,
            reasons=list(v.reasons),
            diploma=PublicDiplomaOut.of(v.claims) if v.claims else None,
            revoked_at=v.revoked_at,
            revocation_reason=public_words(v.revocation_reason)[1],
            signers=[
                SignerOut(
                    kind=s.kind,
                    signer=s.signer,
                    ok=s.ok,
                    reasons=list(s.reasons),
                    vouched_by=s.vouched_by,
                    timestamped_at=s.timestamped_at,
                )
                for s in v.signers
            ],
            suspended_at=v.suspended_at,
            suspension_reason=public_words(v.suspension_reason)[1],
            superseded_at=v.superseded_at,
            level=v.level.value,
            record_signatures=[
                RecordSignatureOut(
                    did=r.did,
                    key_id=r.key_id,
                    signed_at=r.signed_at,
                    ok=r.ok,
                    key_known=r.key_known,
                    key_valid_from=r.valid_from,
                    key_valid_until=r.valid_until,
                    key_compromised_since=r.compromised_since,
                    key_state=r.key_state,
                    valid_at_signing=r.valid_at_signing,
                    issuer=r.issuer.did if r.issuer else "",
                )
                for r in v.record_signatures
            ],
            checks=[
                CheckOut(
                    code=c.code,
                    outcome=c.outcome.value,
                    fa=c.words.fa,
                    en=c.words.en,
                    about=c.about,
                    about_en=c.about_en,
                    at=c.at,
                )
                for c in v.checks
            ],
        )


class DecisionIn(BaseModel):
    """An approval or a rejection: a comment (required to reject)."""

    model_config = ConfigDict(extra="forbid")

    comment: str = Field("", max_length=2000, description="Why; required to reject.")


class ProposedDiploma(BaseModel):
    """What a diploma proposal will issue, as validated (the national id never shown)."""

    name: str
    name_en: str
    award: str
    award_en: str
    citation: str
    field: str
    issued_on: date
    email: str
    external_id: str
    template: str
    co_issuers: list[str]

    @classmethod
    def of(cls, r: DiplomaRequest) -> ProposedDiploma:
        return cls(
            name=r.name,
            name_en=r.name_en,
            award=r.award,
            award_en=r.award_en,
            citation=r.citation,
            field=r.field,
            issued_on=r.issued_on,
            email=r.email,
            external_id=r.external_id,
            template=r.template,
            co_issuers=list(r.co_issuers),
        )


class ProposedBatch(BaseModel):
    """What a batch proposal will issue: the roster approved (by its digest) and its rows."""

    id: str
    source: str
    roster_sha256: str
    template: str
    skip_invalid: bool
    total_rows: int
    refused_rows: int
    diplomas: list[ProposedDiploma]


class ChangeOut(BaseModel):
    field: str
    old: str | None
    """The stored value; None when the token may not read stored values (no `read`
    scope), and empty for a national id (stored hashed only)."""
    new: str
    """The new value; a national id only by its last two digits."""


class ProposedCorrection(BaseModel):
    """What a correction proposal will change: the diploma (same id, serial and link
    once corrected) and each field's old and new value."""

    diploma_id: str
    serial: str
    base_record_sha256: str
    """The record the correction was checked against: approving refuses (409) once the
    diploma was corrected or revoked since."""
    changes: list[ChangeOut]


class ApprovalOut(BaseModel):
    institution: str
    approver: str
    at: datetime
    comment: str


class RejectionOut(BaseModel):
    approver: str
    at: datetime
    comment: str


class ProposalOut(BaseModel):
    """A proposal under the two-person rule: what will be issued, who proposed it, and
    the approvals given and still needed."""

    id: str
    kind: str
    state: str
    institution: str
    proposer: str
    created_at: datetime
    decided_at: datetime | None
    required_approvals: list[str]
    missing_approvals: list[str]
    approvals: list[ApprovalOut]
    rejection: RejectionOut | None
    diploma: ProposedDiploma | None
    batch: ProposedBatch | None
    correction: ProposedCorrection | None
    diploma_id: str | None
    """The issued diploma's id; a correction's diploma."""
    links: dict[str, str]

    @classmethod
    def of(cls, p: Proposal, base: str, *, stored_values: bool = True) -> ProposalOut:
        """`stored_values`: show a correction's old values (False for a token without
        the `read` scope, which is not told stored values)."""
        url = f"{base}/api/v1/proposals/{p.id}"
        links = {"self": url}
        if p.state is ProposalState.PENDING:
            links |= {"approve": f"{url}/approve", "reject": f"{url}/reject"}
        if p.diploma_id:
            links["diploma"] = f"{base}/api/v1/diplomas/{p.diploma_id}"
            links["verify"] = f"{base}/api/v1/verify/{p.diploma_id}"
        if p.batch is not None:
            links["batch"] = f"{base}/api/v1/batches/{p.batch.batch_id}"
        plan = p.batch
        c = p.correction
        correction = (
            None
            if c is None
            else ProposedCorrection(
                diploma_id=c.diploma_id,
                serial=c.serial,
                base_record_sha256=c.base_sha256,
                changes=[
                    ChangeOut(field=f.field, old=f.old if stored_values else None, new=f.new)
                    for f in c.shown
                ],
            )
        )
        return cls(
            id=p.id,
            kind=p.kind.value,
            state=p.state.value,
            institution=p.institution,
            proposer=p.proposer,
            created_at=p.created_at,
            decided_at=p.decided_at,
            required_approvals=list(p.required),
            missing_approvals=list(p.missing),
            approvals=[
                ApprovalOut(institution=a.institution, approver=a.email, at=a.at, comment=a.comment)
                for a in p.approvals
            ],
            rejection=None
            if p.rejection is None
            else RejectionOut(
                approver=p.rejection.email, at=p.rejection.at, comment=p.rejection.comment
            ),
            diploma=None if p.request is None else ProposedDiploma.of(p.request),
            batch=None
            if plan is None
            else ProposedBatch(
                id=plan.batch_id,
                source=plan.source,
                roster_sha256=plan.roster_sha256,
                template=plan.template,
                skip_invalid=plan.skip_invalid,
                total_rows=plan.total_rows,
                refused_rows=plan.refused_rows,
                diplomas=[ProposedDiploma.of(r) for r in plan.requests],
            ),
            correction=correction,
            diploma_id=p.diploma_id or None,
            links=links,
        )


class CorrectionIn(BaseModel):
    """The fields to change, each with its new value (as `DiplomaIn` takes them); the
    others stay. external_id and co_issuers cannot be corrected (the answer says why)."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, description="Recipient's name in Persian script.")
    name_en: str | None = Field(None, description="Recipient's name in Latin script.")
    award: str | None = Field(None, description="Award title in Persian.")
    award_en: str | None = Field(None, description="Award title in English.")
    citation: str | None = Field(None, description="The venture or innovation it honours.")
    field: str | None = Field(None, description="Field of the award.")
    issued_on: str | None = Field(
        None, description="Date of award, within the Solar Hijri year of the serial."
    )
    email: str | None = Field(None, description="Recipient's email (private).")
    national_id: str | None = Field(None, description="National code (stored hashed).")
    template: str | None = Field(None, description="Design folder under templates/.")


class CorrectionOut(BaseModel):
    """The corrected diploma: same id, serial and link; the fields changed by name only
    (an issue-scoped token is not told stored values)."""

    id: str
    serial: str
    version: int
    fields: list[str]
    status: str
    verify_url: str
    pdf_url: str


class VersionOut(BaseModel):
    version: int
    issued_at: datetime
    superseded_at: datetime | None
    record_sha256: str
    pdf_sha256: str
