"""The service layer: issuance, revocation, verification and tokens.

The API and the CLI are thin shells over this one class; they parse and print, it decides.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, overload

from .core import proposals as rule
from .core import qrproof
from .core.audit import SYSTEM_ACTOR, AuditAction, AuditEntry, ChainVerdict
from .core.batch import Batch, BatchStatus, row_key
from .core.corrections import (
    SIGNED_FIELDS,
    CorrectionPlan,
    FieldChange,
    differences,
    masked,
    raw_of,
    refused_fields,
    text_of,
)
from .core.credential import PublicClaims, claims_for, claims_from_credential, signed_record
from .core.dates import solar_hijri_year
from .core.errors import (
    ApprovalRequired,
    ConfigurationError,
    Conflict,
    ExternalIdTaken,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from .core.ids import is_diploma_id, is_serial, new_diploma_id, placeholder_id
from .core.keyring import KeyRing, RecordKey, RecordSigner, refuse_retired_key
from .core.lookup import (
    DUMMY_HOLDER,
    family_name_candidates,
    family_name_key,
    family_name_matches,
    serial_of,
)
from .core.model import (
    Diploma,
    DiplomaRequest,
    DiplomaStatus,
    DiplomaVersion,
    Institution,
    parse_request,
)
from .core.outbox import OutboxMessage
from .core.ports import (
    AccountStore,
    AuditLog,
    BatchStore,
    DiplomaRepository,
    IssuerKeys,
    Outbox,
    PasswordHasher,
    PdfRenderer,
    PdfSigner,
    PdfStore,
    PdfValidator,
    RecordKeys,
    TokenRecord,
)
from .core.proposals import (
    Actor,
    BatchPlan,
    CorrectionRequest,
    Proposal,
    ProposalEvent,
    ProposalKind,
    ProposalState,
)
from .core.reasons import choose
from .core.search import DiplomaQuery, SearchResult, national_id_in
from .core.sessions import SessionEnd, SessionPolicy
from .core.statuslist import (
    SignedStatusList,
    StatusEntry,
    list_url,
    parse_list_name,
    sign_status_list,
    status_list_credential,
)
from .core.text import ascii_digits, normalize
from .core.users import (
    MAX_TOKEN_NAME,
    ROLE_SCOPES,
    Permission,
    Role,
    User,
    check_password,
    normalize_email,
    of_issuer,
    parse_role,
    reaches,
    user_sign_in_actor,
)
from .core.verification import (
    StoredState,
    SupersededRecord,
    Verdict,
    parse_record,
    record_digest,
    verdict_for_document,
    verdict_for_stored,
)
from .verdicts import CachedVerdict, VerdictCache

if TYPE_CHECKING:
    from .accounts import Accounts
    from .holders import HolderLinks

SCOPES = frozenset({"issue", "revoke", "read", "approve"})
TOKEN_PREFIX = "dpl"  # noqa: S105 - a public label, not a secret
MAX_TOKEN_DAYS = 3660


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TemplateCatalog(Protocol):
    def ensure_template(self, template: str) -> None:
        """Raise NotFound unless the template exists."""
        ...

    def check(self, claims: PublicClaims, template: str) -> None:
        """InvalidInput naming the field if a value cannot be printed on the template."""
        ...


@dataclass(frozen=True)
class IssueOutcome:
    diploma: Diploma
    created: bool
    pdf: bytes


@dataclass(frozen=True)
class HistoryEvent:
    """One line of a diploma's history, from the audit log."""

    at: datetime
    what: str
    """The audit action: proposal.created, proposal.approved, diploma.issued, ..."""
    who: str
    """The actor as the audit log names it."""
    note: str = ""


@dataclass(frozen=True)
class CorrectionOutcome:
    diploma: Diploma
    """As stored after the correction."""
    plan: CorrectionPlan
    version: int
    """The diploma's version now (unchanged when nothing signed changed)."""
    pdf: bytes | None
    """The new signed PDF; None when only private fields changed."""


def render_signed(
    renderer: PdfRenderer,
    signer: PdfSigner,
    record: bytes,
    template: str,
    co_signers: Sequence[PdfSigner] = (),
    logos: Mapping[str, str] | None = None,
) -> bytes:
    """The signed PDF of a stored record: the page printed from the record's own claims
    (with the institutions' `logos`, by DID), signed by the issuer and then by each
    co-issuer, in the record's order.

    The one rendering path for single and bulk issuance alike.
    """
    claims = claims_from_credential(parse_record(record))
    pdf = signer.sign(renderer.render(claims, template, logos), record)
    for co_signer in co_signers:
        pdf = co_signer.sign_additional(pdf)
    return pdf


def resolve_co_issuers(
    issuer: Institution, co_issuing: Mapping[str, Institution], slugs: Sequence[str]
) -> tuple[Institution, ...]:
    """The institutions named as co-issuers; InvalidInput unless each can co-issue."""
    for slug in slugs:
        if slug not in co_issuing:
            offered = ", ".join(sorted(co_issuing)) or "none are configured"
            why = (
                "is the issuer itself"
                if slug == issuer.slug
                else "is not a co-issuing institution of this instance"
            )
            raise InvalidInput(
                FieldProblem("co_issuers", f"{slug!r} {why} (co-issuers: {offered})")
            )
    return tuple(co_issuing[slug] for slug in slugs)


def check_request(
    raw: Mapping[str, Any],
    *,
    today: date,
    issuer: Institution,
    co_issuing: Mapping[str, Institution],
    templates: TemplateCatalog,
) -> tuple[DiplomaRequest, tuple[Institution, ...]]:
    """Everything issuance checks before a serial is spent: the values, the co-issuers,
    and that the page can print them. Returns the request and its co-issuers;
    InvalidInput names each refused field."""
    request = parse_request(raw, today=today)
    templates.ensure_template(request.template)
    co_issuers = resolve_co_issuers(issuer, co_issuing, request.co_issuers)
    # Lay the page out before anything is stored: a value that cannot be printed must be
    # refused now, not discovered after its serial was committed.
    templates.check(
        claims_for(issuer, request, placeholder_id(), widest_serial(issuer), co_issuers),
        request.template,
    )
    return request, co_issuers


def widest_serial(institution: Institution) -> str:
    """A serial as wide as any real one, for checking that a page will fit."""
    return f"{institution.serial_prefix}-8888-888888"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _stored_state(diploma: Diploma, superseded: Sequence[SupersededRecord] = ()) -> StoredState:
    return StoredState(
        diploma.record,
        diploma.status,
        diploma.revoked_at,
        diploma.revocation_reason,
        diploma.suspended_at,
        diploma.suspension_reason,
        tuple(superseded),
    )


def record_version(record: bytes) -> int:
    return claims_from_credential(parse_record(record)).version


class RecordMaker:
    """Makes diplomas' signed records at one moment: the claims of a request with its id,
    serial and status entries, signed by the issuer's record key and then by each
    co-issuer's. The one place a record is made, for single and bulk issuance alike; the
    repository calls it (`issue_many`) once it has numbered the diploma."""

    def __init__(self, service: DiplomaService, now: datetime) -> None:
        self._service = service
        self._signer = service.record_keys.signer()
        self.now = now
        # Keys retired since this process read its keys (a rotation on another machine,
        # or on this one while a batch runs) must not sign. The issuer's key is checked by
        # each issuing transaction (`issue_many`, before it calls this); a co-issuer's as a
        # record names it, against the audit log read once, when a record first needs it
        # (a diploma without co-issuers, most of them, costs no read here).
        self._retired: dict[str, str] | None = None

    def _refuse_retired(self, signers: Sequence[RecordSigner]) -> None:
        if not signers:
            return
        if self._retired is None:
            self._retired = self._service.repository.retired_keys()
        retired = self._retired
        refuse_retired_key({s.key_id: retired[s.key_id] for s in signers if s.key_id in retired})

    @property
    def key_id(self) -> str:
        return self._signer.key_id

    def __call__(
        self,
        request: DiplomaRequest,
        diploma_id: str,
        serial: str,
        status: tuple[StatusEntry, ...],
    ) -> bytes:
        service = self._service
        co_issuers = service.co_issuers_of(request.co_issuers)
        signers = [self._signer, *(service.co_issuer_keys[i.slug].signer() for i in co_issuers)]
        self._refuse_retired(signers[1:])
        claims = claims_for(service.institution, request, diploma_id, serial, co_issuers, status)
        return signed_record(claims, signers, self.now)


