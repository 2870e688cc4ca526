"""The signed record of a diploma, shaped as an Open Badges 3.0 `OpenBadgeCredential`.

`PublicClaims` is exactly what the page prints and an employer may see; the credential is
built from it and parsed back into it, so the signed record, the printed page and the
verification page always say the same thing. Email, national id and internal ids are not
claims and never enter the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from . import qrproof
from .errors import DocumentError
from .keyring import RecordSigner
from .model import Diploma, DiplomaRequest, Institution, Signatory
from .proof import add_proof, canonical
from .qrproof import QrClaims
from .statuslist import StatusEntry, entry_from_json

SCHEMA_VERSION = 1
CONTEXTS = (
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
)
# Our own block (serial, signatories, co-issuers) as one JSON literal in the issuer-dependent
# vocabulary, so JSON-LD processors keep it instead of dropping an undefined term.
EXTENSION_CONTEXT = {
    "diploma": {
        "@id": "https://www.w3.org/ns/credentials/issuer-dependent#diploma",
        "@type": "@json",
    }
}
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
    credential: dict[str, Any] = {
        "@context": [*CONTEXTS, EXTENSION_CONTEXT],
        "id": claims.verify_url,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": _lang(claims.award, claims.award_en),
        "issuer": _profile(claims.issuer),
        "validFrom": f"{claims.issued_on.isoformat()}T00:00:00Z",
        "credentialSubject": subject,
        "diploma": {
            "schemaVersion": SCHEMA_VERSION,
            "id": claims.id,
            "serial": claims.serial,
            **({"qrSignature": claims.qr_signature} if claims.qr_signature else {}),
            "issuedOn": claims.issued_on.isoformat(),
            "signatories": [
                {"name": s.name, "title": s.title, "nameEn": s.name_en, "titleEn": s.title_en}
                for s in claims.signatories
            ],
        },
    }
    if len(claims.issuers) > 1:
        credential["diploma"]["coIssuers"] = [_profile(i) for i in claims.issuers[1:]]
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


def claims_from_credential(credential: Mapping[str, Any]) -> PublicClaims:
    """Parse the claims back out of a credential; DocumentError if it is not one of ours."""
    try:
        d = credential["diploma"]
        if d["schemaVersion"] != SCHEMA_VERSION:
            raise DocumentError(f"record schema version {d['schemaVersion']} is not supported")
        subject = credential["credentialSubject"]
        achievement = subject["achievement"]
        issuers = (
            _issuer_from(credential["issuer"]),
            *(_issuer_from(p) for p in d.get("coIssuers", [])),
        )
        return PublicClaims(
            id=str(d["id"]),
            serial=str(d["serial"]),
            verify_url=str(credential["id"]),
            name=_text(subject["name"], "fa"),
            name_en=_text(subject["name"], "en"),
            award=_text(achievement["name"], "fa"),
            award_en=_text(achievement["name"], "en"),
            citation=_text(subject.get("narrative", []), "fa"),
            field=_text(achievement.get("fieldOfStudy", []), "fa"),
            issued_on=date.fromisoformat(str(d["issuedOn"])),
            issuers=issuers,
            signatories=tuple(
                Signatory(
                    str(s["name"]),
                    str(s["title"]),
                    str(s.get("nameEn", "")),
                    str(s.get("titleEn", "")),
                )
                for s in d["signatories"]
            ),
            status=_status_from(credential.get("credentialStatus")),
            qr_signature=str(d.get("qrSignature", "")),
        )
    except DocumentError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise DocumentError(f"the record is not a diploma credential ({exc!s})") from None


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
