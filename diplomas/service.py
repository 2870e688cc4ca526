"""The service layer: issuance, revocation, verification and tokens.

The API and the CLI are thin shells over this one class; they parse and print, it decides.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, overload

from .core.audit import SYSTEM_ACTOR, AuditAction
from .core.batch import Batch
from .core.credential import PublicClaims, claims_for, claims_from_credential, signed_record
from .core.errors import (
    ConfigurationError,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from .core.ids import is_diploma_id, is_serial, placeholder_id
from .core.keyring import KeyRing, RecordKey
from .core.model import Diploma, DiplomaRequest, Institution, parse_request
from .core.ports import (
    AuditLog,
    BatchStore,
    DiplomaRepository,
    IssuerKeys,
    PasswordHasher,
    PdfRenderer,
    PdfSigner,
    PdfStore,
    PdfValidator,
    RecordKeys,
    TokenRecord,
)
from .core.search import DiplomaQuery, SearchResult, national_id_in
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
    Role,
    User,
    check_password,
    normalize_email,
    parse_role,
)
from .core.verification import (
    StoredState,
    Verdict,
    parse_record,
    verdict_for_document,
    verdict_for_stored,
)
from .verdicts import CachedVerdict, VerdictCache

SCOPES = frozenset({"issue", "revoke", "read"})
TOKEN_PREFIX = "dpl"  # noqa: S105 - a public label, not a secret
MAX_REASON = 300
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


def _reason(reason: str, done: str) -> str:
    """A revocation or suspension reason, normalised; InvalidInput if empty or too long."""
    reason = normalize(reason)
    if not reason:
        raise InvalidInput(FieldProblem("reason", f"is required: say why it is {done}"))
    if len(reason) > MAX_REASON:
        raise InvalidInput(FieldProblem("reason", f"is longer than {MAX_REASON} characters"))
    return reason


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _stored_state(diploma: Diploma) -> StoredState:
    return StoredState(
        diploma.record,
        diploma.status,
        diploma.revoked_at,
        diploma.revocation_reason,
        diploma.suspended_at,
        diploma.suspension_reason,
    )


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
        national_id_hasher: Callable[[str], str] | None = None,
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
        self._hash_national_id = national_id_hasher
        """The keyed hash stored for national ids (the key store's); without it, a
        search does not look for national ids."""

    # -- audit -----------------------------------------------------------------------------

    def acting_as(self, actor: str | Callable[[], str]) -> DiplomaService:
        """This service, recording `actor` (or what it returns when a change is made) in
        the audit log for calls that name none: the API binds each request's token."""
        view = copy.copy(self)
        view._actor = actor
        return view

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
        """
        now = self.clock.now()
        institution = self.institution
        request, co_issuers = check_request(
            raw,
            today=now.date(),
            issuer=institution,
            co_issuing=self.co_issuing,
            templates=self.templates,
        )
        signer = self.record_keys.signer()
        signers = [signer, *(self.co_issuer_keys[i.slug].signer() for i in co_issuers)]

        def make_record(diploma_id: str, serial: str, status: tuple[StatusEntry, ...]) -> bytes:
            claims = claims_for(institution, request, diploma_id, serial, co_issuers, status)
            return signed_record(claims, signers, now)

        diploma, created = self.repository.issue(
            institution, request, signer.key_id, make_record, now, actor=self._who(actor)
        )
        if not created:
            return IssueOutcome(diploma, False, self.pdf(diploma.id))
        pdf = self._render_signed(diploma)
        return IssueOutcome(diploma, True, pdf)

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
        diploma = self.get(diploma_id)
        stored = self.pdf_store.get(diploma.id)
        if stored is not None:
            return stored
        return self._render_signed(diploma)

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
            if found is None:
                raise NotFound(f"no diploma with serial {serial}")
            return found
        return self.get(reference.strip())

    def get(self, diploma_id: str) -> Diploma:
        diploma = self._find(diploma_id)
        if diploma is None:
            raise NotFound("no diploma with this id")
        return diploma

    def batch(self, batch_id: str) -> Batch:
        found = self.batches.get(batch_id) if is_diploma_id(batch_id) else None
        if found is None:
            raise NotFound("no batch with this id")
        return found

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
        if isinstance(query, str):
            return self.repository.search(normalize(query), offset, limit)
        national_id = national_id_in(query.text)
        digest = None
        if national_id is not None and self._hash_national_id is not None:
            digest = self._hash_national_id(national_id)
        return self.repository.find(query, digest)

    def revoke(self, diploma_id: str, reason: str, *, actor: str | None = None) -> Diploma:
        reason = _reason(reason, "revoked")
        return self._change_status(
            diploma_id,
            lambda: self.repository.revoke(
                diploma_id, reason, self.clock.now(), actor=self._who(actor)
            ),
        )

    # -- suspension and status lists -------------------------------------------------------

    def suspend(self, diploma_id: str, reason: str, *, actor: str | None = None) -> Diploma:
        """Suspend until `unsuspend`; Conflict if revoked (final) or suspended already."""
        reason = _reason(reason, "suspended")
        return self._change_status(
            diploma_id,
            lambda: self.repository.suspend(
                diploma_id, reason, self.clock.now(), actor=self._who(actor)
            ),
        )

    def unsuspend(self, diploma_id: str, *, actor: str | None = None) -> Diploma:
        """Lift a suspension; Conflict if the diploma is revoked or not suspended."""
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
            return _stored_state(found) if found else None

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

    def revoke_token(self, token_id: str, *, actor: str | None = None) -> TokenRecord:
        """Revoke a token by its id; NotFound, or Conflict if revoked already."""
        return self.repository.revoke_token(token_id, self.clock.now(), actor=self._who(actor))

    # -- users -----------------------------------------------------------------------------

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
        return self.repository.disable_user(user.id, self.clock.now(), actor=self._who(actor))

    def reset_password(self, email: str, password: str, *, actor: str | None = None) -> User:
        """Set a new password (checked, then hashed). Ends nothing else: tokens stay."""
        user = self.user(email)
        check_password(password)
        return self.repository.set_password(
            user.id, self.passwords.hash(password), self.clock.now(), actor=self._who(actor)
        )

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
