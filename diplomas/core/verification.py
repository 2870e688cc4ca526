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

from .credential import IssuerClaims, PublicClaims, claims_from_credential
from .errors import DocumentError
from .keyring import KeyRing
from .model import DiplomaStatus
from .ports import PdfReport
from .proof import ProofCheck, canonical, check_proofs
from .qrproof import QrCheck, did_web_of
from .reasons import public_words
from .words import CHECKS, HEADLINES, Level, Outcome, Words


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
class RecordSignature:
    """One institution's signature on the record, as the page shows it: who, with which
    key, when, and that key's validity then and now."""

    did: str
    """The DID the proof names (before `#`)."""
    key_id: str
    signed_at: datetime | None
    """The proof's `created` time."""
    ok: bool
    key_known: bool
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    compromised_since: datetime | None = None
    key_state: str = "unknown"
    """The key's state now: `active`, `retired`, `compromised` or `unknown`."""
    valid_at_signing: bool = False
    issuer: IssuerClaims | None = None
    """The record's issuing institution this signature speaks for, if any."""

    @property
    def compromised(self) -> bool:
        return self.compromised_since is not None


@dataclass(frozen=True)
class Check:
    """One line of "how we verified": what was checked, how it came out, and about whom."""

    code: str
    outcome: Outcome
    about: str = ""
    """A name (an institution, a PDF signer) the line is about; "" when about the whole."""
    about_en: str = ""
    at: datetime | None = None
    """A time the line vouches for (a signature's time, a trusted timestamp)."""

    @property
    def words(self) -> Words:
        return CHECKS[self.code, self.outcome]


LEVEL_WARNINGS = frozenset({"key_retired", "key_not_compromised"})
"""Checks whose warning makes a valid verdict "genuine, with a warning"."""


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
    record_signatures: tuple[RecordSignature, ...] = ()
    checks: tuple[Check, ...] = ()
    """"How we verified", in order: each record signature and its key, the status, and
    for an uploaded PDF each of its signatures and the record it carries."""

    @property
    def genuine(self) -> bool:
        return self.status is VerdictStatus.VALID

    @property
    def level(self) -> Level:
        if self.status is VerdictStatus.SUPERSEDED:
            return Level.WARNING
        if self.status is not VerdictStatus.VALID:
            return Level.NOT_VALID
        if any(c.outcome is Outcome.WARN and c.code in LEVEL_WARNINGS for c in self.checks):
            return Level.WARNING
        return Level.GENUINE

    @property
    def headline(self) -> Words:
        if self.status is VerdictStatus.VALID and self.level is Level.WARNING:
            return HEADLINES["warning"]
        return HEADLINES[self.status.value]


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


def record_details(check: RecordCheck) -> tuple[tuple[RecordSignature, ...], list[Check]]:
    """Each record signature as the page shows it, and its lines of "how we verified":
    the signature, its key's validity at signing, and the key's state since."""
    signatures: list[RecordSignature] = []
    checks: list[Check] = []
    for p in check.proofs:
        did, _, key_id = p.verification_method.partition("#")
        key = p.key
        speaks_for = key.speaks_for if key is not None else frozenset({did})
        issuers = check.claims.issuers if check.claims is not None else ()
        issuer = next((i for i in issuers if i.did in speaks_for), None)
        in_window = (
            key is not None
            and p.created is not None
            and key.valid_from <= p.created
            and (key.valid_until is None or p.created < key.valid_until)
        )
        signatures.append(
            RecordSignature(
                did,
                key_id,
                p.created,
                p.ok,
                key is not None,
                key.valid_from if key else None,
                key.valid_until if key else None,
                key.compromised_since if key else None,
                key.status if key else "unknown",
                in_window,
                issuer,
            )
        )
        name = issuer.name if issuer else did
        name_en = (issuer.name_en or issuer.name) if issuer else did
        matched = Outcome.OK if p.signature_matches else Outcome.FAIL
        checks.append(Check("record_signature", matched, name, name_en, p.created))
        window = Outcome.OK if in_window else Outcome.FAIL
        checks.append(Check("key_valid_at_signing", window, name, name_en))
        if key is None:
            continue
        if key.compromised_since is None:
            compromise = Outcome.OK
        elif p.created is not None and p.created < key.compromised_since:
            compromise = Outcome.WARN
        else:
            compromise = Outcome.FAIL
        checks.append(Check("key_not_compromised", compromise, name, name_en))
        if key.status == "retired" and in_window:
            checks.append(Check("key_retired", Outcome.WARN, name, name_en, key.valid_until))
    return tuple(signatures), checks


def _status_check(stored: StoredState | None) -> Check:
    if stored is None:
        return Check("status_unknown", Outcome.FAIL)
    if stored.status is DiplomaStatus.REVOKED:
        return Check("status_revoked", Outcome.FAIL, at=stored.revoked_at)
    if stored.status is DiplomaStatus.SUSPENDED:
        return Check("status_suspended", Outcome.FAIL, at=stored.suspended_at)
    return Check("status", Outcome.OK)


