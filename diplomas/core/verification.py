"""Verification rules: from evidence (a stored record, a PDF's report) to one verdict.

A verdict never rests on a database flag alone: the record's proofs are checked against
the key ring every time a verdict is worked out (a server keeps a verdict only while the
status and key ring under it stay as they were: `diplomas.verdicts`), and every failed
check adds a plain sentence to the reasons.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .credential import PublicClaims, claims_from_credential
from .errors import DocumentError
from .keyring import KeyRing
from .model import DiplomaStatus
from .ports import PdfReport
from .proof import ProofCheck, canonical, check_proofs
from .qrproof import QrCheck, did_web_of
from .reasons import public_words


class VerdictStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"
    INVALID = "invalid"
    SUPERSEDED = "superseded"
    """A genuine copy of an earlier version of a diploma that a correction replaced: its
    signatures hold, but what it says is no longer what the issuer stands behind."""


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
class SupersededRecord:
    """An earlier version of a diploma's record, replaced by a correction: known by its
    digest only (no personal data), from the issuing database or a trust bundle."""

    diploma_id: str
    record_sha256: str
    """`record_digest` of the replaced record."""
    superseded_at: datetime
    version: int = 0
    """Its version number (0 when the source does not say, as in a trust bundle)."""
    issuers: tuple[str, ...] = ()
    """The DIDs of the institution whose word this is (a trust bundle's); empty when it
    comes from the issuing database itself."""
    qr_sha256: str = ""
    """`qrproof.signature_sha256` of the replaced version's QR code, when what that QR
    code says (name, date) is no longer true; "" when the QR code still holds."""


@dataclass(frozen=True)
class StoredState:
    """What the issuing database says about a diploma id."""

    record: bytes
    status: DiplomaStatus
    revoked_at: datetime | None = None
    revocation_reason: str = ""
    suspended_at: datetime | None = None
    suspension_reason: str = ""
    superseded: tuple[SupersededRecord, ...] = ()
    """Its earlier versions, replaced by corrections (oldest first)."""


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
    superseded_at: datetime | None = None
    """When the document's version was replaced by a corrected one (an uploaded PDF of
    an earlier version); None otherwise."""

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


def record_digest(record: bytes) -> str:
    """SHA-256 (hex) of the record's canonical bytes (RFC 8785): what names a version of
    a record in the versions table and in trust bundles. DocumentError if not JSON."""
    return hashlib.sha256(canonical(parse_record(record))).hexdigest()


def superseded_qr(
    check: QrCheck, superseded: Iterable[SupersededRecord]
) -> SupersededRecord | None:
    """The replaced version whose QR code `check` read, if its claims no longer hold: a
    genuine QR code of a diploma corrected since (its name or date). Only an entry of the
    institution whose site the QR code links to counts."""
    if not check.genuine or check.claims is None:
        return None
    url = check.claims.verify_url
    diploma_id, controller = url.rsplit("/v/", 1)[-1], did_web_of(url)
    for old in superseded:
        if (
            old.qr_sha256
            and old.qr_sha256 == check.signature_sha256
            and old.diploma_id == diploma_id
            and (not old.issuers or controller in old.issuers)
        ):
            return old
    return None


def superseded_sentence(old: SupersededRecord, claims: PublicClaims | None) -> str:
    where = f"; the current version is at {claims.verify_url}" if claims else ""
    return (
        f"superseded by a corrected version on {old.superseded_at.date().isoformat()}: "
        f"this copy is out of date{where}"
    )


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
    """The public sentence: the reason as its published words, never a private note."""
    when = f" on {at.date().isoformat()}" if at else ""
    words = public_words(reason)[1]
    why = f": {words}" if words else ""
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


def _superseded_match(
    record: bytes, claims: PublicClaims, candidates: Iterable[SupersededRecord]
) -> SupersededRecord | None:
    """The entry naming this record as replaced by a correction, if any: the same
    diploma id and digest, vouched for by one of the record's own issuers (a trust
    bundle speaks for its own institution's diplomas only)."""
    try:
        digest = record_digest(record)
    except DocumentError:
        return None
    for old in candidates:
        if old.diploma_id != claims.id or old.record_sha256 != digest:
            continue
        if old.issuers and claims.issuer.did not in old.issuers:
            continue
        return old
    return None


def verdict_for_document(
    report: PdfReport,
    keyring: KeyRing,
    lookup: Callable[[str], StoredState | None] | None,
    vouchers: Vouchers | None = None,
    superseded: Sequence[SupersededRecord] = (),
) -> Verdict:
    """The verdict for an uploaded PDF: its signatures, its embedded record, the database.

    `lookup` is None for offline verification (a trust bundle and no database): the
    revocation status then cannot be known, and the verdict says so; `superseded` then
    lists the replaced versions the trust bundles name.

    A genuine copy of a version that a correction replaced is SUPERSEDED, never VALID.
    Precedence: REVOKED (the id is revoked, whichever version is shown) before INVALID
    and UNKNOWN (a doubtful document), then SUSPENDED (the id's status), then SUPERSEDED;
    the superseded sentence is among the reasons whenever the version is a replaced one.
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
    old: SupersededRecord | None = None
    if (
        stored is not None
        and report.record is not None
        and parse_record(stored.record) != parse_record(report.record)
    ):
        assert claims is not None
        old = _superseded_match(report.record, claims, stored.superseded)
        if old is None:
            reasons.append("the record in the PDF differs from the one the issuer stored")
    elif lookup is None and report.record is not None and claims is not None:
        old = _superseded_match(report.record, claims, superseded)

    reasons = list(dict.fromkeys(reasons))
    found = tuple(signers)
    replaced = (superseded_sentence(old, claims),) if old is not None else ()
    superseded_at = old.superseded_at if old is not None else None
    if stored is not None and stored.status is DiplomaStatus.REVOKED:
        return Verdict(
            VerdictStatus.REVOKED,
            (_revoked_sentence(stored), *replaced, *reasons),
            claims,
            stored.revoked_at,
            stored.revocation_reason,
            found,
            superseded_at=superseded_at,
        )
    if reasons:
        only_unknown = reasons == ["this diploma was not issued here"]
        status = VerdictStatus.UNKNOWN if only_unknown else VerdictStatus.INVALID
        return Verdict(status, tuple(reasons), claims, signers=found)
    if stored is not None and stored.status is DiplomaStatus.SUSPENDED:
        # Only a genuine document is reported as suspended; a doubtful one stays invalid.
        suspended = _suspended(stored, replaced, claims, found)
        return replace(suspended, superseded_at=superseded_at)
    if old is not None:
        offline = (
            ()
            if lookup is not None
            else ("checked offline: the revocation status was not checked",)
        )
        return Verdict(
            VerdictStatus.SUPERSEDED,
            (*replaced, *offline),
            claims,
            signers=found,
            superseded_at=old.superseded_at,
        )
    notes = (
        ()
        if lookup is not None
        else (
            "checked offline: the signatures are genuine, the revocation status was not checked",
            "a correction made after the trust bundle was exported would not show here: "
            "export a fresh one (diplomas keys export) to check for later corrections",
        )
    )
    return Verdict(VerdictStatus.VALID, notes, claims, signers=found)


def lookup_from(mapping: Mapping[str, StoredState]) -> Callable[[str], StoredState | None]:
    return mapping.get
