"""The signed record of a diploma, shaped as an Open Badges 3.0 `OpenBadgeCredential`.

`PublicClaims` is exactly what the page prints and an employer may see; the credential is
built from it and parsed back into it, so the signed record, the printed page and the
verification page always say the same thing. Email, national id and internal ids are not
claims and never enter the record.

Two record shapes exist, told apart by `diploma.schemaVersion`; both are read, only the
second is written:

    1   @context ends with an inline object that maps `diploma` to one JSON literal.
        Verifiers that compare a proof's @context with the document's element by element
        (Digital Bazaar's eddsa-jcs-2022 cryptosuite) refuse it, since two copies of an
        object are never the same object to them.
    2   @context holds registered URLs only: VC 2.0, Open Badges 3.0.3, and the VC 2.0
        undefined-terms context, whose @vocab gives our own terms (`diploma`, `serial`,
        `signatories`, ...) IRIs without any context of ours. The issue date is the Open
        Badges `awardedDate`; signatories carry language-tagged names and job titles.

A signed record never changes shape: diplomas issued in shape 1 keep their bytes, and
their proofs keep verifying here.

A corrected record (`service.correct`) is shape 2 with two more members in `diploma`:
`version` (2, 3, ...) and `supersedes`, the SHA-256 of the canonical record it replaces.
A record without them is version 1, so every record signed before corrections existed
reads as it always did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from . import qrproof
from .contexts import CREDENTIALS_V2, OPEN_BADGES_V3, UNDEFINED_TERMS_V2
from .errors import DocumentError
from .keyring import RecordSigner
from .model import Diploma, DiplomaRequest, Institution, Signatory
from .proof import add_proof, canonical, parse_iso_utc
from .qrproof import QrClaims
from .statuslist import StatusEntry, entry_from_json

SCHEMA_VERSION = 2
"""The shape new records are written in (see the module docstring)."""
CONTEXTS = (CREDENTIALS_V2, OPEN_BADGES_V3, UNDEFINED_TERMS_V2)
CRITERIA_FA = "اعطا شده به کارآفرینان برتر نوآور و فناور"
CRITERIA_EN = "Awarded to outstanding innovative and technological entrepreneurs."


@dataclass(frozen=True)
class IssuerClaims:
    did: str
    name: str
    name_en: str
    url: str


@dataclass(frozen=True)
class PublicClaims:
    """What a diploma states in public: printed on the page, signed, shown to employers."""

    id: str
    serial: str
    verify_url: str
    name: str
    name_en: str
    award: str
    award_en: str
    citation: str
    field: str
    issued_on: date
    issuers: tuple[IssuerClaims, ...]
    signatories: tuple[Signatory, ...]
    status: tuple[StatusEntry, ...] = ()
    """Where verifiers find the revocation and suspension bits (none on records issued
    before status lists existed)."""
    qr_signature: str = ""
    """The issuer's signature over the QR code's claims (`qrproof`); empty on records
    issued before QR codes proved themselves, whose QR code is the plain link."""
    version: int = 1
    """1 for the record a diploma was issued with; each correction (`service.correct`)
    signs the next, under the same id, serial and status entries."""
    supersedes: str = ""
    """On a corrected record (version 2 on), the SHA-256 (hex) of the canonical record it
    replaces (`verification.record_digest`): the versions form a chain."""

    @property
    def qr_claims(self) -> QrClaims:
        return QrClaims(self.verify_url, self.serial, self.issued_on, self.name)

    @property
    def qr_text(self) -> str:
        """What the QR code encodes: the verify URL, with its signed fragment if any."""
        if not self.qr_signature:
            return self.verify_url
        return qrproof.qr_text(self.qr_claims, self.qr_signature)

    @property
    def issuer(self) -> IssuerClaims:
        return self.issuers[0]


def _issuer_claims(institution: Institution) -> IssuerClaims:
    return IssuerClaims(
        institution.did, institution.name, institution.name_en, institution.public_url.rstrip("/")
    )


def claims_of(diploma: Diploma) -> PublicClaims:
    return claims_for(
        diploma.institution, diploma.request, diploma.id, diploma.serial, diploma.co_issuers
    )


def claims_for(
    institution: Institution,
    r: DiplomaRequest,
    diploma_id: str,
    serial: str,
    co_issuers: Sequence[Institution] = (),
    status: Sequence[StatusEntry] = (),
) -> PublicClaims:
    """The claims of a diploma about to be signed, with the status list entries that the
    issuing transaction allocated for it."""
    institutions = (institution, *co_issuers)
    return PublicClaims(
        id=diploma_id,
        serial=serial,
        verify_url=institution.verify_url(diploma_id),
        name=r.name,
        name_en=r.name_en,
        award=r.award,
        award_en=r.award_en,
        citation=r.citation,
        field=r.field,
        issued_on=r.issued_on,
        issuers=tuple(_issuer_claims(i) for i in institutions),
        signatories=tuple(s for i in institutions for s in i.signatories),
        status=tuple(status),
    )


def _lang(fa: str, en: str = "") -> list[dict[str, str]]:
    values = [{"@value": fa, "@language": "fa", "@direction": "rtl"}] if fa else []
    if en:
        values.append({"@value": en, "@language": "en"})
    return values


def _profile(issuer: IssuerClaims) -> dict[str, Any]:
    return {
        "id": issuer.did,
        "type": ["Profile"],
        "name": _lang(issuer.name, issuer.name_en),
        "url": issuer.url,
    }


def build_credential(claims: PublicClaims) -> dict[str, Any]:
    """The unsigned credential for `claims` (add proofs with `proof.add_proof`)."""
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "name": _lang(claims.name, claims.name_en),
        "achievement": {
            "id": f"{claims.issuer.url}/achievements/entrepreneurship",
            "type": ["Achievement"],
            "achievementType": "Diploma",
            "name": _lang(claims.award, claims.award_en),
            "description": _lang(claims.award, claims.award_en),
            "criteria": {"narrative": _lang(CRITERIA_FA, CRITERIA_EN)},
            "specialization": "Entrepreneurship",
        },
    }
    if claims.field:
        subject["achievement"]["fieldOfStudy"] = _lang(claims.field)
    if claims.citation:
        subject["narrative"] = _lang(claims.citation)
    issued = f"{claims.issued_on.isoformat()}T00:00:00Z"
    details: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        # Not `id`: JSON-LD would read a nested `id` as the block's own (relative) IRI.
        "diplomaId": claims.id,
        "serial": claims.serial,
        **({"qrSignature": claims.qr_signature} if claims.qr_signature else {}),
        # Only on corrected records: a first version keeps exactly the shape it always had.
        **(
            {"version": claims.version, "supersedes": claims.supersedes}
            if claims.version > 1
            else {}
        ),
        "signatories": [
            {"name": _lang(s.name, s.name_en), "jobTitle": _lang(s.title, s.title_en)}
            for s in claims.signatories
        ],
    }
    if len(claims.issuers) > 1:
        details["coIssuers"] = [_profile(i) for i in claims.issuers[1:]]
    credential: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": claims.verify_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": _lang(claims.award, claims.award_en),
        "issuer": _profile(claims.issuer),
        "validFrom": issued,
        "awardedDate": issued,
        "credentialSubject": subject,
        "diploma": details,
    }
    if claims.status:
        credential["credentialStatus"] = [e.to_json() for e in claims.status]
    return credential


def _text(values: Any, language: str) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise DocumentError("a language value is not a list")
    for v in values:
        if isinstance(v, Mapping) and v.get("@language") == language:
            out = v.get("@value")
            if not isinstance(out, str):
                raise DocumentError("a language value is not text")
            return out
    return ""


def _issuer_from(profile: Any) -> IssuerClaims:
    if not isinstance(profile, Mapping):
        raise DocumentError("the issuer is not a profile object")
    return IssuerClaims(
        str(profile["id"]),
        _text(profile["name"], "fa"),
        _text(profile["name"], "en"),
        str(profile.get("url", "")),
    )


def _status_from(value: Any) -> tuple[StatusEntry, ...]:
    if value is None:
        return ()
    entries = value if isinstance(value, list) else [value]
    return tuple(entry_from_json(e) for e in entries)


def _signatory_v1(value: Any) -> Signatory:
    return Signatory(
        str(value["name"]),
        str(value["title"]),
        str(value.get("nameEn", "")),
        str(value.get("titleEn", "")),
    )


def _signatory_v2(value: Any) -> Signatory:
    name, title = value["name"], value["jobTitle"]
    return Signatory(_text(name, "fa"), _text(title, "fa"), _text(name, "en"), _text(title, "en"))


def claims_from_credential(credential: Mapping[str, Any]) -> PublicClaims:
    """Parse the claims back out of a credential of either shape; DocumentError if it is
    not one of ours."""
    try:
        d = credential["diploma"]
        version = d["schemaVersion"]
        if version == 1:
            diploma_id, issued_on = d["id"], date.fromisoformat(str(d["issuedOn"]))
            signatory = _signatory_v1
        elif version == SCHEMA_VERSION:
            diploma_id = d["diplomaId"]
            issued_on = parse_iso_utc(str(credential["awardedDate"])).date()
            signatory = _signatory_v2
        else:
            raise DocumentError(f"record schema version {version} is not supported")
        subject = credential["credentialSubject"]
        achievement = subject["achievement"]
        issuers = (
            _issuer_from(credential["issuer"]),
            *(_issuer_from(p) for p in d.get("coIssuers", [])),
        )
        return PublicClaims(
            id=str(diploma_id),
            serial=str(d["serial"]),
            verify_url=str(credential["id"]),
            name=_text(subject["name"], "fa"),
            name_en=_text(subject["name"], "en"),
            award=_text(achievement["name"], "fa"),
            award_en=_text(achievement["name"], "en"),
            citation=_text(subject.get("narrative", []), "fa"),
            field=_text(achievement.get("fieldOfStudy", []), "fa"),
            issued_on=issued_on,
            issuers=issuers,
            signatories=tuple(signatory(s) for s in d["signatories"]),
            status=_status_from(credential.get("credentialStatus")),
            qr_signature=str(d.get("qrSignature", "")),
            version=_version(d),
            supersedes=str(d.get("supersedes", "")),
        )
    except DocumentError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DocumentError(f"the record is not a diploma credential ({exc!s})") from None


def _version(details: Mapping[str, Any]) -> int:
    version = details.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DocumentError("the record's version is not a positive whole number")
    return version


def signed_record(
    claims: PublicClaims, signers: Sequence[RecordSigner], created: datetime
) -> bytes:
    """The canonical bytes of the credential for `claims` with one proof per signer; the
    first signer (the issuer) also signs the QR code's claims."""
    if signers:
        claims = replace(claims, qr_signature=qrproof.sign_qr(claims.qr_claims, signers[0]))
    document = build_credential(claims)
    for signer in signers:
        document = add_proof(document, signer, created)
    return canonical(document)
