"""The service layer: issuance, revocation, verification and tokens.

The API and the CLI are thin shells over this one class; they parse and print, it decides.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from .core.batch import Batch
from .core.credential import PublicClaims, claims_for, claims_from_credential, signed_record
from .core.errors import (
    ConfigurationError,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from .core.ids import is_diploma_id, placeholder_id
from .core.keyring import KeyRing, RecordKey
from .core.model import Diploma, Institution, parse_request
from .core.ports import (
    BatchStore,
    DiplomaRepository,
    PdfRenderer,
    PdfSigner,
    PdfStore,
    PdfValidator,
    RecordKeys,
    TokenRecord,
)
from .core.text import normalize
from .core.verification import (
    StoredState,
    Verdict,
    parse_record,
    verdict_for_document,
    verdict_for_stored,
)

SCOPES = frozenset({"issue", "revoke", "read"})
TOKEN_PREFIX = "dpl"  # noqa: S105 - a public label, not a secret
MAX_REASON = 300


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


def render_signed(renderer: PdfRenderer, signer: PdfSigner, record: bytes, template: str) -> bytes:
    """The signed PDF of a stored record: the page printed from the record's own claims.

    The one rendering path for single and bulk issuance alike.
    """
    claims = claims_from_credential(parse_record(record))
    return signer.sign(renderer.render(claims, template), record)


def widest_serial(institution: Institution) -> str:
    """A serial as wide as any real one, for checking that a page will fit."""
    return f"{institution.serial_prefix}-8888-888888"


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _stored_state(diploma: Diploma) -> StoredState:
    return StoredState(
        diploma.record, diploma.status, diploma.revoked_at, diploma.revocation_reason
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
        clock: Clock | None = None,
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
        self.batches = batches
        self.clock = clock or SystemClock()

    @property
    def institution(self) -> Institution:
        return self.institutions[0]

    # -- issuing ---------------------------------------------------------------------------

    def issue(self, raw: Mapping[str, Any]) -> IssueOutcome:
        """Validate, number, sign, store, render and PAdES-sign one diploma.

        The record and its serial are committed in one transaction; the PDF is derived
        from the committed record, so a crash after the commit loses nothing (`pdf()`
        renders it again on demand). Re-issuing a known `external_id` returns the stored
        diploma and issues nothing.
        """
        now = self.clock.now()
        request = parse_request(raw, today=now.date())
        self.templates.ensure_template(request.template)
        institution = self.institution
        # Lay the page out before anything is stored: a value that cannot be printed
        # must be refused now, not discovered after its serial was committed.
        self.templates.check(
            claims_for(institution, request, placeholder_id(), widest_serial(institution)),
            request.template,
        )
        signer = self.record_keys.signer()

        def make_record(diploma_id: str, serial: str) -> bytes:
            claims = claims_for(institution, request, diploma_id, serial)
            return signed_record(claims, [signer], now)

        diploma, created = self.repository.issue(
            institution, request, signer.key_id, make_record, now
        )
        if not created:
            return IssueOutcome(diploma, False, self.pdf(diploma.id))
        pdf = self._render_signed(diploma)
        return IssueOutcome(diploma, True, pdf)

    def _render_signed(self, diploma: Diploma) -> bytes:
        pdf = render_signed(
            self.renderer, self.pdf_signer, diploma.record, diploma.request.template
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

    def get(self, diploma_id: str) -> Diploma:
        diploma = self.repository.get(diploma_id) if is_diploma_id(diploma_id) else None
        if diploma is None:
            raise NotFound("no diploma with this id")
        return diploma

    def batch(self, batch_id: str) -> Batch:
        found = self.batches.get(batch_id) if is_diploma_id(batch_id) else None
        if found is None:
            raise NotFound("no batch with this id")
        return found

    def search(self, query: str, offset: int, limit: int) -> tuple[Sequence[Diploma], int]:
        return self.repository.search(normalize(query), offset, limit)

    def revoke(self, diploma_id: str, reason: str) -> Diploma:
        reason = normalize(reason)
        if not reason:
            raise InvalidInput(FieldProblem("reason", "is required: say why it is revoked"))
        if len(reason) > MAX_REASON:
            raise InvalidInput(FieldProblem("reason", f"is longer than {MAX_REASON} characters"))
        self.get(diploma_id)
        return self.repository.revoke(diploma_id, reason, self.clock.now())

    # -- verification ----------------------------------------------------------------------

    def keyring(self) -> KeyRing:
        return self.record_keys.keyring()

    def verify_id(self, diploma_id: str) -> Verdict:
        """The public verdict for an id; malformed and unknown ids answer alike."""
        diploma = self.repository.get(diploma_id) if is_diploma_id(diploma_id) else None
        return verdict_for_stored(_stored_state(diploma) if diploma else None, self.keyring())

    def verify_pdf(self, pdf: bytes) -> Verdict:
        report = self.pdf_validator.inspect(pdf)

        def lookup(diploma_id: str) -> StoredState | None:
            found = self.repository.get(diploma_id) if is_diploma_id(diploma_id) else None
            return _stored_state(found) if found else None

        return verdict_for_document(report, self.keyring(), lookup)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [_jwk_with_validity(k) for k in self.keyring()]}

    # -- tokens ----------------------------------------------------------------------------

    def create_token(self, scopes: Sequence[str], name: str = "") -> tuple[TokenRecord, str]:
        """Store a new token's hash and return the token itself (shown once)."""
        wanted = frozenset(s.strip() for s in scopes if s.strip())
        unknown = wanted - SCOPES
        if not wanted or unknown:
            raise InvalidInput(
                FieldProblem("scope", f"must be some of {', '.join(sorted(SCOPES))}")
            )
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        record = TokenRecord(
            token_id, normalize(name), _hash_secret(secret), wanted, self.clock.now()
        )
        self.repository.add_token(record)
        return record, f"{TOKEN_PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str | None, scope: str) -> TokenRecord:
        """The token's record if it is genuine, live and has `scope`.

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
        if record.revoked_at is not None:
            raise Unauthorized("the token is not valid")
        if scope not in record.scopes:
            raise Forbidden(f"the token lacks the {scope!r} scope")
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
