"""The ports the service needs from the edges. Each adapter package implements one;
tests may swap in an in-memory twin where speed matters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .audit import SYSTEM_ACTOR, AuditEntry, ChainVerdict, Change, token_actor
from .batch import Batch, BatchLine, KeptRoster, Shard
from .credential import PublicClaims
from .keyring import KeyRing, RecordSigner
from .model import Diploma, DiplomaRequest, DiplomaVersion, Institution
from .outbox import MailState, OutboxMessage
from .proposals import Proposal, ProposalEvent, ProposalState
from .search import DiplomaQuery, SearchResult
from .sessions import ConsoleSession, SessionEnd
from .statuslist import SignedStatusList, StatusEntry, StatusPurpose
from .users import User, user_token_actor

if TYPE_CHECKING:  # verification imports this module
    from .verification import SupersededRecord


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class PdfSignatureCheck:
    """One PAdES signature in an uploaded PDF; `reasons` is empty when it is fully good:
    intact, cryptographically valid, chained to a trusted root, covering the whole file."""

    signer: str
    reasons: tuple[str, ...]
    issuers: frozenset[str] = frozenset()
    """The DIDs (current and former) of the institution whose root certificate the
    signature chains to (none if it chains to none): which co-issuer it speaks for."""
    proven_time: datetime | None = None
    """When a trusted RFC 3161 timestamp proves the signature existed (PAdES B-T); None
    without one, and then the time the PDF claims is all there is."""
    covers_document: bool = True
    """Whether every byte of the file is vouched for by this signature or by the valid
    signatures after it (False: something was added that no good signature covers)."""

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass(frozen=True)
class PdfReport:
    """What a PDF says about itself: its signatures and the record embedded in it."""

    signatures: tuple[PdfSignatureCheck, ...]
    record: bytes | None
    problems: tuple[str, ...] = ()


class PdfRenderer(Protocol):
    def render(
        self, claims: PublicClaims, template: str, logos: Mapping[str, str] | None = None
    ) -> bytes:
        """An unsigned one-page PDF of the diploma with its QR code; `logos` maps an
        issuing institution's DID to its logo image file."""
        ...


class PdfSigner(Protocol):
    def sign(self, pdf: bytes, record: bytes) -> bytes:
        """Embed the signed record as an attachment and add the PAdES signature."""
        ...

    def sign_additional(self, pdf: bytes) -> bytes:
        """Add one more PAdES signature (a co-issuer's) in a new incremental update."""
        ...


class PdfValidator(Protocol):
    def inspect(self, pdf: bytes) -> PdfReport: ...


class RecordKeys(Protocol):
    """The record-signing side of a key store."""

    def signer(self) -> RecordSigner: ...

    def keyring(self) -> KeyRing: ...


class IssuerKeys(RecordKeys, Protocol):
    """Everything an institution signs with: its record key and its PDF signer."""

    def pdf_signer(self) -> PdfSigner: ...


