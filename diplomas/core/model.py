"""The diploma and the people and institutions on it.

A `DiplomaRequest` is what an admin asks for, already validated and normalised; a
`Diploma` is what was issued: the request plus the id, serial, issuer and the signed record.
The field names are shared with the API's JSON, the CLI's options and the roster columns.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from . import text
from .errors import FieldProblem, InvalidInput

DEFAULT_AWARD = "دیپلم کارآفرینی"
DEFAULT_AWARD_EN = "Entrepreneurship Diploma"
DEFAULT_TEMPLATE = "classic"

# Longest values that still fit the printed page at the template's smallest font size.
MAX_LENGTH = {
    "name": 70,
    "name_en": 70,
    "award": 80,
    "award_en": 80,
    "citation": 280,
    "field": 80,
    "email": 254,
    "external_id": 128,
    "template": 64,
}

REQUEST_FIELDS = (
    "name",
    "name_en",
    "award",
    "award_en",
    "citation",
    "field",
    "issued_on",
    "email",
    "national_id",
    "external_id",
    "template",
    "co_issuers",
)
MAX_CO_ISSUERS = 3

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EXTERNAL_ID = re.compile(r"^[\w.:/@+-]+$")
_TEMPLATE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class DiplomaStatus(StrEnum):
    ISSUED = "issued"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    """Temporarily not valid; `unsuspend` makes it issued again. Revoked is final."""


@dataclass(frozen=True)
class Signatory:
    """A person who signs diplomas for an institution, as printed under the signature line."""

    name: str
    title: str
    name_en: str = ""
    title_en: str = ""


def did_web(public_url: str) -> str:
    """did:web identifier of a public URL (port percent-encoded, path with colons)."""
    rest = public_url.split("://", 1)[-1].rstrip("/")
    host, _, path = rest.partition("/")
    did = "did:web:" + host.replace(":", "%3A")
    if path:
        did += ":" + path.replace("/", ":")
    return did


@dataclass(frozen=True)
class Institution:
    """An issuing institution: its names, public address, serial prefix and signatories."""

    slug: str
    name: str
    name_en: str
    public_url: str
    serial_prefix: str
    signatories: tuple[Signatory, ...] = ()
    former_dids: tuple[str, ...] = ()
    """DIDs of earlier public URLs that issued diplomas name (`core.identity`)."""
    logo: str = ""
    """The institution's logo (a PNG or JPEG file), drawn in its column on designs that
    place institution logos; empty for none."""
    two_person_rule: bool | None = None
    """Whether its diplomas are proposed and issued only once an approver of the
    institution other than the proposer approved (`core.proposals`); None when the
    settings leave it unset (then on in production, off in development)."""
    mail_pdf: Literal["attach", "link"] = "attach"
    """How mail to holders carries the PDF: attached, or as the holder's private link
    (a large batch or PDF goes as the link anyway: `core.outbox.pdf_delivery`)."""

    @property
    def did(self) -> str:
        return did_web(self.public_url)

    @property
    def logos(self) -> dict[str, str]:
        """Its logo under each of its DIDs, as the renderer finds it (by the DID that a
        diploma's record names)."""
        return {did: self.logo for did in self.dids} if self.logo else {}

    @property
    def dids(self) -> tuple[str, ...]:
        """Every DID the institution has published under, the current one first."""
        return (self.did, *(d for d in self.former_dids if d != self.did))

    def verify_url(self, diploma_id: str) -> str:
        return f"{self.public_url.rstrip('/')}/v/{diploma_id}"


@dataclass(frozen=True)
class DiplomaRequest:
    """What an admin asks to issue: validated and normalised, not yet numbered or signed."""

    name: str
    issued_on: date
    name_en: str = ""
    award: str = DEFAULT_AWARD
    award_en: str = DEFAULT_AWARD_EN
    citation: str = ""
    field: str = ""
    email: str = ""
    national_id: str = ""
    external_id: str = ""
    template: str = DEFAULT_TEMPLATE
    co_issuers: tuple[str, ...] = ()
    """Slugs of the institutions that award the diploma together with the issuer."""


@dataclass(frozen=True)
class Diploma:
    """An issued diploma. `record` is the canonical signed credential, the one signed truth."""

    id: str
    serial: str
    institution: Institution
    request: DiplomaRequest
    issued_at: datetime
    key_id: str
    record: bytes
    status: DiplomaStatus = DiplomaStatus.ISSUED
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    pdf_sha256: str = ""
    co_issuers: tuple[Institution, ...] = field(default=())
    suspended_at: datetime | None = None
    suspension_reason: str = ""
    status_slot: tuple[int, int] | None = None
    """(status list number, index) of its revocation and suspension bits, if it has them."""
    batch_id: str | None = None
    """The bulk issuance (roster) it came from; None when issued on its own."""
    revocation_note: str = ""
    """The office's private note on the revocation (`revocation_reason` is the public
    reason's code); never published."""
    suspension_note: str = ""
    holder_link_generation: int = 0
    """How many times the holder's private link was renewed: a renewal ends every copy
    of the link given before (`core.holder`)."""

    @property
    def verify_url(self) -> str:
        return self.institution.verify_url(self.id)


@dataclass(frozen=True)
class DiplomaVersion:
    """One version of a diploma's record: the first as issued, then one per correction."""

    diploma_id: str
    version: int
    record_sha256: str
    """SHA-256 of the canonical record (`verification.record_digest`)."""
    pdf_sha256: str
    issued_at: datetime
    """When this version was signed."""
    superseded_at: datetime | None = None
    """When a correction replaced it; None for the current version."""
    superseded_by: str = ""
    """The actor of that correction."""


def _national_id_ok(digits: str) -> bool:
    """Iranian national code: ten digits whose last is a mod-11 check digit."""
    if not re.fullmatch(r"\d{10}", digits) or len(set(digits)) == 1:
        return False
    total = sum(int(digits[i]) * (10 - i) for i in range(9)) % 11
    check = int(digits[9])
    return check == total if total < 2 else check == 11 - total


def parse_request(raw: Mapping[str, object], *, today: date) -> DiplomaRequest:
    """Validate and normalise raw request values (API JSON, CLI options, roster cells).

    Every problem is collected, so one answer lists all of them. Empty strings count as
    absent for optional fields. Raises InvalidInput.
    """
    from .dates import parse_date  # local: dates pulls jdatetime, text does not

    problems: list[FieldProblem] = []
    unknown = sorted(set(raw) - set(REQUEST_FIELDS))
    for key in unknown:
        problems.append(FieldProblem(key, "is not a known field"))

    co_issuers = _co_issuers(raw.get("co_issuers"), problems)

    def get(key: str) -> str:
        value = raw.get(key)
        if value is None:
            return ""
        if isinstance(value, date):
            return value.isoformat()
        if not isinstance(value, str | int):
            problems.append(FieldProblem(key, "must be text"))
            return ""
        return text.normalize(str(value))

    values: dict[str, str] = {k: get(k) for k in REQUEST_FIELDS if k != "co_issuers"}

    for key, limit in MAX_LENGTH.items():
        if len(values[key]) > limit:
            problems.append(
                FieldProblem(key, f"is {len(values[key])} characters long; at most {limit} fit")
            )

    name = values["name"]
    if not name:
        problems.append(FieldProblem("name", "is required (the recipient's name in Persian)"))
    elif not text.has_persian_letters(name):
        problems.append(FieldProblem("name", "must be written in Persian script"))
    elif text.has_latin_letters(name):
        problems.append(
            FieldProblem(
                "name",
                "mixes Latin letters into the Persian name; put the Latin spelling in name_en",
            )
        )
    if values["name_en"] and not text.is_latin_name(values["name_en"]):
        problems.append(FieldProblem("name_en", "must use Latin letters, spaces, . ' or -"))
    if values["award_en"] and text.has_persian_letters(values["award_en"]):
        problems.append(FieldProblem("award_en", "must be in English"))

    issued_on = today
    if values["issued_on"]:
        try:
            issued_on = parse_date(values["issued_on"])
        except ValueError as exc:
            problems.append(FieldProblem("issued_on", str(exc)))
        else:
            if issued_on > today:
                problems.append(FieldProblem("issued_on", "is in the future"))
            elif issued_on.year < 1990:
                problems.append(FieldProblem("issued_on", "is before 1990"))

    email = values["email"]
    if email and not _EMAIL.match(email):
        problems.append(FieldProblem("email", "is not an email address"))

    national_id = text.ascii_digits(values["national_id"]).replace("-", "").replace(" ", "")
    if national_id and not _national_id_ok(national_id):
        problems.append(FieldProblem("national_id", "is not a valid 10-digit national code"))

    external_id = values["external_id"]
    if external_id and not _EXTERNAL_ID.match(external_id):
        problems.append(
            FieldProblem("external_id", "may hold only letters, digits and . _ : / @ + -")
        )

    template = values["template"] or DEFAULT_TEMPLATE
    if not _TEMPLATE.match(template):
        problems.append(FieldProblem("template", "must be a template folder name like classic"))

    award = values["award"] or DEFAULT_AWARD
    award_en = values["award_en"]
    if not award_en and award == DEFAULT_AWARD:
        award_en = DEFAULT_AWARD_EN

    if problems:
        raise InvalidInput(problems)
    return DiplomaRequest(
        name=name,
        name_en=values["name_en"],
        award=award,
        award_en=award_en,
        citation=values["citation"],
        field=values["field"],
        issued_on=issued_on,
        email=email.lower(),
        national_id=national_id,
        external_id=external_id,
        template=template,
        co_issuers=co_issuers,
    )


def _co_issuers(value: object, problems: list[FieldProblem]) -> tuple[str, ...]:
    """Institution slugs, as a list (JSON) or one text separated by commas (CLI, roster)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        items = [v for v in re.split(r"[,،;\s]+", text.normalize(value)) if v]
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = [text.normalize(v) for v in value]
    else:
        problems.append(FieldProblem("co_issuers", "must be a list of institution slugs"))
        return ()
    slugs = tuple(dict.fromkeys(v.lower() for v in items))
    bad = [s for s in slugs if not _SLUG.match(s)]
    if bad:
        problems.append(
            FieldProblem("co_issuers", f"{bad[0]!r} is not an institution slug like samt")
        )
    elif len(slugs) > MAX_CO_ISSUERS:
        problems.append(
            FieldProblem("co_issuers", f"names {len(slugs)} institutions; at most {MAX_CO_ISSUERS}")
        )
    return slugs
