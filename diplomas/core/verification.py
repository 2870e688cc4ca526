"""Verification rules: from evidence (a stored record, a PDF's report) to one verdict.

A verdict never rests on a database flag alone: the record's proofs are checked against
the key ring every time a verdict is worked out (a server keeps a verdict only while the
status and key ring under it stay as they were: `diplomas.verdicts`), and every failed
check adds a plain sentence to the reasons.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from .credential import PublicClaims, claims_from_credential
from .errors import DocumentError
from .keyring import KeyRing
from .model import DiplomaStatus
from .ports import PdfReport
from .proof import ProofCheck, check_proofs


class VerdictStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"
    INVALID = "invalid"


@dataclass(frozen=True)
class SignerReport:
    """One signature and what was found: `kind` is "record" (Ed25519 proof) or "pdf"."""

    kind: str
    signer: str
    ok: bool
    reasons: tuple[str, ...] = ()
    vouched_by: str = ""
    """Whose word the key or root that checked this signature came from: a trust bundle
    named on the command line, or an institution configured on this server ("" when the
    signature matched nobody's key or root)."""
    timestamped_at: datetime | None = None
    """For a PDF signature, when a trusted timestamp authority proves it was made (PAdES
    B-T); None when only the time the PDF claims for itself is known."""


@dataclass(frozen=True)
class StoredState:
    """What the issuing database says about a diploma id."""

    record: bytes
    status: DiplomaStatus
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    suspended_at: datetime | None = None
    suspension_reason: str = ""


@dataclass(frozen=True)
class Verdict:
    status: VerdictStatus
    reasons: tuple[str, ...]
    claims: PublicClaims | None = None
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    signers: tuple[SignerReport, ...] = ()
    suspended_at: datetime | None = None
    suspension_reason: str = ""

    @property
    def genuine(self) -> bool:
        return self.status is VerdictStatus.VALID


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise DocumentError("the record repeats a JSON key")
    return dict(pairs)


def parse_record(record: bytes) -> dict[str, Any]:
    """The record as JSON; DocumentError if it is not a JSON object or repeats keys."""
    try:
        value = json.loads(record.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentError(f"the record is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise DocumentError("the record is not a JSON object")
    return value


@dataclass(frozen=True)
class RecordCheck:
    claims: PublicClaims | None
    proofs: tuple[ProofCheck, ...]
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons


def check_record(record: bytes, keyring: KeyRing) -> RecordCheck:
    """Check that the record is a diploma credential whose every issuer signed it validly."""
    try:
        credential = parse_record(record)
        claims = claims_from_credential(credential)
    except DocumentError as exc:
        return RecordCheck(None, (), (str(exc),))
    proofs = tuple(check_proofs(credential, keyring))
    reasons = [r for p in proofs for r in p.reasons]
    signed_by = {did for p in proofs if p.ok and p.key is not None for did in p.key.speaks_for}
    for issuer in claims.issuers:
        if issuer.did not in signed_by:
            name = issuer.name_en or issuer.name
            reasons.append(f"no valid record signature from {name} ({issuer.did})")
    return RecordCheck(claims, proofs, tuple(dict.fromkeys(reasons)))


Vouchers = Mapping[str, str]
"""Each trusted DID (current and former) to the source that vouches for its keys and roots:
one per institution, so a signature names exactly who its trust came from."""


def _vouched_by(dids: Iterable[str], vouchers: Vouchers) -> str:
    return "; ".join(dict.fromkeys(vouchers[d] for d in sorted(dids) if d in vouchers))


def _record_signers(check: RecordCheck, vouchers: Vouchers) -> tuple[SignerReport, ...]:
    return tuple(
        SignerReport(
            "record",
            p.verification_method or "unnamed key",
            p.ok,
            p.reasons,
            _vouched_by(p.key.speaks_for if p.key else (), vouchers),
        )
        for p in check.proofs
    )


def verdict_for_stored(
    stored: StoredState | None, keyring: KeyRing, vouchers: Vouchers | None = None
) -> Verdict:
    """The verdict for an id looked up in the database (the QR landing page and JSON)."""
    if stored is None:
        return Verdict(VerdictStatus.UNKNOWN, ("no diploma with this id was issued here",))
    check = check_record(stored.record, keyring)
    signers = _record_signers(check, vouchers or {})
    if not check.ok:
        return Verdict(
            VerdictStatus.INVALID,
            ("the stored record failed verification", *check.reasons),
            check.claims,
            signers=signers,
        )
    if stored.status is DiplomaStatus.REVOKED:
        return Verdict(
            VerdictStatus.REVOKED,
            (_revoked_sentence(stored),),
            check.claims,
            stored.revoked_at,
            stored.revocation_reason,
            signers,
        )
    if stored.status is DiplomaStatus.SUSPENDED:
        return _suspended(stored, (), check.claims, signers)
    return Verdict(VerdictStatus.VALID, (), check.claims, signers=signers)


def _revoked_sentence(stored: StoredState) -> str:
    return _status_sentence("revoked", stored.revoked_at, stored.revocation_reason)


def _status_sentence(done: str, at: datetime | None, reason: str) -> str:
    when = f" on {at.date().isoformat()}" if at else ""
    why = f": {reason}" if reason else ""
    return f"the issuer {done} this diploma{when}{why}"


def _suspended(
    stored: StoredState,
    reasons: tuple[str, ...],
    claims: PublicClaims | None,
    signers: tuple[SignerReport, ...],
) -> Verdict:
    sentence = _status_sentence("suspended", stored.suspended_at, stored.suspension_reason)
    return Verdict(
        VerdictStatus.SUSPENDED,
        (sentence, *reasons),
        claims,
        signers=signers,
        suspended_at=stored.suspended_at,
        suspension_reason=stored.suspension_reason,
    )


def _missing_pdf_signatures(claims: PublicClaims, report: PdfReport) -> list[str]:
    """Each issuer of the record must have put its own good signature on the PDF: a
    co-issued diploma with one institution's signature missing or broken is refused."""
    signed_by = {did for s in report.signatures if s.ok for did in s.issuers}
    missing = [
        f"no valid PDF signature from {issuer.name_en or issuer.name} ({issuer.did})"
        for issuer in claims.issuers
        if issuer.did not in signed_by
    ]
    # A valid signature that speaks for none of the record's issuers is what an institution
    # that moved looks like through a bundle exported before the move.
    strangers = signed_by - {issuer.did for issuer in claims.issuers}
    if missing and strangers:
        missing.append(
            f"the valid PDF signatures speak for {', '.join(sorted(strangers))}: if the "
            f"institution moved to another address, use a trust bundle exported after the move"
        )
    return missing


def verdict_for_document(
    report: PdfReport,
    keyring: KeyRing,
    lookup: Callable[[str], StoredState | None] | None,
    vouchers: Vouchers | None = None,
) -> Verdict:
    """The verdict for an uploaded PDF: its signatures, its embedded record, the database.

    `lookup` is None for offline verification (a trust bundle and no database): the
    revocation status then cannot be known, and the verdict says so.
    """
    vouchers = vouchers or {}
    reasons: list[str] = list(report.problems)
    signers: list[SignerReport] = [
        SignerReport(
            "pdf", s.signer, s.ok, s.reasons, _vouched_by(s.issuers, vouchers), s.proven_time
        )
        for s in report.signatures
    ]
    for s in report.signatures:
        reasons.extend(s.reasons)
    if not report.signatures and not report.problems:
        reasons.append("the PDF carries no digital signature")

    claims: PublicClaims | None = None
    credential_id: str | None = None
    if report.record is None:
        reasons.append("the PDF carries no diploma record")
    else:
        check = check_record(report.record, keyring)
        claims = check.claims
        credential_id = claims.id if claims else None
        signers.extend(_record_signers(check, vouchers))
        reasons.extend(check.reasons)
        if claims is not None:
            reasons.extend(_missing_pdf_signatures(claims, report))

    stored = lookup(credential_id) if lookup is not None and credential_id else None
    if lookup is not None and credential_id and stored is None:
        reasons.append("this diploma was not issued here")
    if (
        stored is not None
        and report.record is not None
        and parse_record(stored.record) != parse_record(report.record)
    ):
        reasons.append("the record in the PDF differs from the one the issuer stored")

    reasons = list(dict.fromkeys(reasons))
    found = tuple(signers)
    if stored is not None and stored.status is DiplomaStatus.REVOKED:
        return Verdict(
            VerdictStatus.REVOKED,
            (_revoked_sentence(stored), *reasons),
            claims,
            stored.revoked_at,
            stored.revocation_reason,
            found,
        )
    if reasons:
        only_unknown = reasons == ["this diploma was not issued here"]
        status = VerdictStatus.UNKNOWN if only_unknown else VerdictStatus.INVALID
        return Verdict(status, tuple(reasons), claims, signers=found)
    if stored is not None and stored.status is DiplomaStatus.SUSPENDED:
        # Only a genuine document is reported as suspended; a doubtful one stays invalid.
        return _suspended(stored, (), claims, found)
    notes = (
        ()
        if lookup is not None
        else ("checked offline: the signatures are genuine, the revocation status was not checked",)
    )
    return Verdict(VerdictStatus.VALID, notes, claims, signers=found)


def lookup_from(mapping: Mapping[str, StoredState]) -> Callable[[str], StoredState | None]:
    return mapping.get