def _pdf_checks(report: PdfReport, claims: PublicClaims | None) -> list[Check]:
    """Each PDF signature: does it hold, does it cover the file, is its time proven."""
    if not report.signatures:
        return [Check("pdf_none", Outcome.FAIL)]
    checks: list[Check] = []
    issuers = claims.issuers if claims is not None else ()
    for s in report.signatures:
        issuer = next((i for i in issuers if i.did in s.issuers), None)
        name = issuer.name if issuer else s.signer
        name_en = (issuer.name_en or issuer.name) if issuer else s.signer
        held = Outcome.OK if s.ok else Outcome.FAIL
        checks.append(Check("pdf_signature", held, name, name_en))
        covered = Outcome.OK if s.covers_document else Outcome.FAIL
        checks.append(Check("pdf_coverage", covered, name, name_en))
        stamped = Outcome.OK if s.proven_time is not None else Outcome.WARN
        checks.append(Check("pdf_timestamp", stamped, name, name_en, s.proven_time))
    return checks


def verdict_for_stored(
    stored: StoredState | None, keyring: KeyRing, vouchers: Vouchers | None = None
) -> Verdict:
    """The verdict for an id looked up in the database (the QR landing page and JSON)."""
    if stored is None:
        return Verdict(
            VerdictStatus.UNKNOWN,
            ("no diploma with this id was issued here",),
            checks=(_status_check(None),),
        )
    check = check_record(stored.record, keyring)
    signatures, checks = record_details(check)
    verdict = _stored_verdict(stored, check, vouchers)
    return replace(verdict, record_signatures=signatures, checks=(*checks, _status_check(stored)))


def _stored_verdict(stored: StoredState, check: RecordCheck, vouchers: Vouchers | None) -> Verdict:
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
    found = _document_verdict(report, keyring, lookup, vouchers, superseded)
    verdict, check, stored = found.verdict, found.check, found.stored
    checks = _pdf_checks(report, verdict.claims)
    signatures: tuple[RecordSignature, ...] = ()
    if check is not None:
        signatures, more = record_details(check)
        checks += more
    if report.record is None:
        checks.append(Check("record_matches", Outcome.FAIL))
    elif stored is not None:
        if found.old is not None:
            checks.append(Check("record_matches", Outcome.WARN, at=found.old.superseded_at))
        elif parse_record(stored.record) == parse_record(report.record):
            checks.append(Check("record_matches", Outcome.OK))
        else:
            checks.append(Check("record_matches", Outcome.FAIL))
    if lookup is not None and check is not None and check.claims is not None:
        checks.append(_status_check(stored))
    return replace(verdict, record_signatures=signatures, checks=tuple(checks))


@dataclass(frozen=True)
class _DocumentFindings:
    verdict: Verdict
    check: RecordCheck | None
    stored: StoredState | None
    old: SupersededRecord | None
    """The replaced version the PDF's record is, if it is one."""


def _document_verdict(
    report: PdfReport,
    keyring: KeyRing,
    lookup: Callable[[str], StoredState | None] | None,
    vouchers: Vouchers | None,
    superseded: Sequence[SupersededRecord],
) -> _DocumentFindings:
    """The verdict for an uploaded PDF: its signatures, its embedded record, the database.

    `lookup` is None for offline verification (a trust bundle and no database): the
    revocation status then cannot be known, and the verdict says so; `superseded` then
    lists the replaced versions the trust bundles name.

    The verdict carries its "how we verified" lines: the PDF's signatures, the record's
    signatures and keys, whether the record is the stored one, and the status.

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
    check: RecordCheck | None = None
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

    def found_(verdict: Verdict) -> _DocumentFindings:
        return _DocumentFindings(verdict, check, stored, old)

    if stored is not None and stored.status is DiplomaStatus.REVOKED:
        return found_(
            Verdict(
                VerdictStatus.REVOKED,
                (_revoked_sentence(stored), *replaced, *reasons),
                claims,
                stored.revoked_at,
                stored.revocation_reason,
                found,
                superseded_at=superseded_at,
            )
        )
    if reasons:
        only_unknown = reasons == ["this diploma was not issued here"]
        status = VerdictStatus.UNKNOWN if only_unknown else VerdictStatus.INVALID
        return found_(Verdict(status, tuple(reasons), claims, signers=found))
    if stored is not None and stored.status is DiplomaStatus.SUSPENDED:
        # Only a genuine document is reported as suspended; a doubtful one stays invalid.
        suspended = _suspended(stored, replaced, claims, found)
        return found_(replace(suspended, superseded_at=superseded_at))
    if old is not None:
        offline = (
            ()
            if lookup is not None
            else ("checked offline: the revocation status was not checked",)
        )
        return found_(
            Verdict(
                VerdictStatus.SUPERSEDED,
                (*replaced, *offline),
                claims,
                signers=found,
                superseded_at=old.superseded_at,
            )
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
    return found_(Verdict(VerdictStatus.VALID, notes, claims, signers=found))


def lookup_from(mapping: Mapping[str, StoredState]) -> Callable[[str], StoredState | None]:
    return mapping.get
