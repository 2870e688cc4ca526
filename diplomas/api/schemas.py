"""Request and response bodies of the JSON API (separate from tables and core models)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from ..core.credential import PublicClaims
from ..core.dates import format_solar_hijri_numeric
from ..core.model import Diploma
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
    revocation_reason: str
    suspended_at: datetime | None
    suspension_reason: str
    verify_url: str
    pdf_url: str
    pdf_sha256: str
    batch_id: str | None = Field(
        default=None, description="The bulk issuance it came from; null when issued alone."
    )

    @classmethod
    def of(cls, d: Diploma, pdf_url: str) -> DiplomaOut:
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
            suspended_at=d.suspended_at,
            suspension_reason=d.suspension_reason,
            verify_url=d.verify_url,
            pdf_url=pdf_url,
            pdf_sha256=d.pdf_sha256,
            batch_id=d.batch_id,
        )


class DiplomaPage(BaseModel):
    items: list[DiplomaOut]
    total: int = Field(description="How many match; at most 10,000 (see total_is_exact).")
    total_is_exact: bool = Field(
        description="False when more than 10,000 match: total is then 10,000 (say 10,000+)."
    )
    offset: int
    limit: int


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why the diploma is revoked; shown on the verify page.")


class SuspendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="Why the diploma is suspended; shown on the verify page.")


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


class VerdictOut(BaseModel):
    status: str = Field(description="valid, revoked, suspended, unknown or invalid")
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

    @classmethod
    def of(cls, v: Verdict) -> VerdictOut:
        """The verdict as the public JSON answer."""
        return cls(
            status=v.status.value,
            reasons=list(v.reasons),
            diploma=PublicDiplomaOut.of(v.claims) if v.claims else None,
            revoked_at=v.revoked_at,
            revocation_reason=v.revocation_reason,
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
            suspension_reason=v.suspension_reason,
        )
