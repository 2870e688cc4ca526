"""Corrections: which fields of an issued diploma may change, and what a change is.

A correction keeps the diploma's id, serial, status list slot and QR link; what it may
change, and why the rest may not:

- name, name_en, award, award_en, citation, field, issued_on: what the record says. A
  correction signs a new version of the record. `issued_on` may move within the Solar
  Hijri year of the serial only: the serial is numbered in that year and is kept.
- template: the design only (not in the record): the PDF is printed again, the record
  and its version stay.
- email, national_id: private, never in the record or the PDF: stored values change,
  nothing is signed again. A national id can be replaced, not removed.
- external_id: the office's identity of the request (re-sending it returns this diploma);
  changing it would let one request map to two diplomas.
- co_issuers: who awards the diploma and signs it; another set of institutions is
  another diploma (revoke it and issue anew), and each would have to consent.
- id, serial, institution: the diploma's identity, printed and linked from the QR code.

Nothing here touches a database: the service reads, this compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from .errors import FieldProblem
from .model import Diploma, DiplomaRequest, Institution

SIGNED_FIELDS = ("name", "name_en", "award", "award_en", "citation", "field", "issued_on")
"""What the signed record says: a change signs a new version."""
PRIVATE_FIELDS = ("email", "national_id")
"""Stored, never printed or signed."""
CORRECTABLE = (*SIGNED_FIELDS, "template", *PRIVATE_FIELDS)
FIXED = {
    "external_id": "cannot be corrected: it is the request's identity that re-sending relies on",
    "co_issuers": "cannot be corrected: another set of awarding institutions is another "
    "diploma (revoke this one and issue anew)",
    "id": "cannot be corrected: it is the diploma's identity, linked from its QR code",
    "serial": "cannot be corrected: it is printed on the diploma and kept by a correction",
    "institution": "cannot be corrected: the issuer is the diploma's identity",
}
COMPARED = (*SIGNED_FIELDS, "template", "email", "co_issuers")
"""The fields compared when an external id is sent again (the national id is compared
by its keyed hash, `issued_on` only when given)."""


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str
    """As shown to the person who approves: a national id only by its last two digits."""


@dataclass(frozen=True)
class CorrectionPlan:
    """What `service.apply_correction` will do, worked out and checked by
    `service.check_correction`: nothing is stored or signed yet."""

    diploma: Diploma
    """The diploma as read when checked: applying refuses if it changed since."""
    request: DiplomaRequest
    """The corrected request; `national_id` is empty unless it changes."""
    co_issuers: tuple[Institution, ...]
    changes: tuple[FieldChange, ...]
    requested: Mapping[str, object]
    """The changes as asked for (the national id in the clear, if one was given): what an
    approval step keeps to check the same correction again when it is approved."""
    national_id_hash: str = ""
    """The keyed hash of a new national id, when the correction replaces it and
    `request.national_id` is empty (a correction proposal keeps only the hash)."""

    @property
    def base_record(self) -> bytes:
        """The record the plan was checked against: applying refuses unless it is still
        the diploma's (a correction or revocation in between makes the plan stale)."""
        return self.diploma.record

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.changes)

    @property
    def signs(self) -> bool:
        """Whether the record changes: a new version is signed."""
        return any(f in SIGNED_FIELDS for f in self.fields)

    @property
    def prints(self) -> bool:
        """Whether the PDF changes: printed and signed again."""
        return self.signs or "template" in self.fields


def text_of(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def masked(national_id: str) -> str:
    return "…" + national_id[-2:] if national_id else ""


def raw_of(request: DiplomaRequest) -> dict[str, object]:
    """The request as raw values that `parse_request` reads back to the same request
    (the national id apart: stored only as a hash, it reads back empty)."""
    return {
        "name": request.name,
        "name_en": request.name_en,
        "award": request.award,
        "award_en": request.award_en,
        "citation": request.citation,
        "field": request.field,
        "issued_on": request.issued_on.isoformat(),
        "email": request.email,
        "external_id": request.external_id,
        "template": request.template,
        "co_issuers": list(request.co_issuers),
    }


def refused_fields(changes: Mapping[str, object]) -> list[FieldProblem]:
    """A problem for each field named in `changes` that a correction cannot change."""
    problems = []
    for key in changes:
        if key in FIXED:
            problems.append(FieldProblem(key, FIXED[key]))
        elif key not in CORRECTABLE:
            problems.append(
                FieldProblem(key, f"is not a field of a diploma ({', '.join(CORRECTABLE)})")
            )
    return problems


def differences(stored: DiplomaRequest, new: DiplomaRequest, *, with_date: bool) -> list[str]:
    """The compared fields (`COMPARED`) whose values differ; `issued_on` only `with_date`."""
    return [
        f
        for f in COMPARED
        if (with_date or f != "issued_on") and getattr(stored, f) != getattr(new, f)
    ]