MakeRecord = Callable[[str, str, tuple[StatusEntry, ...]], bytes]
"""(diploma id, serial, status entries) -> the signed record of one known request."""
MakeRecords = Callable[[DiplomaRequest, str, str, tuple[StatusEntry, ...]], bytes]
"""(request, diploma id, serial, status entries) -> its signed record (`RecordMaker`)."""
"""Given (diploma id, serial, status list entries), return the canonical signed record
bytes. It runs inside the issuing transaction that allocated all three."""


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    secret_hash: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    owner_id: str | None = None
    """The user it belongs to; None for a token made before users existed."""
    owner_email: str = ""
    """That user's email ('' without an owner), for the audit log."""
    expires_at: datetime | None = None
    """When it stops working; None for never (tokens made before expiry existed)."""

    @property
    def actor(self) -> str:
        """Who the audit log names for a call made with this token."""
        if self.owner_id is not None:
            return user_token_actor(self.owner_email, self.name)
        return token_actor(self.token_id)

    def live(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now` (the owner is checked apart)."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class PasswordHasher(Protocol):
    """Password hashing (argon2id in `diplomas.passwords`)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether `password` matches; False, never an error, for a wrong one."""
        ...


class DiplomaRepository(Protocol):
    def issue(
        self,
        institution: Institution,
        request: DiplomaRequest,
        key_id: str,
        make_record: MakeRecord,
        issued_at: datetime,
        *,
        actor: str = SYSTEM_ACTOR,
        proposal: str | None = None,
        national_id_hash: str = "",
    ) -> tuple[Diploma, bool]:
        """`issue_many` of one, its identity the external id if any: allocate id and
        serial, sign via `make_record` and store, in one transaction, with an audit entry
        naming `actor`.

        Returns (diploma, created). When `request.external_id` is already issued by this
        institution, returns the stored diploma and False, issuing nothing. With
        `proposal`, the approved proposal it issues is marked issued in the same
        transaction (Conflict unless it is approved).
        """
        ...

    def retired_keys(self, key_ids: Collection[str] | None = None) -> dict[str, str]:
        """Of these record keys (None: of all), those the audit log says were retired,
        rotated away or marked compromised, each with why in words."""
        ...

    def issue_many(
        self,
        institution: Institution,
        items: Sequence[tuple[DiplomaRequest, str | None]],
        key_id: str,
        make_record: MakeRecords,
        issued_at: datetime,
        batch_id: str | None = None,
        *,
        actor: str | None = None,
        proposal: str | None = None,
        national_id_hash: str = "",
        rows: Sequence[int] | None = None,
    ) -> list[tuple[Diploma, bool]]:
        """Issue (request, row identity) items in one transaction, in order: a roster's
        chunk, or a single diploma as a list of one (the one issuing path). Items whose
        identity is stored already come back with created=False; an identity of None
        always makes a new diploma. One audit entry lists the new diplomas (actor by
        default `batch:<batch_id>`), or names the one diploma issued outside a batch.
        With `proposal` (one item), the approved proposal it issues is marked issued in
        the same transaction (Conflict unless it is approved)."""
        ...

    def get(self, diploma_id: str) -> Diploma | None: ...

    def get_many(self, diploma_ids: Sequence[str]) -> dict[str, Diploma]:
        """The diplomas with these ids (unknown ones left out), in one read."""
        ...

    def get_by_serial(self, serial: str) -> Diploma | None: ...

    def serial_holder(self, serial: str) -> tuple[str, str, str] | None:
        """(id, name, English name) of the diploma with this serial: the public serial
        lookup's one read, of the indexed serial column and nothing it does not need."""
        ...

    def get_by_external_id(self, institution: str, external_id: str) -> Diploma | None: ...

    def batch_of(self, diploma_id: str) -> str | None:
        """The id of the batch that issued the diploma, if one did."""
        ...

    def issued_to(
        self, national_ids: Collection[str], names_emails: Collection[tuple[str, str]]
    ) -> list[tuple[str, str, str]]:
        """(what matched, the person asked about, the serial) of diplomas issued already
        to these national ids or (name, email) pairs."""
        ...

    def correct(
        self,
        diploma_id: str,
        *,
        expected_record: bytes,
        request: DiplomaRequest,
        record: bytes | None,
        record_sha256: str,
        key_id: str,
        pdf_sha256: str,
        at: datetime,
        fields: Sequence[str],
        actor: str = SYSTEM_ACTOR,
        replaced_qr_sha256: str = "",
        national_id_hash: str = "",
        proposal: str | None = None,
    ) -> Diploma:
        """Store a correction and its audit entry in one transaction; with a new record,
        the replaced one is kept as an earlier version; with `proposal`, that approved
        proposal is marked issued (applied) in the same transaction. Conflict if revoked,
        if the record is no longer `expected_record`, or if `proposal` is not approved."""
        ...

    def versions(self, diploma_id: str) -> list[DiplomaVersion]:
        """The earlier versions, replaced by corrections, oldest first."""
        ...

    def superseded_records(self, institution: str | None = None) -> list[SupersededRecord]:
        """Every replaced version's id, digest and date (for trust bundles)."""
        ...

    def same_national_id(self, diploma_id: str, national_id: str) -> bool: ...

    def has_national_id_hash(self, diploma_id: str, national_id_hash: str) -> bool: ...

    def by_external_ids(
        self, institution: str, external_ids: Sequence[str]
    ) -> dict[str, tuple[Diploma, bool]]:
        """The stored diplomas of these external ids, with whether each has a national id."""
        ...

    def search(self, query: str, offset: int, limit: int) -> tuple[Sequence[Diploma], int]:
        """Text search, newest first, with the exact number of matches (`find` is the
        full form)."""
        ...

    def find(self, query: DiplomaQuery, national_id_hash: str | None = None) -> SearchResult:
        """One page of the diplomas that match `query` (or, given `national_id_hash`,
        whose national-id hash is that one), and how many match (see `SearchResult`)."""
        ...

    def revoke(
        self,
        diploma_id: str,
        reason: str,
        at: datetime,
        *,
        note: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> Diploma: ...

    def renew_holder_link(
        self, diploma_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> Diploma: ...

    def suspend(
        self,
        diploma_id: str,
        reason: str,
        at: datetime,
        *,
        note: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> Diploma: ...

    def unsuspend(self, diploma_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR) -> Diploma: ...

    def status_list_version(self, number: int) -> int | None:
        """The list's version, bumped in the transaction of every status change on it."""
        ...

    def status_list_bits(
        self, number: int, purpose: StatusPurpose
    ) -> tuple[int, int, list[int]] | None:
        """(version, size, set indexes) of list `number` for `purpose`."""
        ...

    def signed_status_list(self, name: str) -> SignedStatusList | None: ...

    def store_signed_status_list(self, signed: SignedStatusList, at: datetime) -> None: ...

    def set_pdf_sha256(self, diploma_id: str, sha256: str) -> None: ...

    def set_pdf_sha256_many(self, pairs: Sequence[tuple[str, str]]) -> None: ...

    def add_token(self, token: TokenRecord, *, actor: str = SYSTEM_ACTOR) -> None: ...

    def get_token(self, token_id: str) -> TokenRecord | None: ...

    def list_tokens(self) -> list[TokenRecord]: ...

    def revoke_token(
        self, token_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> TokenRecord: ...

    def add_proposal(self, proposal: Proposal, details: Mapping[str, Any]) -> None:
        """Store a new proposal with its `proposal.created` audit entry."""
        ...

    def get_proposal(self, proposal_id: str) -> Proposal | None: ...

    def proposals(
        self, state: ProposalState | None = None, *, batch_id: str = "", diploma_id: str = ""
    ) -> list[Proposal]:
        """Newest first."""
        ...

    def change_proposal(
        self, proposal_id: str, change: Callable[[Proposal], ProposalEvent]
    ) -> Proposal:
        """Apply `change` under the proposal's lock, with the audit entry it names."""
        ...

    def add_user(self, user: User, *, actor: str = SYSTEM_ACTOR) -> None:
        """Store a new user and its audit entry; Conflict if the email is taken."""
        ...

    def get_user(self, user_id: str) -> User | None: ...

    def user_by_email(self, email: str) -> User | None: ...

    def list_users(self) -> list[User]:
        """Every user, disabled ones included, by email."""
        ...

    def disable_user(self, user_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR) -> User:
        """Disable the user; NotFound, or Conflict if disabled already."""
        ...

    def set_password(
        self, user_id: str, password_hash: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> User:
        """Replace the user's password hash; NotFound."""
        ...


class AuditLog(Protocol):
    """The append-only audit log (see `core.audit`). Changes stored by the repository
    write their entries in their own transaction; this records the rest."""

    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        details: Mapping[str, Any],
        subject: str = "",
    ) -> AuditEntry: ...

    def entries(
        self,
        limit: int | None = None,
        *,
        action: str = "",
        subject: str = "",
        actor: str = "",
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """The newest `limit` entries (after skipping `offset`), newest first; `actor`
        matches a part of the actor (case-insensitive), `since`/`until` bound the time."""
        ...

    def verify(self) -> ChainVerdict: ...

    def last_seq(self) -> int:
        """The number of the newest entry (0 for an empty log)."""
        ...

    def changes_after(self, seq: int, limit: int) -> list[Change]:
        """Up to `limit` entries numbered after `seq`, oldest first. Entries are numbered
        in commit order (appending locks the chain head until commit), so reading on from
        the last number seen misses nothing that any process committed."""
        ...


class BatchStore(Protocol):
    def save(self, batch: Batch) -> None: ...

    def get(self, batch_id: str) -> Batch | None: ...

    def unfinished(self) -> list[Batch]: ...

    def queued_before(self, moment: datetime) -> list[str]:
        """The ids of the batches queued and not touched since `moment`."""
        ...

    def recent(self, limit: int = 50, offset: int = 0) -> list[Batch]:
        """Batches, newest first."""
        ...

    def touch(self, batch: Batch, at: datetime, **changes: object) -> Batch: ...

    def finish_issuing(self, batch_id: str, at: datetime) -> bool:
        """Mark an issuing batch done once each valid row has its diploma and PDF."""
        ...

    def keep_roster(self, batch_id: str, name: str, content: bytes, sha256: str) -> None: ...

    def roster(self, batch_id: str) -> KeptRoster | None: ...

    def set_shards(
        self, batch_id: str, shards: Sequence[Shard], invalid: Collection[int]
    ) -> None: ...

    def rows_done(self, batch_id: str, first: int, last: int) -> int: ...

    def lines(self, batch_id: str, page: int = 500) -> Iterator[BatchLine]: ...


class Outbox(Protocol):
    """Mail to holders (`storage.outbox`; the states in `core.outbox`). Messages are
    queued by the repository in the transaction that issues or corrects a diploma."""

    def resend(
        self,
        diploma_ids: Sequence[str],
        at: datetime,
        *,
        actor: str,
        subject: str,
        details: dict[str, Any],
    ) -> list[OutboxMessage]: ...

    def latest(self, diploma_id: str) -> OutboxMessage | None: ...

    def latest_many(self, diploma_ids: Sequence[str]) -> dict[str, OutboxMessage]: ...

    def messages(
        self, *, diploma_id: str = "", state: MailState | None = None, limit: int = 100
    ) -> list[OutboxMessage]: ...

    def diplomas_of_batch(self, batch_id: str) -> list[str]: ...

    def counts(self) -> dict[MailState, int]: ...


class PdfStore(Protocol):
    def put(self, diploma_id: str, pdf: bytes, *, durable: bool = True) -> None:
        """Store atomically; durable=False leaves flushing to the caller."""
        ...

    def local_path(self, diploma_id: str) -> Path | None:
        """The PDF's file, for a store of files (a batch links its copy to it); None for
        a store that keeps no files (the database)."""
        ...

    def get(self, diploma_id: str) -> bytes | None: ...

    def get_many(self, diploma_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored PDFs of these diplomas (missing ones left out)."""
        ...


@runtime_checkable
class RecordingPdfStore(PdfStore, Protocol):
    """A PDF store that also records each PDF's digest on its diploma, in the same
    transaction (the database's: `storage.pdfs`)."""

    def put_recorded(self, items: Sequence[tuple[str, bytes]]) -> list[str]: ...


class AccountStore(Protocol):
    """Console sessions, failed sign-ins and TOTP secrets (`storage.sessions`)."""

    def open_session(
        self, session: ConsoleSession, token_hash: str, *, complete: bool, actor: str, email: str
    ) -> None: ...

    def session_by_token(self, token_hash: str) -> tuple[ConsoleSession, User] | None: ...

    def touch(self, session_id: str, at: datetime) -> None: ...

    def prove_second_factor(
        self, session: ConsoleSession, at: datetime, *, actor: str, email: str
    ) -> None: ...

    def end_session(self, session_id: str, at: datetime, reason: SessionEnd) -> None: ...

    def end_user_sessions(
        self, user_id: str, at: datetime, reason: SessionEnd, *, actor: str, email: str
    ) -> int: ...

    def user_sessions(self, user_id: str) -> list[ConsoleSession]: ...

    def record_failure(self, email: str, address: str, at: datetime) -> None: ...

    def failures_since(self, email: str, address: str, since: datetime) -> tuple[int, int]: ...

    def forget_failures(self, email: str, before: datetime) -> None: ...

    def set_totp(self, user_id: str, secret: str, at: datetime, *, actor: str) -> None: ...

    def accept_totp_step(self, user_id: str, step: int) -> bool: ...