class DiplomaService:
    def __init__(
        self,
        *,
        institutions: Sequence[Institution],
        repository: DiplomaRepository,
        pdf_store: PdfStore,
        renderer: PdfRenderer,
        templates: TemplateCatalog,
        pdf_signer: PdfSigner,
        pdf_validator: PdfValidator,
        record_keys: RecordKeys,
        batches: BatchStore,
        co_issuer_keys: Mapping[str, IssuerKeys] | None = None,
        clock: Clock | None = None,
        audit: AuditLog | None = None,
        actor: str | Callable[[], str] = SYSTEM_ACTOR,
        verdicts: VerdictCache | None = None,
        passwords: PasswordHasher | None = None,
        account_store: AccountStore | None = None,
        session_policy: SessionPolicy | None = None,
        production: bool = False,
        national_id_hasher: Callable[[str], str] | None = None,
        holder_link_key: bytes | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        if not institutions:
            raise ConfigurationError("an instance needs at least one institution")
        self.institutions = tuple(institutions)
        self.repository = repository
        self.pdf_store = pdf_store
        self.renderer = renderer
        self.templates = templates
        self.pdf_signer = pdf_signer
        self.pdf_validator = pdf_validator
        self.record_keys = record_keys
        self.co_issuer_keys = dict(co_issuer_keys or {})
        self.batches = batches
        self.clock = clock or SystemClock()
        self.audit = audit
        self._actor = actor
        self.verdicts = verdicts
        """Verdicts by id kept between requests (see `verdicts`); None keeps none."""
        self._status_lists: dict[str, SignedStatusList] = {}
        self._passwords = passwords
        self.account_store = account_store
        self.session_policy = session_policy or SessionPolicy()
        self.production = production
        """Whether the instance runs in production: the two-person rule's default."""
        self._viewer: User | None = None
        """The person this view of the service answers (`as_user`): None for the
        instance itself (the command line, tokens of nobody, background work)."""
        self._dummy_hash: str | None = None
        self._hash_national_id = national_id_hasher
        """The keyed hash stored for national ids (the key store's); without it, a
        search does not look for national ids."""
        self._holder_link_key = holder_link_key
        self.outbox = outbox
        """Mail to holders (`core.outbox`); None: no mail state is shown or resent."""

    # -- audit -----------------------------------------------------------------------------

    def acting_as(self, actor: str | Callable[[], str]) -> DiplomaService:
        """This service, recording `actor` (or what it returns when a change is made) in
        the audit log for calls that name none: the API binds each request's token."""
        view = copy.copy(self)
        view._actor = actor
        return view

    def as_user(self, user: User | None) -> DiplomaService:
        """This service as `user` may use it: a co-issuing institution's person finds only
        the diplomas their institution co-issued (others are not found), sees only the
        proposals that need their institution, and changes nothing in the issuer's name.
        The API binds each token's owner, the console each signed-in person."""
        view = copy.copy(self)
        view._viewer = user
        return view

    def _reachable(self, diploma: Diploma) -> bool:
        return reaches(self._viewer, diploma.institution.slug, [i.slug for i in diploma.co_issuers])

    def require_issuer(self) -> None:
        """Forbidden unless the viewer may act in the issuer's name (a roster upload asks
        before it is read)."""
        self._for_issuer()

    def _for_issuer(self) -> None:
        """Forbidden unless the viewer may act in the issuer's name."""
        viewer = self._viewer
        if not of_issuer(viewer, self.institution.slug):
            assert viewer is not None
            raise Forbidden(
                f"{viewer.email} belongs to {viewer.institution}: only "
                f"{self.institution.slug}'s people issue, correct or revoke its diplomas"
            )

    def _who(self, actor: str | None) -> str:
        if actor:
            return actor
        return self._actor() if callable(self._actor) else self._actor

    @property
    def institution(self) -> Institution:
        return self.institutions[0]

    @property
    def logos(self) -> dict[str, str]:
        """Every institution's logo by each of its DIDs (see `render_signed`)."""
        return {did: path for i in self.institutions for did, path in i.logos.items()}

    @property
    def co_issuing(self) -> dict[str, Institution]:
        """The institutions that can co-issue: this instance's others, with keys to sign."""
        return {i.slug: i for i in self.institutions[1:] if i.slug in self.co_issuer_keys}

    def co_issuers_of(self, slugs: Sequence[str]) -> tuple[Institution, ...]:
        return resolve_co_issuers(self.institution, self.co_issuing, slugs)

    def co_signers(self, co_issuers: Sequence[Institution]) -> list[PdfSigner]:
        return [self.co_issuer_keys[i.slug].pdf_signer() for i in co_issuers]

    # -- issuing ---------------------------------------------------------------------------

    def issue(self, raw: Mapping[str, Any], *, actor: str | None = None) -> IssueOutcome:
        """Validate, number, sign, store, render and PAdES-sign one diploma.

        The record and its serial are committed in one transaction; the PDF is derived
        from the committed record, so a crash after the commit loses nothing (`pdf()`
        renders it again on demand). Re-issuing a known `external_id` returns the stored
        diploma and issues nothing.

        ApprovalRequired when the two-person rule applies to the issuer or a co-issuer:
        such a diploma is proposed (`propose_issue`, or `submit_issue`) and issued by the
        approval that completes it.
        """
        self._for_issuer()
        now = self.clock.now()
        request, co_issuers = self._check(raw, now)
        required = self.required_approvals(co_issuers)
        if required:
            raise ApprovalRequired(
                f"the two-person rule applies to {', '.join(required)}: this diploma must be "
                "proposed and approved by an approver who is not the proposer"
            )
        return self._issue(request, now, self._who(actor), with_date=bool(raw.get("issued_on")))

    def _check(
        self, raw: Mapping[str, Any], now: datetime
    ) -> tuple[DiplomaRequest, tuple[Institution, ...]]:
        return check_request(
            raw,
            today=now.date(),
            issuer=self.institution,
            co_issuing=self.co_issuing,
            templates=self.templates,
        )

    def _issue(
        self,
        request: DiplomaRequest,
        now: datetime,
        actor: str,
        *,
        proposal: str | None = None,
        national_id_hash: str = "",
        with_date: bool = True,
    ) -> IssueOutcome:
        """Number, sign, store, render and PAdES-sign a checked request (see `issue`).
        `with_date`: the request named its date (so a re-send must name the same one)."""
        records = RecordMaker(self, now)
        # A batch of one, through the path every batch's rows take.
        [(diploma, created)] = self.repository.issue_many(
            self.institution,
            [(request, row_key(request))],
            records.key_id,
            records,
            now,
            actor=actor,
            proposal=proposal,
            national_id_hash=national_id_hash,
        )
        if not created:
            self.check_same_request(diploma, request, with_date=with_date)
            return IssueOutcome(diploma, False, self.pdf(diploma.id))
        pdf = self._render_signed(diploma)
        return IssueOutcome(diploma, True, pdf)

    def check_same_request(
        self, stored: Diploma, request: DiplomaRequest, *, with_date: bool
    ) -> None:
        """ExternalIdTaken unless `request`, sent again with the external id of `stored`,
        says what `stored` says: an identical re-send returns the stored diploma, another
        one is a correction to make on purpose (`correct`). `issued_on` is compared only
        `with_date` (else it defaulted to today); the national id by its keyed hash."""
        fields = differences(stored.request, request, with_date=with_date)
        if request.national_id and not self.repository.same_national_id(
            stored.id, request.national_id
        ):
            fields.append("national_id")
        if fields:
            raise ExternalIdTaken(request.external_id, fields, stored.id, stored.serial)

    def changed_external_ids(
        self, requests: Sequence[tuple[DiplomaRequest, bool]]
    ) -> dict[int, ExternalIdTaken]:
        """For a roster's rows (request, whether its date was given), by position: those
        whose external id is issued already with other details (see
        `check_same_request`). Rows without an external id, new ones and identical
        re-sends are left out. A few queries for the lot."""
        ids = [r.external_id for r, _ in requests if r.external_id]
        stored = self.repository.by_external_ids(self.institution.slug, ids) if ids else {}
        changed: dict[int, ExternalIdTaken] = {}
        for index, (request, with_date) in enumerate(requests):
            found = stored.get(request.external_id) if request.external_id else None
            if found is None:
                continue
            diploma, has_national_id = found
            fields = differences(diploma.request, request, with_date=with_date)
            if request.national_id and (
                not has_national_id
                or not self.repository.same_national_id(diploma.id, request.national_id)
            ):
                fields.append("national_id")
            if fields:
                changed[index] = ExternalIdTaken(
                    request.external_id, fields, diploma.id, diploma.serial
                )
        return changed

    def _render_signed(self, diploma: Diploma) -> bytes:
        pdf = render_signed(
            self.renderer,
            self.pdf_signer,
            diploma.record,
            diploma.request.template,
            self.co_signers(diploma.co_issuers),
            self.logos,
        )
        self.pdf_store.put(diploma.id, pdf)
        self.repository.set_pdf_sha256(diploma.id, hashlib.sha256(pdf).hexdigest())
        return pdf

    def pdf(self, diploma_id: str) -> bytes:
        """The current version's signed PDF: the stored file, unless it is missing or is
        not the one the database names (a correction committed whose new PDF was not
        stored yet), in which case it is printed and signed again from the record."""
        diploma = self.get(diploma_id)
        stored = self.pdf_store.get(diploma.id)
        if stored is not None and (
            not diploma.pdf_sha256 or hashlib.sha256(stored).hexdigest() == diploma.pdf_sha256
        ):
            return stored
        return self._render_signed(diploma)

    # -- corrections -----------------------------------------------------------------------

    def check_correction(self, reference: str, changes: Mapping[str, Any]) -> CorrectionPlan:
        """What correcting the diploma named by `reference` (id or serial) with `changes`
        (field to new value, as `issue` takes them) would change, checked by the rules
        of issuance; nothing is stored or signed. InvalidInput names every refused field
        (and says when nothing would change); Conflict if the diploma is revoked; NotFound.
        See `core.corrections` for the fields that may change."""
        self._for_issuer()
        return self._check_correction(self.find_reference(reference), changes)

    def _check_correction(
        self,
        diploma: Diploma,
        changes: Mapping[str, Any],
        *,
        national_id_hash: str = "",
        national_id_shown: str = "",
    ) -> CorrectionPlan:
        """`check_correction` of a diploma read already; `national_id_hash` (shown as
        `national_id_shown`) is a new national id by its keyed hash, as a correction
        proposal keeps it."""
        if diploma.status is DiplomaStatus.REVOKED:
            raise Conflict(
                f"diploma {diploma.serial} is revoked; revocation is final, so it cannot be "
                f"corrected"
            )
        if not changes and not national_id_hash:
            raise InvalidInput(
                FieldProblem("changes", "nothing to correct: name a field to change")
            )
        refused = refused_fields(changes)
        stored = diploma.request
        allowed = {k: v for k, v in changes.items() if k not in {p.field for p in refused}}
        if diploma.institution.slug != self.institution.slug:
            raise ConfigurationError(
                f"diploma {diploma.serial} was issued by {diploma.institution.slug}, not by "
                f"{self.institution.slug}, which signs here: it cannot be corrected here"
            )
        unsigned = [i.slug for i in diploma.co_issuers if i.slug not in self.co_issuing]
        if unsigned:
            raise ConfigurationError(
                f"diploma {diploma.serial} is awarded jointly with {', '.join(unsigned)}, "
                f"whose keys are not on this instance: it cannot be signed again here"
            )
        try:
            request, co_issuers = check_request(
                {**raw_of(stored), **allowed},
                today=self.clock.now().date(),
                issuer=diploma.institution,
                co_issuing=self.co_issuing,
                templates=self.templates,
            )
        except InvalidInput as exc:
            raise InvalidInput([*refused, *exc.problems]) from None
        if refused:
            raise InvalidInput(refused)
        if solar_hijri_year(request.issued_on) != solar_hijri_year(stored.issued_on):
            raise InvalidInput(
                FieldProblem(
                    "issued_on",
                    f"falls in another Solar Hijri year than the one serial {diploma.serial} "
                    f"is numbered in ({solar_hijri_year(stored.issued_on)}); a correction "
                    f"keeps the serial, so revoke this diploma and issue a new one",
                )
            )
        found = [
            FieldChange(f, text_of(getattr(stored, f)), text_of(getattr(request, f)))
            for f in (*SIGNED_FIELDS, "template", "email")
            if getattr(stored, f) != getattr(request, f)
        ]
        if request.national_id and not self.repository.same_national_id(
            diploma.id, request.national_id
        ):
            found.append(FieldChange("national_id", "", masked(request.national_id)))
        elif national_id_hash and not self.repository.has_national_id_hash(
            diploma.id, national_id_hash
        ):
            found.append(FieldChange("national_id", "", national_id_shown))
        if not found:
            raise InvalidInput(
                FieldProblem(
                    "changes",
                    f"nothing to correct: diploma {diploma.serial} already says that",
                )
            )
        return CorrectionPlan(
            diploma, request, co_issuers, tuple(found), dict(changes), national_id_hash
        )

    def apply_correction(
        self, plan: CorrectionPlan, *, actor: str | None = None
    ) -> CorrectionOutcome:
        """Carry out a checked correction: a new version of the record under the same id,
        serial, status entries and QR link (when what it says changed), a new PDF printed
        and signed (when the record or the design changed), the replaced version kept,
        one audit entry (`diploma.corrected`, naming the fields). Conflict if the diploma
        was revoked or changed since it was checked.

        ApprovalRequired when the two-person rule applies to the issuer or a co-issuer:
        such a correction is proposed (`propose_correction`, or `submit_correction`) and
        applied by the approval that completes it."""
        required = self.required_approvals(plan.co_issuers)
        if required:
            raise ApprovalRequired(
                f"the two-person rule applies to {', '.join(required)}: this correction "
                "must be proposed and approved by an approver who is not the proposer"
            )
        return self._apply_correction(plan, self._who(actor))

    def _apply_correction(
        self, plan: CorrectionPlan, actor: str, *, proposal: str | None = None
    ) -> CorrectionOutcome:
        """`apply_correction` without the rule's check: the rule does not apply, or
        `proposal` is the approved proposal of this correction (checked under its lock
        in the transaction that stores the correction: nothing is stored otherwise)."""
        now = self.clock.now()
        diploma = plan.diploma
        old_claims = claims_from_credential(parse_record(diploma.record))
        record: bytes | None = None
        replaced_qr = ""
        version = old_claims.version
        key_id = diploma.key_id
        if plan.signs:
            r = plan.request
            version += 1
            # The issuers, signatories, link and status entries are those the diploma
            # was issued with: a correction changes what was corrected, nothing else.
            claims = replace(
                old_claims,
                name=r.name,
                name_en=r.name_en,
                award=r.award,
                award_en=r.award_en,
                citation=r.citation,
                field=r.field,
                issued_on=r.issued_on,
                qr_signature="",
                version=version,
                supersedes=record_digest(diploma.record),
            )
            signer = self.record_keys.signer()
            signers = [signer, *(self.co_issuer_keys[i.slug].signer() for i in plan.co_issuers)]
            record = signed_record(claims, signers, now)
            key_id = signer.key_id
            if old_claims.qr_signature and old_claims.qr_claims != claims.qr_claims:
                # The old QR code now says what is no longer true (a name, a date).
                replaced_qr = qrproof.signature_sha256(old_claims.qr_signature)
        pdf: bytes | None = None
        if plan.prints:
            pdf = render_signed(
                self.renderer,
                self.pdf_signer,
                record if record is not None else diploma.record,
                plan.request.template,
                self.co_signers(plan.co_issuers),
                self.logos,
            )
        try:
            corrected = self.repository.correct(
                diploma.id,
                expected_record=diploma.record,
                request=plan.request,
                record=record,
                record_sha256=record_digest(record) if record is not None else "",
                key_id=key_id,
                pdf_sha256=hashlib.sha256(pdf).hexdigest() if pdf is not None else "",
                at=now,
                fields=plan.fields,
                actor=actor,
                replaced_qr_sha256=replaced_qr,
                national_id_hash=plan.national_id_hash,
                proposal=proposal,
            )
        finally:
            if self.verdicts is not None:
                self.verdicts.forget(diploma.id)
        if pdf is not None:
            self.pdf_store.put(corrected.id, pdf)
        return CorrectionOutcome(corrected, plan, version, pdf)

    def correct(
        self, reference: str, changes: Mapping[str, Any], *, actor: str | None = None
    ) -> CorrectionOutcome:
        """`check_correction`, then `apply_correction` (ApprovalRequired where the
        two-person rule applies: see `submit_correction`)."""
        return self.apply_correction(self.check_correction(reference, changes), actor=actor)

    def submit_correction(
        self, reference: str, changes: Mapping[str, Any], proposer: Actor
    ) -> CorrectionOutcome | Proposal:
        """Correct a diploma, or propose the correction when the two-person rule applies
        to its issuer or one of its co-issuers (then nothing is signed or stored until
        it is approved). Checked as `check_correction` checks it."""
        plan = self.check_correction(reference, changes)
        if not self.required_approvals(plan.co_issuers):
            return self._apply_correction(plan, proposer.label)
        return self._propose_correction(plan, proposer)

    def propose_correction(
        self, reference: str, changes: Mapping[str, Any], proposer: Actor
    ) -> Proposal:
        """Propose a correction: checked now (`check_correction`), stored as it will be
        applied with the digest of the record it was checked against, nothing signed.
        It needs the approval of each institution the rule applies to (of the issuer at
        least, when it applies to none). Approving refuses (Conflict) once the diploma
        was corrected or revoked since."""
        return self._propose_correction(self.check_correction(reference, changes), proposer)

    def _propose_correction(self, plan: CorrectionPlan, proposer: Actor) -> Proposal:
        now = self.clock.now()
        diploma = plan.diploma
        required = self.required_approvals(plan.co_issuers) or (self.institution.slug,)
        correction = CorrectionRequest(
            diploma_id=diploma.id,
            serial=diploma.serial,
            changes={k: text_of(v) for k, v in plan.requested.items() if k != "national_id"},
            shown=plan.changes,
            base_sha256=record_digest(plan.base_record),
            national_id=plan.request.national_id if "national_id" in plan.fields else "",
        )
        proposal = self._new_proposal(
            ProposalKind.CORRECTION,
            required,
            proposer,
            now,
            correction=correction,
            diploma_id=diploma.id,
        )
        self.repository.add_proposal(proposal, self._created_details(proposal, 1))
        return self.proposal(proposal.id)

    def _correction_plan(self, proposal: Proposal) -> CorrectionPlan:
        """The plan of a correction proposal, checked again against the diploma as it is
        now: Conflict (nothing signed) when it was revoked, or corrected since it was
        proposed, or the correction no longer applies as proposed."""
        c = proposal.correction
        assert c is not None
        diploma = self.get(c.diploma_id)
        if diploma.status is DiplomaStatus.REVOKED:
            raise Conflict(
                f"diploma {diploma.serial} was revoked since proposal {proposal.id} was made; "
                "revocation is final: nothing is signed (reject the proposal)"
            )
        refusal = rule.correction_refusal(proposal, record_digest(diploma.record))
        if refusal is not None:
            raise Conflict(refusal)
        shown = next((f.new for f in c.shown if f.field == "national_id"), "")
        try:
            plan = self._check_correction(
                diploma,
                c.changes,
                national_id_hash=proposal.national_id_hash,
                national_id_shown=shown,
            )
        except InvalidInput as exc:
            raise Conflict(
                f"proposal {proposal.id} no longer applies to diploma {diploma.serial} "
                f"({exc}): nothing is signed (reject it, and propose again)"
            ) from None
        if plan.changes != c.shown:
            raise Conflict(
                f"diploma {diploma.serial} changed since proposal {proposal.id} was made: "
                "nothing is signed (reject it, and propose the correction again)"
            )
        return plan

    def versions(self, diploma_id: str) -> list[DiplomaVersion]:
        """Every version of the diploma, the first issued first, the current one last."""
        diploma = self.get(diploma_id)
        earlier = self.repository.versions(diploma.id)
        current = DiplomaVersion(
            diploma_id=diploma.id,
            version=record_version(diploma.record),
            record_sha256=record_digest(diploma.record),
            pdf_sha256=diploma.pdf_sha256,
            issued_at=(earlier[-1].superseded_at or diploma.issued_at)
            if earlier
            else diploma.issued_at,
        )
        return [*earlier, current]

    def superseded_records(self, institution: str | None = None) -> list[SupersededRecord]:
        """The replaced versions of the diplomas of `institution` (a slug; every
        institution's if None): ids, digests and dates, for trust bundles."""
        return self.repository.superseded_records(institution)

    def _find(self, diploma_id: str) -> Diploma | None:
        """The stored diploma or None. A malformed id costs the same lookup as an unknown
        one, so neither the answer nor its timing tells the two apart."""
        well_formed = is_diploma_id(diploma_id)
        found = self.repository.get(diploma_id if well_formed else placeholder_id())
        return found if well_formed else None

    def find_reference(self, reference: str) -> Diploma:
        """The diploma an office names by its id or by the serial printed on it (Persian
        or ASCII digits, any case): the command line's way in, where people have serials.
        The public routes take ids only."""
        serial = ascii_digits(reference.strip()).upper()
        if is_serial(serial):
            found = self.repository.get_by_serial(serial)
            if found is None or not self._reachable(found):
                raise NotFound(f"no diploma with serial {serial}")
            return found
        return self.get(reference.strip())

    def lookup_serial(self, serial: str, family_name: str) -> str | None:
        """The id of the diploma with this printed serial, if `family_name` is its holder's
        (see `core.lookup`); None for no such serial and for a wrong name alike, after the
        same read and the same comparisons. InvalidInput when a field is missing."""
        wanted = serial_of(serial)
        given = family_name_key(family_name)
        problems = []
        if not wanted:
            problems.append(FieldProblem("serial", "the serial printed on the diploma is required"))
        if given is None:
            problems.append(
                FieldProblem(
                    "family_name", "the holder's family name (2 letters or more) is required"
                )
            )
        if problems or given is None:
            raise InvalidInput(problems)
        # A malformed serial costs the same read as an unknown one.
        found = self.repository.serial_holder(
            wanted if is_serial(wanted) else widest_serial(self.institution)
        )
        holder = found[1:] if found is not None else DUMMY_HOLDER
        matched = family_name_matches(given, family_name_candidates(*holder))
        return found[0] if found is not None and matched and is_serial(wanted) else None

    def get(self, diploma_id: str) -> Diploma:
        diploma = self._find(diploma_id)
        if diploma is None or not self._reachable(diploma):
            raise NotFound("no diploma with this id")
        return diploma

    def batch(self, batch_id: str) -> Batch:
        found = self.batches.get(batch_id) if is_diploma_id(batch_id) else None
        if found is None or not of_issuer(self._viewer, found.institution):
            raise NotFound("no batch with this id")
        return found

    def recent_batches(self, limit: int = 50, offset: int = 0) -> list[Batch]:
        if not of_issuer(self._viewer, self.institution.slug):
            return []
        return self.batches.recent(max(1, min(limit, 500)), max(0, offset))

    @overload
    def search(self, query: DiplomaQuery) -> SearchResult: ...

    @overload
    def search(self, query: str, offset: int, limit: int) -> tuple[Sequence[Diploma], int]: ...

    def search(
        self, query: DiplomaQuery | str, offset: int = 0, limit: int = 0
    ) -> SearchResult | tuple[Sequence[Diploma], int]:
        """Find diplomas: with a `DiplomaQuery`, one page of them and how many match (see
        `SearchResult`); text that is a national id (any digits) also finds the diploma
        stored with that id's keyed hash. The older form (text, offset, limit) answers
        (diplomas newest first, exact count)."""
        viewer = self._viewer
        outside = viewer is not None and not of_issuer(viewer, self.institution.slug)
        if isinstance(query, str):
            if not outside:
                return self.repository.search(normalize(query), offset, limit)
            assert viewer is not None
            page = self.search(
                DiplomaQuery(text=query, co_issuer=viewer.institution, offset=offset, limit=limit)
            )
            return page.items, page.total
        if outside:
            assert viewer is not None
            query = replace(query, co_issuer=viewer.institution)
        national_id = national_id_in(query.text)
        digest = None
        if national_id is not None and self._hash_national_id is not None:
            digest = self._hash_national_id(national_id)
        return self.repository.find(query, digest)

    def revoke(
        self, diploma_id: str, reason: str, *, note: str = "", actor: str | None = None
    ) -> Diploma:
        """Revoke for good, with a public reason from `core.reasons` and a private note
        (free text given as the reason becomes the note: see `reasons.choose`)."""
        self._for_issuer()
        code, note = choose("revoke", reason, note)
        return self._change_status(
            diploma_id,
            lambda: self.repository.revoke(
                diploma_id, code, self.clock.now(), note=note, actor=self._who(actor)
            ),
        )

    # -- suspension and status lists -------------------------------------------------------

    def suspend(
        self, diploma_id: str, reason: str, *, note: str = "", actor: str | None = None
    ) -> Diploma:
        """Suspend until `unsuspend`; Conflict if revoked (final) or suspended already.
        The reason and note as for `revoke`."""
        self._for_issuer()
        code, note = choose("suspend", reason, note)
        return self._change_status(
            diploma_id,
            lambda: self.repository.suspend(
                diploma_id, code, self.clock.now(), note=note, actor=self._who(actor)
            ),
        )

    def unsuspend(self, diploma_id: str, *, actor: str | None = None) -> Diploma:
        """Lift a suspension; Conflict if the diploma is revoked or not suspended."""
        self._for_issuer()
        return self._change_status(
            diploma_id,
            lambda: self.repository.unsuspend(diploma_id, self.clock.now(), actor=self._who(actor)),
        )

    def status_list(self, name: str) -> SignedStatusList:
        """The signed status list credential `name` (`revocation-1`, `suspension-1`, ...).

        Signed again only when a status on the list changed since the copy in memory or
        in the database was signed, or the record key changed; otherwise serving it costs
        one small query.
        """
        purpose, number = parse_list_name(name)
        version = self.repository.status_list_version(number)
        if version is None:
            raise NotFound(f"no status list {name!r}")
        signer = self.record_keys.signer()

        def fresh(signed: SignedStatusList | None) -> bool:
            return (
                signed is not None
                and signed.version == version
                and signed.key_id == signer.verification_method
            )

        cached = self._status_lists.get(name)
        if fresh(cached):
            assert cached is not None
            return cached
        stored = self.repository.signed_status_list(name)
        if not fresh(stored):
            bits = self.repository.status_list_bits(number, purpose)
            if bits is None:
                raise NotFound(f"no status list {name!r}")
            built_version, size, indexes = bits
            now = self.clock.now()
            document = status_list_credential(
                url=list_url(self.institution.public_url, purpose, number),
                issuer=self.institution.did,
                purpose=purpose,
                size=size,
                set_indexes=indexes,
                valid_from=now,
            )
            stored = SignedStatusList(
                name,
                built_version,
                signer.verification_method,
                sign_status_list(document, signer, now),
            )
            self.repository.store_signed_status_list(stored, now)
        assert stored is not None
        self._status_lists[name] = stored
        return stored

    # -- verification ----------------------------------------------------------------------

    def keyring(self) -> KeyRing:
        """Every record key of every institution here: the issuer's and the co-issuers'."""
        own = self.record_keys.keyring()
        if not self.co_issuer_keys:
            return own
        return KeyRing(
            [*own, *(k for keys in self.co_issuer_keys.values() for k in keys.keyring())]
        )

    def verify_id(self, diploma_id: str) -> Verdict:
        """The public verdict for an id; malformed and unknown ids answer alike."""
        return self.verdict(diploma_id).verdict

    def verdict(self, diploma_id: str) -> CachedVerdict:
        """The public verdict for an id, from the verdict cache when it holds it (after a
        look at what changed, when one is due), else worked out and kept there."""
        cache = self.verdicts
        if cache is not None:
            cache.look(self.keyring)
            kept = cache.get(diploma_id)
            if kept is not None:
                return kept
            generation = cache.generation
        diploma = self._find(diploma_id)
        verdict = verdict_for_stored(
            _stored_state(diploma) if diploma else None, self.keyring(), self.vouchers()
        )
        if cache is None or diploma is None:
            return CachedVerdict(verdict)
        return cache.put(diploma_id, verdict, generation)

    def warm_verdicts(self, at_most: int) -> list[CachedVerdict]:
        """Work out and keep the verdicts of the newest `at_most` diplomas (the verdict
        cache keeps as many as it holds), so that the first requests after a start
        answer from memory rather than queueing for the database; the verdicts kept."""
        if self.verdicts is None or at_most <= 0:
            return []
        newest, _ = self.repository.search("", 0, at_most)
        return [self.verdict(diploma.id) for diploma in newest]

    def look_ahead(self) -> None:
        """Bring the verdict cache up to date with changes made elsewhere, if it is due for
        it soon (see `VerdictCache.look_ahead`); reads the database."""
        if self.verdicts is not None:
            self.verdicts.look_ahead(self.keyring)

    def kept_verdict(self, diploma_id: str) -> CachedVerdict | None:
        """The verdict cache's answer when it has one and no look is due (no I/O)."""
        return None if self.verdicts is None else self.verdicts.fresh(diploma_id)

    def _change_status(self, diploma_id: str, change: Callable[[], Diploma]) -> Diploma:
        """Apply a status change to an existing diploma, and drop its kept verdict."""
        self.get(diploma_id)
        try:
            return change()
        finally:
            if self.verdicts is not None:
                self.verdicts.forget(diploma_id)

    def verify_pdf(self, pdf: bytes) -> Verdict:
        report = self.pdf_validator.inspect(pdf)

        def lookup(diploma_id: str) -> StoredState | None:
            found = self.repository.get(diploma_id) if is_diploma_id(diploma_id) else None
            if found is None:
                return None
            superseded = [
                SupersededRecord(v.diploma_id, v.record_sha256, v.superseded_at, v.version)
                for v in self.repository.versions(found.id)
                if v.superseded_at is not None
            ]
            return _stored_state(found, superseded)

        return verdict_for_document(report, self.keyring(), lookup, self.vouchers())

    def vouchers(self) -> dict[str, str]:
        """Each institution configured here vouches for its own DIDs only: its keys and
        roots were loaded from its own key store, never from another's."""
        return {
            did: f"this server's keys for {i.name_en or i.name}"
            for i in self.institutions
            for did in i.dids
        }

    def jwks(self) -> dict[str, Any]:
        """Every institution's record keys, each once: as its current DID names it (the
        ring also holds each key under the former DIDs; the DID documents list those)."""
        current = {i.did for i in self.institutions}
        return {"keys": [_jwk_with_validity(k) for k in self.keyring() if k.controller in current]}

    # -- the audit log ---------------------------------------------------------------------

    def audit_trail(
        self,
        *,
        actor: str = "",
        action: str = "",
        subject: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, filtered by who (a part of the actor), what (the
        action), the subject (a diploma, token or user id) and when."""
        if self.audit is None:
            return []
        if not 1 <= limit <= 10_000 or offset < 0:
            raise InvalidInput(FieldProblem("limit", "must be 1 to 10000"))
        return self.audit.entries(
            limit,
            action=action,
            subject=subject,
            actor=actor.strip(),
            since=since,
            until=until,
            offset=offset,
        )

    def audit_check(self) -> ChainVerdict | None:
        """The audit chain's verification (None without an audit log)."""
        return None if self.audit is None else self.audit.verify()

    def design_names(self) -> tuple[str, ...]:
        """The designs a diploma may name (the built-in ones and the instance's own)."""
        names = getattr(self.templates, "names", None)
        return tuple(names()) if callable(names) else ()

    def page_preview(self, raw: Mapping[str, Any]) -> bytes:
        """The page that `issue(raw)` would make, as an unsigned PDF with a placeholder id
        and serial: nothing is stored or signed. InvalidInput as `issue` would say."""
        now = self.clock.now()
        request, co_issuers = check_request(
            raw,
            today=now.date(),
            issuer=self.institution,
            co_issuing=self.co_issuing,
            templates=self.templates,
        )
        claims = claims_for(
            self.institution,
            request,
            placeholder_id(),
            widest_serial(self.institution),
            co_issuers,
            (),
        )
        return self.renderer.render(claims, request.template, self.logos)

    # -- the two-person rule ---------------------------------------------------------------

    def rule_applies(self, institution: Institution) -> bool:
        """Whether `institution`'s diplomas wait for an approver (`core.proposals`)."""
        return rule.rule_applies(institution, self.production)

    def required_approvals(self, co_issuers: Sequence[Institution]) -> tuple[str, ...]:
        """The institutions that must approve a diploma with these co-issuers (none: it
        is issued at once)."""
        return rule.required_institutions(self.institution, co_issuers, self.production)

    @property
    def rule_anywhere(self) -> bool:
        """Whether the rule applies to the issuer or to any institution that co-issues."""
        return any(self.rule_applies(i) for i in (self.institution, *self.co_issuing.values()))

    def actor_for_token(self, token: TokenRecord) -> Actor:
        """Who acts with this (checked) token: its owner with the token's scopes, or
        nobody (a token made before users existed, which may propose but never approve)."""
        owner = None if token.owner_id is None else self.repository.get_user(token.owner_id)
        return Actor(token.actor, owner, token.scopes)

    def sign_in(self, email: str, password: str, *, where: str = "command line") -> Actor:
        """The active user with this email and password, acting with their role's
        permissions; Unauthorized, in the same words whatever was wrong."""
        try:
            user: User | None = self.repository.user_by_email(normalize_email(email))
        except InvalidInput:
            user = None
        # An unknown email costs a hash check too, so the time taken tells nothing.
        stored = user.password_hash if user is not None else self._unknown_user_hash()
        matches = self.passwords.verify(stored, password)
        if user is None or not matches or not user.active:
            raise Unauthorized("the email or the password is wrong, or the user is disabled")
        return Actor(user_sign_in_actor(user.email, where), user, ROLE_SCOPES[user.role])

    def _unknown_user_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def submit_issue(self, raw: Mapping[str, Any], proposer: Actor) -> IssueOutcome | Proposal:
        """Issue one diploma, or propose it when the two-person rule applies to the
        issuer or one of its co-issuers (then nothing is signed until it is approved)."""
        self._for_issuer()
        now = self.clock.now()
        request, co_issuers = self._check(raw, now)
        with_date = bool(raw.get("issued_on"))
        if not self.required_approvals(co_issuers):
            return self._issue(request, now, proposer.label, with_date=with_date)
        issued = self._issued_as(request)
        if issued is not None:  # as `issue` answers a known external id: nothing proposed
            self.check_same_request(issued, request, with_date=with_date)
            return IssueOutcome(issued, False, self.pdf(issued.id))
        return self._propose(request, co_issuers, now, proposer)

    def _issued_as(self, request: DiplomaRequest) -> Diploma | None:
        """The diploma issued already for the request's external id, if any."""
        if not request.external_id:
            return None
        return self.repository.get_by_external_id(self.institution.slug, request.external_id)

    def propose_issue(self, raw: Mapping[str, Any], proposer: Actor) -> Proposal:
        """Propose one diploma: checked now as issuing would check it (InvalidInput names
        each refused field), stored as it will be issued, nothing signed and no serial
        spent. It needs the approval of each institution the rule applies to (of the
        issuer at least, when it applies to none)."""
        self._for_issuer()
        now = self.clock.now()
        request, co_issuers = self._check(raw, now)
        if self._issued_as(request) is not None:
            raise Conflict(
                f"a diploma with external_id {request.external_id} was issued already: "
                "nothing proposed"
            )
        return self._propose(request, co_issuers, now, proposer)

    def _propose(
        self,
        request: DiplomaRequest,
        co_issuers: Sequence[Institution],
        now: datetime,
        proposer: Actor,
    ) -> Proposal:
        required = self.required_approvals(co_issuers) or (self.institution.slug,)
        proposal = self._new_proposal(
            ProposalKind.DIPLOMA, required, proposer, now, request=request
        )
        self.repository.add_proposal(proposal, self._created_details(proposal, 1))
        return proposal

    def propose_batch(
        self, batch: Batch, plan: BatchPlan, proposer: Actor, *, required: Sequence[str] = ()
    ) -> Proposal:
        """Propose a batch (saved by the caller in the `proposed` status, which no queue
        runs): `plan` is its roster as validated, pinned by its digest. `required`
        defaults to the institutions its rows need (`batch_approvals`)."""
        self._for_issuer()
        if batch.status is not BatchStatus.PROPOSED:
            raise Conflict(f"batch {batch.id} is {batch.status.value}, not proposed")
        now = self.clock.now()
        needed = tuple(required) or self.batch_approvals(plan.requests) or (self.institution.slug,)
        proposal = self._new_proposal(ProposalKind.BATCH, needed, proposer, now, batch=plan)
        self.repository.add_proposal(proposal, self._created_details(proposal, len(plan.requests)))
        return proposal

    def _new_proposal(
        self,
        kind: ProposalKind,
        required: Sequence[str],
        proposer: Actor,
        now: datetime,
        **payload: Any,
    ) -> Proposal:
        """A pending proposal of the issuer's, by `proposer`, with what it will do."""
        return Proposal(
            id=new_diploma_id(),
            kind=kind,
            state=ProposalState.PENDING,
            institution=self.institution.slug,
            required=tuple(required),
            proposer=proposer.label,
            proposer_id=None if proposer.user is None else proposer.user.id,
            proposer_email=proposer.email,
            created_at=now,
            **payload,
        )

    def batch_approvals(self, requests: Sequence[DiplomaRequest]) -> tuple[str, ...]:
        """The institutions that must approve a batch of these requests: the issuer and
        every co-issuer named by a row, where the rule applies."""
        slugs = dict.fromkeys(slug for r in requests for slug in r.co_issuers)
        return self.required_approvals(self.co_issuers_of(tuple(slugs)))

    def batch_may_run(self, batch: Batch, roster_sha256: str) -> bool:
        """Whether `batch` runs as an approved proposal: True when its proposal is approved
        and the roster is the one approved, False when it was never proposed. Forbidden
        when it was proposed and is not approved, or its roster changed since."""
        found = self.repository.proposals(batch_id=batch.id)
        if not found:
            return False
        proposal = found[0]
        if proposal.state is not ProposalState.APPROVED:
            raise ApprovalRequired(
                f"batch {batch.id} is proposed ({proposal.id}) and {proposal.state.value}: "
                "it runs once every required approval is given"
            )
        assert proposal.batch is not None
        if proposal.batch.roster_sha256 != roster_sha256:
            raise Forbidden(
                f"the roster of batch {batch.id} is not the one approved in proposal "
                f"{proposal.id}: nothing is issued"
            )
        return True

    def proposals(self, state: str | None = None) -> list[Proposal]:
        """Proposals, newest first: all, or those in `state` (pending, approved, issued,
        rejected)."""
        wanted = None
        if state:
            try:
                wanted = ProposalState(state.strip().lower())
            except ValueError:
                states = ", ".join(s.value for s in ProposalState)
                raise InvalidInput(
                    FieldProblem("state", f"{state!r} is not a state (states: {states})")
                ) from None
        return [p for p in self.repository.proposals(wanted) if self._sees(p)]

    def _sees(self, proposal: Proposal) -> bool:
        """The issuer's people see every proposal; a co-issuer's, those it must approve."""
        viewer = self._viewer
        return of_issuer(viewer, proposal.institution) or (
            viewer is not None and viewer.institution in proposal.required
        )

    def proposal(self, proposal_id: str) -> Proposal:
        found = (
            self.repository.get_proposal(proposal_id.strip())
            if is_diploma_id(proposal_id.strip())
            else None
        )
        if found is None or not self._sees(found):
            raise NotFound("no proposal with this id")
        return found

    def approve(self, proposal_id: str, approver: Actor, comment: str = "") -> Proposal:
        """`approver`'s approval for their institution. The approval that completes the
        proposal signs and issues its diploma (or queues its batch: the caller runs it).
        Forbidden for the proposer (whichever token or sign-in), a token of nobody, a
        user without the approve permission, or one of an institution whose approval
        the proposal does not need; Conflict when it is not pending.

        An approved diploma proposal whose issuing was interrupted (a timestamp outage,
        say) is issued by the next approve of an approver who could have given it."""
        current = self.proposal(proposal_id)
        if current.state is ProposalState.APPROVED:
            refusal = rule.decision_refusal(current, approver)
            if refusal is not None:
                raise Forbidden(refusal)
            return self._carry_out(current, approver)
        if current.kind is ProposalKind.CORRECTION and current.state is ProposalState.PENDING:
            # A stale correction is refused before any approval is recorded: approving
            # it could never sign anything (the approver is told why: reject it).
            refusal = rule.decision_refusal(current, approver)
            if refusal is not None:
                raise Forbidden(refusal)
            self._correction_plan(current)
        now = self.clock.now()

        def change(proposal: Proposal) -> ProposalEvent:
            approved = rule.approve(proposal, approver, now, comment)
            [given] = approved.approvals[len(proposal.approvals) :]
            details = {
                **self._details(approved),
                "institution": given.institution,
                "approver": given.email,
                "comment": given.comment,
                "missing": list(approved.missing),
            }
            return ProposalEvent(
                approved, approver.label, AuditAction.PROPOSAL_APPROVED, now, details
            )

        proposal = self.repository.change_proposal(current.id, change)
        if proposal.state is ProposalState.APPROVED:
            return self._carry_out(proposal, approver)
        return proposal

    def _carry_out(self, proposal: Proposal, approver: Actor) -> Proposal:
        """Issue an approved diploma proposal, apply an approved correction (in the
        approver's name), or queue an approved batch."""
        if proposal.kind is ProposalKind.CORRECTION:
            self._apply_correction(
                self._correction_plan(proposal), approver.label, proposal=proposal.id
            )
            return self.proposal(proposal.id)
        if proposal.kind is ProposalKind.BATCH:
            batch = self.batch(proposal.batch_id)
            if batch.status is BatchStatus.PROPOSED:
                self.batches.touch(
                    batch, self.clock.now(), status=BatchStatus.QUEUED, message="approved"
                )
            return proposal
        assert proposal.request is not None
        self._issue(
            proposal.request,
            self.clock.now(),
            approver.label,
            proposal=proposal.id,
            national_id_hash=proposal.national_id_hash,
        )
        return self.proposal(proposal.id)

    def reject(self, proposal_id: str, approver: Actor, comment: str) -> Proposal:
        """Reject a pending proposal, saying why (required); nothing of it is ever issued.
        Who may reject is who may approve (`approve`)."""
        current = self.proposal(proposal_id)
        now = self.clock.now()

        def change(proposal: Proposal) -> ProposalEvent:
            rejected = rule.reject(proposal, approver, now, comment)
            assert rejected.rejection is not None
            details = {
                **self._details(rejected),
                "approver": rejected.rejection.email,
                "institution": approver.user.institution if approver.user else "",
                "comment": rejected.rejection.comment,
            }
            return ProposalEvent(
                rejected, approver.label, AuditAction.PROPOSAL_REJECTED, now, details
            )

        proposal = self.repository.change_proposal(current.id, change)
        if proposal.kind is ProposalKind.BATCH:
            batch = self.batch(proposal.batch_id)
            if batch.status is BatchStatus.PROPOSED:
                assert proposal.rejection is not None
                self.batches.touch(
                    batch,
                    now,
                    status=BatchStatus.REJECTED,
                    message=f"rejected: {proposal.rejection.comment}",
                    finished_at=now,
                )
        return proposal

    def _details(self, proposal: Proposal) -> dict[str, Any]:
        details: dict[str, Any] = {
            "proposal": proposal.id,
            "kind": proposal.kind.value,
            "proposer": proposal.proposer,
            "required": list(proposal.required),
        }
        if proposal.batch_id:
            details["batch"] = proposal.batch_id
        if proposal.correction is not None:
            details["diploma"] = proposal.correction.diploma_id
            details["fields"] = list(proposal.correction.fields)
        return details

    def _created_details(self, proposal: Proposal, diplomas: int) -> dict[str, Any]:
        return {**self._details(proposal), "diplomas": diplomas}

    def history(self, diploma_id: str) -> list[HistoryEvent]:
        """What happened to a diploma, oldest first, from the audit log: its proposal
        and each approval (when it was proposed), its issuing, every status change, and
        each correction (with its proposal, approvals or rejection when proposed)."""
        diploma = self.get(diploma_id)
        if self.audit is None:
            return []
        own = self.audit.entries(subject=diploma.id)
        proposals = self.repository.proposals(diploma_id=diploma.id)
        batch_id = self.repository.batch_of(diploma.id)
        if batch_id:
            # issued by a batch: its chunk's entry, and the batch's proposal if it had one
            own += [
                e
                for e in self.audit.entries(action=AuditAction.DIPLOMAS_ISSUED, subject=batch_id)
                if any(pair[0] == diploma.id for pair in e.details.get("diplomas", []))
            ]
            proposals += self.repository.proposals(batch_id=batch_id)
        around = [e for p in proposals for e in self.audit.entries(subject=p.id)]
        events = []
        for entry in sorted([*own, *around], key=lambda e: e.seq):
            d = entry.details
            if entry.action == AuditAction.PROPOSAL_CREATED:
                what = "proposed"
                if d.get("kind") == ProposalKind.CORRECTION.value:
                    what = "correction of " + ", ".join(d.get("fields", [])) + " proposed"
                note = f"{what} by {d.get('proposer', entry.actor)}; needs " + ", ".join(
                    d.get("required", [])
                )
            elif entry.action == AuditAction.PROPOSAL_APPROVED:
                note = f"approved for {d.get('institution', '')} by {d.get('approver', '')}"
                if d.get("comment"):
                    note += f": {d['comment']}"
            elif entry.action == AuditAction.DIPLOMA_ISSUED:
                note = f"serial {d.get('serial', '')}"
                if d.get("proposal"):
                    note += f", proposal {d['proposal']}"
            elif entry.action == AuditAction.PROPOSAL_REJECTED:
                note = f"rejected by {d.get('approver', '')}: {d.get('comment', '')}"
            elif entry.action == AuditAction.DIPLOMA_CORRECTED:
                note = ", ".join(d.get("fields", []))
                if d.get("version"):
                    note += f"; version {d['version']}"
                if d.get("proposal"):
                    note += f", proposal {d['proposal']}"
            elif entry.action == AuditAction.DIPLOMAS_ISSUED:
                note = f"serial {diploma.serial}, batch {d.get('batch', '')}"
            elif entry.action == AuditAction.HOLDER_LINK_RENEWED:
                note = f"the holder's private link renewed (generation {d.get('generation', '')})"
            else:
                note = str(d.get("reason", ""))
            events.append(HistoryEvent(entry.at, entry.action, entry.actor, note))
        return events

    # -- mail to holders -------------------------------------------------------------------

    def _mailbox(self) -> Outbox:
        if self.outbox is None:
            raise ConfigurationError("this service was built without an outbox")
        return self.outbox

    def mail_state(self, diploma_id: str) -> OutboxMessage | None:
        """The diploma's newest message to its holder (None: none was queued, as for a
        diploma without an email)."""
        diploma = self.get(diploma_id)
        return None if self.outbox is None else self.outbox.latest(diploma.id)

    def mail_states(self, diploma_ids: Sequence[str]) -> dict[str, OutboxMessage]:
        """`mail_state` of a page of diplomas read already (one query)."""
        return {} if self.outbox is None else self.outbox.latest_many(diploma_ids)

    def mail_messages(self, reference: str = "", limit: int = 100) -> list[OutboxMessage]:
        """Messages newest first: of the diploma named by `reference` (id or serial), or
        every diploma's (the issuer's people only)."""
        if reference:
            diploma = self.find_reference(reference)
            return self._mailbox().messages(diploma_id=diploma.id, limit=limit)
        self._for_issuer()
        return self._mailbox().messages(limit=limit)

    def mail_counts(self) -> dict[str, int]:
        """How many messages are in each state (the issuer's people only)."""
        self._for_issuer()
        return {state.value: n for state, n in self._mailbox().counts().items()}

    def resend_mail(self, reference: str, *, actor: str | None = None) -> OutboxMessage:
        """Queue the diploma's message again (a new one, `resend:<n>`), with an audit
        entry. Who may issue may resend; InvalidInput without an email, Conflict when
        the diploma is revoked (its holder is not sent a diploma that is no longer valid)."""
        self._for_issuer()
        diploma = self.find_reference(reference)
        if not diploma.request.email:
            raise InvalidInput(
                FieldProblem("email", f"diploma {diploma.serial} has no email to send to")
            )
        if diploma.status is DiplomaStatus.REVOKED:
            raise Conflict(f"diploma {diploma.serial} is revoked: no mail is sent for it")
        [message] = self._mailbox().resend(
            [diploma.id],
            self.clock.now(),
            actor=self._who(actor),
            subject=diploma.id,
            details={"diploma": diploma.id, "serial": diploma.serial},
        )
        return message

    def resend_batch_mail(self, batch_id: str, *, actor: str | None = None) -> int:
        """Queue a new message to every holder of a batch's diplomas that have an email and
        are not revoked, with one audit entry; how many were queued."""
        batch = self.batch(batch_id)  # another institution's people: not found
        self._for_issuer()
        mailbox = self._mailbox()
        queued = mailbox.resend(
            mailbox.diplomas_of_batch(batch.id),
            self.clock.now(),
            actor=self._who(actor),
            subject=batch.id,
            details={"batch": batch.id},
        )
        return len(queued)

    def mail_link(self, diploma: Diploma) -> str:
        """The link every message gives: the holder's private link (her page, her PDF,
        her credential); instead of the PDF when the PDF is not attached."""
        return self.holders.url(diploma)

    # -- tokens ----------------------------------------------------------------------------

    def create_token(
        self,
        scopes: Sequence[str],
        name: str = "",
        *,
        user: str | None = None,
        expires_in: timedelta | None = None,
        actor: str | None = None,
    ) -> tuple[TokenRecord, str]:
        """Store a new token's hash and return the token itself (shown once).

        With `user` (an email) the token belongs to that active user: it needs a name,
        unique among that user's tokens, and its scopes must be within the user's role.
        `expires_in` sets its expiry (none without it).
        """
        wanted = frozenset(s.strip() for s in scopes if s.strip())
        unknown = wanted - SCOPES
        if not wanted or unknown:
            raise InvalidInput(
                FieldProblem("scope", f"must be some of {', '.join(sorted(SCOPES))}")
            )
        name = normalize(name)
        if len(name) > MAX_TOKEN_NAME:
            raise InvalidInput(FieldProblem("name", f"is longer than {MAX_TOKEN_NAME} characters"))
        now = self.clock.now()
        expires_at = None
        if expires_in is not None:
            if expires_in <= timedelta(0) or expires_in > timedelta(days=MAX_TOKEN_DAYS):
                raise InvalidInput(
                    FieldProblem("expires_in", f"must be 1 to {MAX_TOKEN_DAYS} days")
                )
            expires_at = now + expires_in
        owner: User | None = None
        if user is None and rule.APPROVE_SCOPE in wanted:
            raise InvalidInput(
                FieldProblem(
                    "scope",
                    "approve is for a person: give the approver's --user (a token of "
                    "nobody may never approve)",
                )
            )
        if user is not None:
            owner = self.user(user)
            if not owner.active:
                raise InvalidInput(FieldProblem("user", f"{owner.email} is disabled"))
            if not name:
                raise InvalidInput(
                    FieldProblem("name", "is required for a user's token: say what it is for")
                )
            allowed = ROLE_SCOPES[owner.role]
            if not wanted <= allowed:
                raise InvalidInput(
                    FieldProblem(
                        "scope",
                        f"{', '.join(sorted(wanted - allowed))} is wider than the "
                        f"{owner.role.value} role allows ({', '.join(sorted(allowed))})",
                    )
                )
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = TokenRecord(
            token_id,
            name,
            _hash_secret(secret),
            wanted,
            now,
            owner_id=None if owner is None else owner.id,
            owner_email="" if owner is None else owner.email,
            expires_at=expires_at,
        )
        self.repository.add_token(record, actor=self._who(actor))
        return record, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked and expired ones included, oldest first."""
        return self.repository.list_tokens()

    def revoke_token(
        self, token_id: str, *, actor: str | None = None, by: User | None = None
    ) -> TokenRecord:
        """Revoke a token by its id; NotFound, or Conflict if revoked already. With `by`
        (a console user), only that user's own tokens, unless they administer: another's
        token is NotFound to them, as if it did not exist."""
        if by is not None and not by.may(Permission.ADMINISTER):
            mine = {t.token_id for t in self.tokens_of(by)}
            if token_id not in mine:
                raise NotFound("no token with this id")
        return self.repository.revoke_token(token_id, self.clock.now(), actor=self._who(actor))

    def tokens_of(self, user: User) -> list[TokenRecord]:
        """The tokens a user may see: their own; every token for those who administer."""
        tokens = self.repository.list_tokens()
        if user.may(Permission.ADMINISTER):
            return tokens
        return [t for t in tokens if t.owner_id == user.id]

    # -- users -----------------------------------------------------------------------------

    @property
    def holders(self) -> HolderLinks:
        """Holders' private links; ConfigurationError without their key."""
        from .holders import HolderLinks

        if self._holder_link_key is None:
            raise ConfigurationError("this service was built without a holder-link key")
        return HolderLinks(self, self._holder_link_key)

    def holder_url(self, diploma_id: str) -> str:
        """The private link of a diploma's holder (her page, PDF and credential)."""
        return self.holders.url(self.get(diploma_id))

    def renew_holder_link(self, reference: str, *, actor: str | None = None) -> str:
        """End every copy of a holder's private link given so far (a forwarded email, a
        lost manifest) and return the new one. The issuing institution's people only."""
        self._for_issuer()
        diploma = self.find_reference(reference)
        renewed = self.repository.renew_holder_link(
            diploma.id, self.clock.now(), actor=self._who(actor)
        )
        return self.holders.url(renewed)

    def holder_url_shown(self, diploma: Diploma) -> str | None:
        """The holder's private link for whoever looks through this view, if they may
        have it: the issuing institution's people (and the instance itself), not a
        co-issuer's, since the link opens the holder's files."""
        if not of_issuer(self._viewer, self.institution.slug):
            return None
        return self.holders.url(diploma)

    @property
    def accounts(self) -> Accounts:
        """Console sign-in and sessions; ConfigurationError without a store for them."""
        from .accounts import Accounts

        if self.account_store is None:
            raise ConfigurationError("this service was built without console sessions")
        return Accounts(self.account_store, self, self.session_policy)

    def _end_sessions(self, user: User, reason: SessionEnd, actor: str | None) -> None:
        if self.account_store is not None:
            self.account_store.end_user_sessions(
                user.id, self.clock.now(), reason, actor=self._who(actor), email=user.email
            )

    @property
    def passwords(self) -> PasswordHasher:
        """The password hasher (argon2id from `build_service`); ConfigurationError if none."""
        if self._passwords is None:
            raise ConfigurationError("this service was built without a password hasher")
        return self._passwords

    def add_user(
        self,
        email: str,
        institution: str,
        role: str,
        password: str,
        *,
        actor: str | None = None,
    ) -> User:
        """A new active user of an institution of this instance; InvalidInput for a bad
        email, role, institution or password, Conflict if the email is taken."""
        email, parsed_role = self.check_new_user(email, institution, role)
        check_password(password)
        user = User(
            id=secrets.token_hex(16),
            email=email,
            institution=institution,
            role=parsed_role,
            created_at=self.clock.now(),
            password_hash=self.passwords.hash(password),
        )
        self.repository.add_user(user, actor=self._who(actor))
        return user

    def check_new_user(self, email: str, institution: str, role: str) -> tuple[str, Role]:
        """The normalised email and the role of a user that `add_user` would accept (the
        password apart), so that a command can say what is wrong before asking for one.
        InvalidInput or Conflict otherwise."""
        email = normalize_email(email)
        parsed_role = parse_role(role)
        slugs = [i.slug for i in self.institutions]
        if institution not in slugs:
            raise InvalidInput(
                FieldProblem(
                    "institution",
                    f"{institution!r} is not an institution of this instance "
                    f"(institutions: {', '.join(slugs)})",
                )
            )
        if self.repository.user_by_email(email) is not None:
            raise Conflict(f"a user with email {email} already exists")
        return email, parsed_role

    def user(self, email: str) -> User:
        """The user with this email (normalised first); NotFound."""
        found = self.repository.user_by_email(normalize_email(email))
        if found is None:
            raise NotFound(f"no user with email {email.strip().lower()}")
        return found

    def list_users(self) -> list[User]:
        return self.repository.list_users()

    def disable_user(self, email: str, *, actor: str | None = None) -> User:
        """Disable a user: their tokens stop working at once. Conflict if disabled."""
        user = self.user(email)
        disabled = self.repository.disable_user(user.id, self.clock.now(), actor=self._who(actor))
        self._end_sessions(disabled, SessionEnd.USER_DISABLED, actor)
        return disabled

    def reset_password(self, email: str, password: str, *, actor: str | None = None) -> User:
        """Set a new password (checked, then hashed). Ends nothing else: tokens stay."""
        user = self.user(email)
        check_password(password)
        changed = self.repository.set_password(
            user.id, self.passwords.hash(password), self.clock.now(), actor=self._who(actor)
        )
        self._end_sessions(changed, SessionEnd.PASSWORD_CHANGED, actor)
        return changed

    def authenticate(self, token: str | None, scope: str, *, route: str = "") -> TokenRecord:
        """The token's record if it is genuine, live and has `scope`; its use (scope and
        `route`) is recorded in the audit log.

        Unauthorized and Forbidden carry no detail about which part was wrong.
        """
        if not token:
            raise Unauthorized("a bearer token is required")
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise Unauthorized("the token is not valid")
        record = self.repository.get_token(parts[1])
        expected = record.secret_hash if record else _hash_secret("")
        if not hmac.compare_digest(expected, _hash_secret(parts[2])) or record is None:
            raise Unauthorized("the token is not valid")
        now = self.clock.now()
        if not record.live(now):
            raise Unauthorized("the token is not valid")
        if record.owner_id is not None:
            owner = self.repository.get_user(record.owner_id)
            if owner is None or not owner.active:
                raise Unauthorized("the token is not valid")
        if scope not in record.scopes:
            raise Forbidden(f"the token lacks the {scope!r} scope")
        if self.audit is not None:
            self.audit.record(
                now,
                record.actor,
                AuditAction.TOKEN_USED,
                {"token": record.token_id, "scope": scope, "route": route},
                subject=record.token_id,
            )
        return record


def _jwk_with_validity(key: RecordKey) -> dict[str, Any]:
    jwk: dict[str, Any] = dict(key.jwk())
    jwk["controller"] = key.controller
    jwk["validFrom"] = key.valid_from.isoformat()
    if key.valid_until is not None:
        jwk["validUntil"] = key.valid_until.isoformat()
    if key.compromised_since is not None:
        jwk["compromisedSince"] = key.compromised_since.isoformat()
    return jwk
