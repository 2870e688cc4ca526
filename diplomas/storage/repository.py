"""`SqlRepository`: the `DiplomaRepository` port on SQLite or PostgreSQL.

Issuing is one transaction: look up the external id, take the next serial from
`serial_counters` (insert-if-missing, then increment with RETURNING), sign, insert. A
failure anywhere rolls all of it back, so a serial is consumed only by a stored diploma.
On SQLite the transaction starts with BEGIN IMMEDIATE (see `engine`), so writers queue; on
PostgreSQL the counter row lock does the queueing.

The same transaction hands out the diploma's status slot (list number and index, see
`core.statuslist`): a counter on the newest `status_lists` row is incremented under its
row lock, and the slot's position is permuted into an index with the list's secret seed,
so indexes are unique per list and say nothing about order or count. The entries are
handed to `make_record`, so they are signed into the record. Revoking, suspending and
unsuspending bump the list's version in the same transaction as the status change, which
tells servers to re-sign that list.

The raw national id is never stored: only `national_id_hasher(national_id)`. Diplomas read
back therefore carry `request.national_id == ""`, and so does the one `issue` returns.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Row,
    UnaryExpression,
    bindparam,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.audit import SYSTEM_ACTOR, AuditAction
from ..core.batch import row_key
from ..core.dates import solar_hijri_year
from ..core.errors import ConfigurationError, Conflict, NotFound
from ..core.ids import format_serial, new_diploma_id
from ..core.keyring import refuse_retired_key
from ..core.model import Diploma, DiplomaRequest, DiplomaStatus, DiplomaVersion, Institution
from ..core.outbox import corrected_purpose, issued_purpose
from ..core.ports import MakeRecord, MakeRecords, TokenRecord
from ..core.proposals import Proposal, ProposalEvent, ProposalState
from ..core.search import (
    COUNT_LIMIT,
    DiplomaQuery,
    SearchResult,
    SortOrder,
    email_in,
    search_text,
    serial_in,
)
from ..core.statuslist import (
    STATUS_LIST_SIZE,
    SignedStatusList,
    StatusEntry,
    StatusPurpose,
    StatusSlot,
    permuted_index,
    status_entries,
)
from ..core.text import search_key
from ..core.users import Role, User
from ..core.verification import SupersededRecord, record_digest
from .audit import append as append_audit
from .engine import READ_ONLY
from .outbox import count_purposes
from .outbox import enqueue as enqueue_mail
from .proposals import proposal_of, write_row
from .tables import (
    ApiTokenRow,
    AuditEntryRow,
    Base,
    BatchLineRow,
    DiplomaRow,
    DiplomaVersionRow,
    ProposalRow,
    SerialCounterRow,
    SignedStatusListRow,
    StatusListRow,
    UserRow,
)

_KEY_EVENTS = (
    AuditAction.KEY_ROTATED.value,
    AuditAction.KEY_RETIRED.value,
    AuditAction.KEY_COMPROMISED.value,
)


def _retired_keys(session: Session, key_ids: Collection[str] | None) -> dict[str, str]:
    """Which of `key_ids` (None: any) the audit log retired (see `retired_keys`). Key
    events are few (one per rotation), so they are read whole."""
    wanted = None if key_ids is None else set(key_ids)
    found: dict[str, str] = {}
    events = session.execute(
        select(AuditEntryRow.at, AuditEntryRow.action, AuditEntryRow.subject, AuditEntryRow.details)
        .where(AuditEntryRow.action.in_(_KEY_EVENTS))
        .order_by(AuditEntryRow.seq)
    )
    for at, action, subject, details in events:
        if action == AuditAction.KEY_ROTATED.value:
            retired = json.loads(details).get("retired") or []
            how = f"rotated away on {at:%Y-%m-%d %H:%M} UTC (new key {subject})"
        else:
            retired = [subject]
            what = "retired" if action == AuditAction.KEY_RETIRED.value else "marked compromised"
            how = f"{what} on {at:%Y-%m-%d %H:%M} UTC"
        for key_id in retired:
            if wanted is None or key_id in wanted:
                found.setdefault(key_id, how)
    return found


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEYS_PER_QUERY = 500  # stays under SQLite's bound-parameter limit
_BY_ID = select(DiplomaRow.__table__).where(DiplomaRow.__table__.c.id == bindparam("id"))
"""One diploma's row by id, built once (SQLAlchemy caches its compiled form)."""
_HOLDER_BY_SERIAL = (
    select(DiplomaRow.id, DiplomaRow.name, DiplomaRow.name_en)
    .where(DiplomaRow.serial == bindparam("serial"))
    .order_by(DiplomaRow.institution)
    .limit(1)
)
"""The serial lookup's read: same order as `get_by_serial` (the first by slug wins)."""


_SORT_KEYS: dict[SortOrder, tuple[tuple[str, bool], ...]] = {
    SortOrder.NEWEST: (("issued_on", True), ("issued_at", True), ("serial", True), ("id", True)),
    SortOrder.OLDEST: (
        ("issued_on", False),
        ("issued_at", False),
        ("serial", False),
        ("id", False),
    ),
    SortOrder.NAME: (("name", False), ("issued_on", True), ("id", False)),
    SortOrder.SERIAL: (("serial", False), ("institution", False), ("id", False)),
}
"""Each search order as (column, descending), ending in a unique key so that pages neither
skip nor repeat. Newest is by the date on the diploma, then the moment it was issued."""

_NEWEST_ISSUED: tuple[UnaryExpression[Any], ...] = (
    DiplomaRow.issued_at.desc(),
    DiplomaRow.serial.desc(),
    DiplomaRow.id.desc(),
)
"""The order of the older `search`: the moment of issue, newest first."""


_NEWEST_WINDOWS = (30, 240, 1920)
"""Days back from the latest date within which a broad search, newest first, looks for
its page (see `SqlRepository._past_the_count`): a search that matches one diploma in a
thousand finds a page of 50 within about 240 days of a university's issuing."""


def _order(columns: Any, sort: SortOrder) -> list[UnaryExpression[Any]]:
    return [
        columns[name].desc() if desc else columns[name].asc() for name, desc in _SORT_KEYS[sort]
    ]


def _text_condition(text: str, national_id_hash: str | None) -> ColumnElement[bool]:
    """Rows whose search text holds the key of `text` (everything for blank text), or
    whose national-id hash is the one given. Text whose key is empty ('%', '-') matches
    nothing. A whole serial (any digits, any case) or a whole email matches that serial or
    email only, through its own index: its trigrams (TBZ, MED, exa, com...) are in every
    row, and the trigram index would read all of their lists to find one row."""
    if not text.strip():
        return true()
    serial = serial_in(text)
    if serial is not None:
        return DiplomaRow.serial == serial
    email = email_in(text)
    if email is not None:
        return DiplomaRow.email == email
    key = search_key(text)
    matches: list[ColumnElement[bool]] = []
    if key:
        # A key holds letters and digits only: no LIKE wildcard to escape. The pattern is
        # written into the statement, not bound: PostgreSQL then plans each search for its
        # own pattern. A prepared statement's generic plan cannot tell a pattern that
        # matches a handful of rows from one that matches half the table, and picked a
        # walk down the issued_at index for both, which reads every row for a rare name.
        pattern: BindParameter[str] = bindparam(None, f"%{key}%", literal_execute=True)
        matches.append(DiplomaRow.search_text.like(pattern))
    if national_id_hash:
        matches.append(DiplomaRow.national_id_hash == national_id_hash)
    return or_(*matches) if matches else false()


def _filters(query: DiplomaQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(DiplomaRow.status == query.status.value)
    if query.issued_from is not None:
        conditions.append(DiplomaRow.issued_on >= query.issued_from)
    if query.issued_to is not None:
        conditions.append(DiplomaRow.issued_on <= query.issued_to)
    if query.batch_id is not None:
        conditions.append(DiplomaRow.batch_id == query.batch_id)
    if query.template is not None:
        conditions.append(DiplomaRow.template == query.template)
    if query.co_issuer is not None:
        # co_issuers is a comma-separated list of slugs (slugs hold no comma, '%' or '_').
        # The first condition follows from the second; it lets the database read only the
        # co-issued rows, through their partial index.
        listed = literal(",") + DiplomaRow.co_issuers + literal(",")
        conditions.append(DiplomaRow.co_issuers != literal("", literal_execute=True))
        conditions.append(listed.like(f"%,{query.co_issuer},%"))
    return conditions


@dataclass(frozen=True)
class _Issuing:
    """What one `issue_many` call issues, kept for its second try."""

    institution: Institution
    items: Sequence[tuple[DiplomaRequest, str | None]]
    key_id: str
    make_record: MakeRecords
    issued_at: datetime
    batch_id: str | None
    actor: str | None
    proposal: str | None
    national_id_hash: str
    rows: Sequence[int] | None


def _record_rows(
    session: Session, batch_id: str, rows: Sequence[int], out: list[tuple[Diploma, bool]]
) -> None:
    """Each row's diploma in the batch's rows, unless recorded by an earlier try."""
    recorded = set(
        session.scalars(
            select(BatchLineRow.row).where(
                BatchLineRow.batch_id == batch_id, BatchLineRow.row.in_(list(rows))
            )
        )
    )
    session.add_all(
        BatchLineRow(batch_id=batch_id, row=row, diploma_id=diploma.id, created=created)
        for row, (diploma, created) in zip(rows, out, strict=True)
        if row not in recorded
    )


def _own_key(key: str | None, position: int) -> str:
    """An item's identity within one call: its row identity, or its position for an item
    without one (never equal to another's)."""
    return key if key is not None else f"#{position}"


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _join_scopes(scopes: frozenset[str]) -> str:
    for scope in scopes:
        if not scope or "," in scope or scope != scope.strip():
            raise ValueError(f"scope {scope!r} must be non-empty, without commas or spaces")
    return ",".join(sorted(scopes))


def _token(row: ApiTokenRow, owner_email: str | None = None) -> TokenRecord:
    return TokenRecord(
        token_id=row.token_id,
        name=row.name,
        secret_hash=row.secret_hash,
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        owner_id=row.owner_id,
        owner_email=owner_email or "",
        expires_at=row.expires_at,
    )


_TOKENS_WITH_OWNER = select(ApiTokenRow, UserRow.email).outerjoin(
    UserRow, UserRow.id == ApiTokenRow.owner_id
)


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        institution=row.institution,
        role=Role(row.role),
        created_at=row.created_at,
        password_hash=row.password_hash,
        disabled_at=row.disabled_at,
        totp_secret=row.totp_secret,
        totp_last_step=row.totp_last_step,
    )


class SqlRepository:
    """Diplomas and API tokens in a SQL database migrated by `diplomas.storage.migrate`.

    `institutions` maps slugs to every institution whose diplomas may be read or issued;
    `national_id_hasher` is the keyed hash (e.g. HMAC) stored instead of the national id.
    """

    def __init__(
        self,
        engine: Engine,
        institutions: Mapping[str, Institution],
        national_id_hasher: Callable[[str], str],
        status_list_size: int = STATUS_LIST_SIZE,
    ) -> None:
        if status_list_size < 8 or status_list_size % 8:
            raise ValueError("a status list's size must be a positive multiple of 8")
        self._status_list_size = status_list_size
        self._engine = engine
        self._reader = engine.execution_options(**READ_ONLY)
        self._institutions = dict(institutions)
        self._hash_national_id = national_id_hasher

    # -- sessions -------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reader) as session, session.begin():
            yield session

    # -- diplomas -------------------------------------------------------------------------

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
        """One diploma: `issue_many` of one, its identity the external id if any."""

        def make(
            _request: DiplomaRequest, diploma_id: str, serial: str, status: tuple[StatusEntry, ...]
        ) -> bytes:
            return make_record(diploma_id, serial, status)

        [issued] = self.issue_many(
            institution,
            [(request, row_key(request))],
            key_id,
            make,
            issued_at,
            actor=actor,
            proposal=proposal,
            national_id_hash=national_id_hash,
        )
        return issued

    def _new_row(
        self,
        institution: Institution,
        request: DiplomaRequest,
        key_id: str,
        issued_at: datetime,
        diploma_id: str,
        serial: str,
        record: bytes,
        slot: StatusSlot,
    ) -> DiplomaRow:
        return DiplomaRow(
            id=diploma_id,
            institution=institution.slug,
            serial=serial,
            name=request.name,
            name_en=request.name_en,
            award=request.award,
            award_en=request.award_en,
            citation=request.citation,
            field=request.field,
            issued_on=request.issued_on,
            template=request.template,
            email=request.email,
            national_id_hash=(
                self._hash_national_id(request.national_id) if request.national_id else None
            ),
            external_id=request.external_id or None,
            row_key=None,  # set by `issue_many`
            co_issuers=",".join(request.co_issuers),
            key_id=key_id,
            record=bytes(record),
            status=DiplomaStatus.ISSUED.value,
            revoked_at=None,
            revocation_reason="",
            revocation_note="",
            issued_at=issued_at,
            pdf_sha256="",
            batch_id=None,
            suspended_at=None,
            suspension_reason="",
            suspension_note="",
            holder_link_generation=0,
            status_list=slot.list_number,
            status_index=slot.index,
            search_text=search_text(
                request.name, request.name_en, serial, request.external_id, request.email
            ),
        )

    def _insert_if_missing(
        self, session: Session, table: type[Base], values: dict[str, object], keys: list[str]
    ) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.execute(
            dialect.insert(table).values(values).on_conflict_do_nothing(index_elements=keys)
        )

    def _allocate_slots(self, session: Session, count: int, at: datetime) -> list[StatusSlot]:
        """Hand out `count` status slots inside the caller's transaction, opening a new
        list whenever the newest is full. The list row stays locked until the end."""
        slots: list[StatusSlot] = []
        while len(slots) < count:
            newest = session.execute(
                select(StatusListRow.number, StatusListRow.size, StatusListRow.allocated)
                .order_by(StatusListRow.number.desc())
                .limit(1)
            ).one_or_none()
            if newest is None or newest.allocated >= newest.size:
                values: dict[str, object] = {
                    "number": 1 if newest is None else newest.number + 1,
                    "size": self._status_list_size,
                    "allocated": 0,
                    "seed": secrets.token_hex(32),
                    "version": 0,
                    "created_at": at,
                }
                self._insert_if_missing(session, StatusListRow, values, ["number"])
                continue
            take = min(count - len(slots), newest.size - newest.allocated)
            taken = session.execute(
                update(StatusListRow)
                .where(
                    StatusListRow.number == newest.number,
                    StatusListRow.allocated + take <= StatusListRow.size,
                )
                .values(allocated=StatusListRow.allocated + take)
                .returning(StatusListRow.allocated, StatusListRow.size, StatusListRow.seed)
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if taken is None:  # a concurrent issuer filled it meanwhile: look again
                continue
            seed = bytes.fromhex(taken.seed)
            slots.extend(
                StatusSlot(newest.number, permuted_index(seed, taken.size, position))
                for position in range(taken.allocated - take, taken.allocated)
            )
        return slots

    def _next_number(self, session: Session, institution: str, year: int, count: int = 1) -> int:
        """Take `count` consecutive running numbers for (institution, year) inside the
        caller's transaction and return the first; the counter row stays locked until it
        ends."""
        values: dict[str, object] = {"institution": institution, "year": year, "next_number": 1}
        self._insert_if_missing(session, SerialCounterRow, values, ["institution", "year"])
        following = session.execute(
            update(SerialCounterRow)
            .where(SerialCounterRow.institution == institution, SerialCounterRow.year == year)
            .values(next_number=SerialCounterRow.next_number + count)
            .returning(SerialCounterRow.next_number)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        return following - count

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
        """Issue (request, row identity) items in ONE transaction, in order: the one
        issuing path, for a roster's chunk and for a single diploma (a list of one).

        Items whose identity is stored already come back with created=False and issue
        nothing (an identity of None is never stored before: each such item makes a new
        diploma); the others take consecutive serials (one counter update per Solar Hijri
        year) and status slots, are signed by `make_record`, and are inserted together
        with their holders' mail queued. Either all of it is stored or none of it.

        Audit: one entry listing the new diplomas (by `actor`, by default
        `batch:<batch_id>`); a single diploma outside a batch gets its own entry.

        With `proposal` (one item: the id of an approved proposal) the same transaction
        marks the proposal issued with the diploma's id, and the audit entry names it;
        Conflict if it is not approved. `national_id_hash` is stored for an item without a
        national id (a proposal keeps only the hash).

        With `rows` (the items' roster row numbers, and a `batch_id`) the same
        transaction records each row's diploma in the batch's rows, once: a batch's
        progress and manifest are counted from them.

        A concurrent issuer of the same identities that commits first makes this one
        fail on the unique constraint; it is tried once more, and then answers the
        winner's diplomas.
        """
        self._institution(institution.slug)
        issued_at = _utc(issued_at, "issued_at")
        if proposal is not None and len(items) != 1:
            raise ValueError("a proposal issues exactly one diploma")
        issuing = _Issuing(
            institution,
            items,
            key_id,
            make_record,
            issued_at,
            batch_id,
            actor,
            proposal,
            national_id_hash,
            rows,
        )
        if rows is not None and (batch_id is None or len(rows) != len(items)):
            raise ValueError("rows are a batch's, one per item")
        try:
            return self._issue_chunk(issuing)
        except IntegrityError:
            # Most likely a concurrent issuer stored the same identity first; else (an id
            # collision, say) the next try takes a fresh id and serial.
            return self._issue_chunk(issuing)

    def retired_keys(self, key_ids: Collection[str] | None = None) -> dict[str, str]:
        """Of these record keys (None: of all), those the audit log says were retired,
        rotated away or marked compromised, each with why in words."""
        with Session(self._reader) as session, session.begin():
            return _retired_keys(session, key_ids)

    def _issue_chunk(self, issuing: _Issuing) -> list[tuple[Diploma, bool]]:
        institution, items, issued_at = issuing.institution, issuing.items, issuing.issued_at
        with self._write() as session:
            refuse_retired_key(_retired_keys(session, [issuing.key_id]))
            approved = self._approved_proposal(session, issuing.proposal)
            existing = self._stored_keys(session, institution.slug, items)
            fresh: dict[str, int] = {}
            for position, (request, key) in enumerate(items):
                own = _own_key(key, position)
                if key not in existing and own not in fresh:
                    fresh[own] = solar_hijri_year(request.issued_on)
            numbers: dict[int, int] = {}
            for year in sorted(set(fresh.values())):
                count = sum(1 for y in fresh.values() if y == year)
                numbers[year] = self._next_number(session, institution.slug, year, count)
            slots = iter(self._allocate_slots(session, len(fresh), issued_at))
            out: list[tuple[Diploma, bool]] = []
            made: dict[str, DiplomaRow] = {}
            for position, (request, key) in enumerate(items):
                own = _own_key(key, position)
                if key is not None and key in existing:
                    out.append((self._diploma(existing[key]), False))
                    continue
                if own in made:  # the same identity twice in one chunk: one diploma
                    out.append((self._diploma(made[own]), False))
                    continue
                year = fresh[own]
                number = numbers[year]
                numbers[year] += 1
                diploma_id = new_diploma_id()
                serial = format_serial(institution.serial_prefix, year, number)
                slot = next(slots)
                entries = status_entries(institution.public_url, slot)
                record = issuing.make_record(request, diploma_id, serial, entries)
                row = self._new_row(
                    institution,
                    request,
                    issuing.key_id,
                    issued_at,
                    diploma_id,
                    serial,
                    record,
                    slot,
                )
                row.row_key = key
                row.batch_id = issuing.batch_id
                if not request.national_id and issuing.national_id_hash:
                    row.national_id_hash = issuing.national_id_hash
                made[own] = row
                session.add(row)
                out.append((self._diploma(row), True))
            if approved is not None:
                # issued now, or meanwhile by other means: the proposal names that diploma
                approved.state = ProposalState.ISSUED.value
                approved.diploma_id = out[0][0].id
            session.flush()
            for row in made.values():
                if row.email:
                    # In the issuing transaction: a diploma is never stored without its message.
                    enqueue_mail(session, row.id, issued_purpose(), row.email, issued_at)
            if made:
                self._audit_issued(session, issuing, list(made.values()), approved)
            if issuing.rows is not None and issuing.batch_id is not None:
                _record_rows(session, issuing.batch_id, issuing.rows, out)
            return out

    def _approved_proposal(self, session: Session, proposal: str | None) -> ProposalRow | None:
        if proposal is None:
            return None
        approved = session.get(ProposalRow, proposal, with_for_update=True)
        if approved is None or approved.state != ProposalState.APPROVED.value:
            state = "missing" if approved is None else approved.state
            raise Conflict(f"proposal {proposal} is {state}, not approved: nothing issued")
        return approved

    def _stored_keys(
        self, session: Session, institution: str, items: Sequence[tuple[DiplomaRequest, str | None]]
    ) -> dict[str, DiplomaRow]:
        keys = [key for _, key in items if key is not None]
        existing: dict[str, DiplomaRow] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            part = keys[start : start + _KEYS_PER_QUERY]
            for row in session.scalars(
                select(DiplomaRow).where(
                    DiplomaRow.institution == institution, DiplomaRow.row_key.in_(part)
                )
            ):
                assert row.row_key is not None
                existing[row.row_key] = row
        return existing

    def _audit_issued(
        self,
        session: Session,
        issuing: _Issuing,
        made: list[DiplomaRow],
        approved: ProposalRow | None,
    ) -> None:
        batch_id, at = issuing.batch_id, issuing.issued_at
        actor = issuing.actor or (f"batch:{batch_id}" if batch_id else SYSTEM_ACTOR)
        if batch_id is None and len(issuing.items) == 1:
            [row] = made
            details = {"diploma": row.id, "serial": row.serial, "key_id": issuing.key_id}
            if approved is not None:
                details["proposal"] = approved.id
            append_audit(session, at, actor, AuditAction.DIPLOMA_ISSUED, details, subject=row.id)
            return
        append_audit(
            session,
            at,
            actor,
            AuditAction.DIPLOMAS_ISSUED,
            {
                "batch": batch_id or "",
                "key_id": issuing.key_id,
                "diplomas": [[r.id, r.serial] for r in made],
            },
            subject=batch_id or "",
        )

    def get(self, diploma_id: str) -> Diploma | None:
        # The hot path of every public verification: one Core statement on a pooled
        # connection (a deferred read transaction, as `_read` has), without an ORM session.
        with self._reader.connect() as connection:
            row = connection.execute(_BY_ID, {"id": diploma_id}).first()
        return None if row is None else self._diploma(row)

    def get_many(self, diploma_ids: Sequence[str]) -> dict[str, Diploma]:
        """The diplomas with these ids (unknown ones left out), in one read."""
        table = DiplomaRow.__table__
        found: dict[str, Diploma] = {}
        with self._reader.connect() as connection:
            for start in range(0, len(diploma_ids), _KEYS_PER_QUERY):
                part = list(diploma_ids[start : start + _KEYS_PER_QUERY])
                for row in connection.execute(select(table).where(table.c.id.in_(part))):
                    found[row.id] = self._diploma(row)
        return found

    def batch_of(self, diploma_id: str) -> str | None:
        """The id of the batch that issued the diploma (None: issued alone, or unknown)."""
        with self._read() as session:
            return session.scalar(select(DiplomaRow.batch_id).where(DiplomaRow.id == diploma_id))

    def get_by_serial(self, serial: str) -> Diploma | None:
        """The diploma with this serial. Serials are unique per institution, and prefixes
        differ between institutions; should two clash, the first by slug wins."""
        with self._read() as session:
            row = session.scalars(
                select(DiplomaRow)
                .where(DiplomaRow.serial == serial)
                .order_by(DiplomaRow.institution)
                .limit(1)
            ).first()
            return None if row is None else self._diploma(row)

    def serial_holder(self, serial: str) -> tuple[str, str, str] | None:
        with self._reader.connect() as connection:
            row = connection.execute(_HOLDER_BY_SERIAL, {"serial": serial}).first()
        return None if row is None else (row.id, row.name, row.name_en)

    def issued_to(
        self, national_ids: Collection[str], names_emails: Collection[tuple[str, str]]
    ) -> list[tuple[str, str, str]]:
        """Diplomas already issued to any of these people: (what matched, "national_id"
        or "name_email"; the national id or "name <email>" asked about; the serial). The
        national ids are hashed here, as stored."""
        found: list[tuple[str, str, str]] = []
        by_hash = {self._hash_national_id(n): n for n in national_ids if n}
        pairs = {(name, email.lower()) for name, email in names_emails if name and email}
        emails = sorted({email for _, email in pairs})
        with self._read() as session:
            hashes = sorted(by_hash)
            for start in range(0, len(hashes), 500):
                by_id = session.execute(
                    select(DiplomaRow.national_id_hash, DiplomaRow.serial).where(
                        DiplomaRow.national_id_hash.in_(hashes[start : start + 500])
                    )
                ).all()
                found += [("national_id", by_hash[h], serial) for h, serial in by_id if h]
            for start in range(0, len(emails), 500):
                by_email = session.execute(
                    select(DiplomaRow.name, DiplomaRow.email, DiplomaRow.serial).where(
                        func.lower(DiplomaRow.email).in_(emails[start : start + 500])
                    )
                ).all()
                found += [
                    ("name_email", f"{name} <{email}>", serial)
                    for name, email, serial in by_email
                    if (name, email.lower()) in pairs
                ]
        return found

    def get_by_external_id(self, institution: str, external_id: str) -> Diploma | None:
        with self._read() as session:
            row = session.scalars(
                select(DiplomaRow).where(
                    DiplomaRow.institution == institution, DiplomaRow.external_id == external_id
                )
            ).one_or_none()
            return None if row is None else self._diploma(row)

    def search(self, query: str, offset: int, limit: int) -> tuple[Sequence[Diploma], int]:
        """Diplomas whose name, English name, serial, external id or email match `query`
        (compared by `core.text.search_key`), newest first, and how many match in all,
        counted exactly. An empty query matches everything. `find` is the full form."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        condition = _text_condition(query, None)
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(DiplomaRow).where(condition))
            rows = session.scalars(
                select(DiplomaRow)
                .where(condition)
                .order_by(*_NEWEST_ISSUED)
                .offset(offset)
                .limit(limit)
            ).all()
            return [self._diploma(row) for row in rows], total or 0

    # -- corrections ----------------------------------------------------------------------

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
        """Store a correction in one transaction, with its audit entry: the request's
        values replace the stored ones; with a new `record` (a correction of what the
        record says), the stored record becomes the next row of `diploma_versions` and
        `record` (whose digest is `record_sha256`), signed by `key_id`, the current version;
        a non-empty `pdf_sha256` names the new PDF (a new record, or a new design).

        `national_id_hash` is stored when the request carries no national id (a
        correction proposal keeps only the hash). With `proposal` (the id of an approved
        correction proposal) the same transaction marks it issued (applied) and the audit
        entry names it; Conflict if it is not approved.

        Conflict if the diploma is revoked, or if its record is no longer
        `expected_record` (corrected meanwhile: check again); NotFound."""
        at = _utc(at, "at")
        with self._write() as session:
            approved: ProposalRow | None = None
            if proposal is not None:
                approved = session.get(ProposalRow, proposal, with_for_update=True)
                if approved is None or approved.state != ProposalState.APPROVED.value:
                    state = "missing" if approved is None else approved.state
                    raise Conflict(
                        f"proposal {proposal} is {state}, not approved: nothing corrected"
                    )
            row = session.get(DiplomaRow, diploma_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no diploma with id {diploma_id}")
            self._refuse_if_revoked(row, "corrected")
            if bytes(row.record) != expected_record:
                raise Conflict(
                    f"diploma {row.serial} was changed while this correction was prepared; "
                    f"check the correction again"
                )
            details: dict[str, Any] = {
                "diploma": row.id,
                "serial": row.serial,
                "fields": list(fields),
            }
            if approved is not None:
                approved.state = ProposalState.ISSUED.value
                details["proposal"] = approved.id
            if record is not None:
                earlier = session.scalars(
                    select(DiplomaVersionRow)
                    .where(DiplomaVersionRow.diploma_id == row.id)
                    .order_by(DiplomaVersionRow.version.desc())
                    .limit(1)
                ).first()
                version = 1 if earlier is None else earlier.version + 1
                session.add(
                    DiplomaVersionRow(
                        diploma_id=row.id,
                        version=version,
                        record=bytes(row.record),
                        record_sha256=record_digest(bytes(row.record)),
                        pdf_sha256=row.pdf_sha256,
                        issued_at=row.issued_at if earlier is None else earlier.superseded_at,
                        superseded_at=at,
                        superseded_by=actor,
                        qr_sha256=replaced_qr_sha256,
                    )
                )
                row.record = bytes(record)
                row.key_id = key_id
                details.update(version=version + 1, record_sha256=record_sha256, key_id=key_id)
            if pdf_sha256:
                row.pdf_sha256 = pdf_sha256
            # The holder hears of a correction that gave her a new PDF, or that changed
            # her address (the new one gets the diploma): in this same transaction.
            if request.email and (pdf_sha256 or request.email != row.email):
                count = count_purposes(session, row.id, "corrected:") + 1
                version = details.get("version") or 1 + len(
                    session.scalars(
                        select(DiplomaVersionRow.version).where(
                            DiplomaVersionRow.diploma_id == row.id
                        )
                    ).all()
                )
                purpose = corrected_purpose(int(version), count)
                enqueue_mail(session, row.id, purpose, request.email, at)
            row.name = request.name
            row.name_en = request.name_en
            row.award = request.award
            row.award_en = request.award_en
            row.citation = request.citation
            row.field = request.field
            row.issued_on = request.issued_on
            row.template = request.template
            row.email = request.email
            if request.national_id:
                row.national_id_hash = self._hash_national_id(request.national_id)
            elif national_id_hash:
                row.national_id_hash = national_id_hash
            # Found by its corrected name from now on (and no longer by the misspelt one).
            row.search_text = search_text(
                row.name, row.name_en, row.serial, row.external_id, row.email
            )
            session.flush()
            append_audit(session, at, actor, AuditAction.DIPLOMA_CORRECTED, details, subject=row.id)
            return self._diploma(row)

    def versions(self, diploma_id: str) -> list[DiplomaVersion]:
        """The diploma's earlier versions, replaced by corrections, oldest first."""
        with self._read() as session:
            rows = session.scalars(
                select(DiplomaVersionRow)
                .where(DiplomaVersionRow.diploma_id == diploma_id)
                .order_by(DiplomaVersionRow.version)
            ).all()
            return [
                DiplomaVersion(
                    diploma_id=r.diploma_id,
                    version=r.version,
                    record_sha256=r.record_sha256,
                    pdf_sha256=r.pdf_sha256,
                    issued_at=r.issued_at,
                    superseded_at=r.superseded_at,
                    superseded_by=r.superseded_by,
                )
                for r in rows
            ]

    def superseded_records(self, institution: str | None = None) -> list[SupersededRecord]:
        """Every replaced version (of `institution`'s diplomas, if given), oldest first:
        digests, ids and dates only, as a trust bundle lists them."""
        query = select(
            DiplomaVersionRow.diploma_id,
            DiplomaVersionRow.record_sha256,
            DiplomaVersionRow.superseded_at,
            DiplomaVersionRow.version,
            DiplomaVersionRow.qr_sha256,
        ).order_by(DiplomaVersionRow.superseded_at, DiplomaVersionRow.diploma_id)
        if institution is not None:
            query = query.join(DiplomaRow, DiplomaRow.id == DiplomaVersionRow.diploma_id).where(
                DiplomaRow.institution == institution
            )
        with self._read() as session:
            return [
                SupersededRecord(
                    r.diploma_id,
                    r.record_sha256,
                    r.superseded_at,
                    r.version,
                    qr_sha256=r.qr_sha256,
                )
                for r in session.execute(query)
            ]

    def by_external_ids(
        self, institution: str, external_ids: Sequence[str]
    ) -> dict[str, tuple[Diploma, bool]]:
        """The stored diplomas of these external ids, each with whether it has a national
        id, by external id (those not issued are left out)."""
        found: dict[str, tuple[Diploma, bool]] = {}
        with self._read() as session:
            for start in range(0, len(external_ids), _KEYS_PER_QUERY):
                part = list(external_ids[start : start + _KEYS_PER_QUERY])
                for row in session.scalars(
                    select(DiplomaRow).where(
                        DiplomaRow.institution == institution, DiplomaRow.external_id.in_(part)
                    )
                ):
                    assert row.external_id is not None
                    found[row.external_id] = (self._diploma(row), row.national_id_hash is not None)
        return found

    def same_national_id(self, diploma_id: str, national_id: str) -> bool:
        """Whether the stored national id is `national_id` (both absent counts as same)."""
        with self._read() as session:
            stored = session.scalar(
                select(DiplomaRow.national_id_hash).where(DiplomaRow.id == diploma_id)
            )
        given = self._hash_national_id(national_id) if national_id else None
        return stored == given

    def has_national_id_hash(self, diploma_id: str, national_id_hash: str) -> bool:
        """Whether the stored national id's keyed hash is `national_id_hash`."""
        with self._read() as session:
            stored = session.scalar(
                select(DiplomaRow.national_id_hash).where(DiplomaRow.id == diploma_id)
            )
        return stored == national_id_hash

    def find(self, query: DiplomaQuery, national_id_hash: str | None = None) -> SearchResult:
        """One page of the diplomas that match `query` in its order, and how many match
        (counted up to COUNT_LIMIT, see `SearchResult`). Text matches the folded
        `search_text`, or, given `national_id_hash`, the diploma with that hash.

        A search with text gathers its first COUNT_LIMIT + 1 matches (id and sort keys),
        counts them and sorts them for the page, in one statement: a walk down an index
        in the page's order would pass over every row before the first match when the
        matches lie at its far end (a rare name, names that begin with the searched
        one), and the database cannot tell how many rows a pattern matches. When more
        match, at least one row in a hundred does, and in date order the walk down the
        date index finds a page soonest (the database plans that one itself); in name or
        serial order all the matches are gathered and sorted. The co-issuer filter, a
        pattern in a list, is treated like text. The other filters alone (status, dates,
        batch, template) are left to the database's plans, which its statistics serve.
        """
        conditions = [_text_condition(query.text, national_id_hash), *_filters(query)]
        with self._read() as session:
            if query.has_text or query.co_issuer is not None:
                if session.get_bind().dialect.name == "postgresql":
                    # Never a scan of the table in its order to find the first matches: it
                    # is in the order of issue, so the matches of a date range searched
                    # may all lie past hundreds of thousands of rows.
                    session.execute(sql_text("SET LOCAL enable_seqscan = off"))
                items, counted, last = self._gathered(session, query, conditions, COUNT_LIMIT + 1)
                if counted is not None and counted <= COUNT_LIMIT:
                    return SearchResult(items, counted, True, query)
                if counted is None:  # past the end: count on its own
                    counted = self._count(session, conditions)
                    if counted <= COUNT_LIMIT:
                        return SearchResult((), counted, True, query)
                page = self._past_the_count(session, query, conditions, items, last)
                if page is not None:
                    return SearchResult(page, COUNT_LIMIT, False, query)
                counted = COUNT_LIMIT + 1
            else:
                counted = self._count(session, conditions)
            rows = session.scalars(
                select(DiplomaRow)
                .where(*conditions)
                .order_by(*_order(DiplomaRow.__table__.c, query.sort))
                .offset(query.offset)
                .limit(query.limit)
            ).all()
            items = tuple(self._diploma(r) for r in rows)
            exact = counted <= COUNT_LIMIT
            return SearchResult(items, counted if exact else COUNT_LIMIT, exact, query)

    def _past_the_count(
        self,
        session: Session,
        query: DiplomaQuery,
        conditions: list[ColumnElement[bool]],
        sampled: tuple[Diploma, ...],
        last: object,
    ) -> tuple[Diploma, ...] | None:
        """The page when more than COUNT_LIMIT match, gathered from the matches that may be
        on it (None: leave the page to the database's plan). Reading every match to sort
        them would read a table row each, tens of thousands of rows for a broad search.

        `sampled` is the page sorted from the first COUNT_LIMIT + 1 matches the database
        came upon (in the table's order, which is about the order of issue), and `last`
        the first sort key of its last row. When that page is full, its last row comes no
        later than the true page's last row in the order of all the matches (the sampled
        rows are matches too), so the page lies among the matches whose first sort key
        (date, name or serial) is on this side of `last`, and only those are gathered:
        a few hundred where all the matches may be a hundred thousand.

        Newest first, the sample (the oldest rows first) says little, so the matches
        dated within a window back from the latest date are gathered, the window
        widened until they fill the page (or hold every date searched): every match
        outside it is older than every match in it, so a full page from the window is the
        page."""
        if query.sort is SortOrder.NEWEST:
            earliest, latest = session.execute(
                select(func.min(DiplomaRow.issued_on), func.max(DiplomaRow.issued_on))
            ).one()
            if latest is None:
                return None
            if query.issued_from is not None:
                earliest = max(earliest, query.issued_from)
            if query.issued_to is not None:
                latest = min(latest, query.issued_to)
            for days in _NEWEST_WINDOWS:
                since = latest - timedelta(days=days)
                recent = DiplomaRow.issued_on > since
                items, _, _ = self._gathered(session, query, [*conditions, recent], None)
                if len(items) == query.limit or since < earliest:  # full, or every match
                    return items
            return None
        if len(sampled) == query.limit:
            name, descending = _SORT_KEYS[query.sort][0]
            column = DiplomaRow.__table__.c[name]
            bound = column >= last if descending else column <= last
            return self._gathered(session, query, [*conditions, bound], None)[0]
        if query.sort in (SortOrder.NAME, SortOrder.SERIAL):
            return self._gathered(session, query, conditions, None)[0]
        return None

    def _count(self, session: Session, conditions: list[ColumnElement[bool]]) -> int:
        """How many rows match, counted up to COUNT_LIMIT + 1."""
        matching = select(literal(1)).select_from(DiplomaRow).where(*conditions)
        limited = matching.limit(COUNT_LIMIT + 1).subquery()
        return session.scalar(select(func.count()).select_from(limited)) or 0

    def _gathered(
        self,
        session: Session,
        query: DiplomaQuery,
        conditions: list[ColumnElement[bool]],
        at_most: int | None,
    ) -> tuple[tuple[Diploma, ...], int | None, object]:
        """The page, sorted from the first `at_most` matches (all without it), how many
        those were (None when the page is empty: past the end, or nothing matched), and
        the first sort key of the page's last row (None for an empty page)."""
        table = DiplomaRow.__table__.c
        keys = {name for name, _ in _SORT_KEYS[query.sort]} | {"id"}
        gather = select(*(table[name] for name in sorted(keys))).where(*conditions)
        if at_most is not None:
            gather = gather.limit(at_most)
        matching = gather.cte("matching").prefix_with("MATERIALIZED")
        page = (
            select(matching.c.id)
            .order_by(*_order(matching.c, query.sort))
            .offset(query.offset)
            .limit(query.limit)
            .subquery("page")
        )
        counted = select(func.count()).select_from(matching).scalar_subquery()
        found = session.execute(
            select(DiplomaRow, counted.label("counted"))
            .join(page, DiplomaRow.id == page.c.id)
            .order_by(*_order(table, query.sort))
        ).all()
        if not found:
            return (), (0 if query.offset == 0 else None), None
        last = getattr(found[-1][0], _SORT_KEYS[query.sort][0][0])
        return tuple(self._diploma(row) for row, _ in found), found[0].counted, last

    @contextmanager
    def _changing_status(
        self, diploma_id: str, at: datetime, actor: str, action: AuditAction
    ) -> Iterator[DiplomaRow]:
        """The locked row, in a write transaction that also bumps its status list's version
        and records the change in the audit log."""
        with self._write() as session:
            row = session.get(DiplomaRow, diploma_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no diploma with id {diploma_id}")
            yield row
            if row.status_list is not None:
                session.execute(
                    update(StatusListRow)
                    .where(StatusListRow.number == row.status_list)
                    .values(version=StatusListRow.version + 1)
                    .execution_options(synchronize_session=False)
                )
            session.flush()
            details = {"diploma": row.id, "serial": row.serial}
            if action is AuditAction.DIPLOMA_REVOKED:
                details["reason"] = row.revocation_reason
                details["note"] = row.revocation_note
            elif action is AuditAction.DIPLOMA_SUSPENDED:
                details["reason"] = row.suspension_reason
                details["note"] = row.suspension_note
            append_audit(session, at, actor, action, details, subject=row.id)

    def renew_holder_link(
        self, diploma_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> Diploma:
        """Count one more generation of the holder's private link (ending every earlier
        copy), with its audit entry, in one transaction. NotFound for an unknown id."""
        at = _utc(at, "at")
        with self._write() as session:
            row = session.get(DiplomaRow, diploma_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no diploma with id {diploma_id}")
            row.holder_link_generation += 1
            session.flush()
            details = {
                "diploma": row.id,
                "serial": row.serial,
                "generation": row.holder_link_generation,
            }
            append_audit(
                session, at, actor, AuditAction.HOLDER_LINK_RENEWED, details, subject=row.id
            )
            return self._diploma(row)

    @staticmethod
    def _refuse_if_revoked(row: DiplomaRow, doing: str) -> None:
        if row.status == DiplomaStatus.REVOKED.value:
            when = row.revoked_at.date().isoformat() if row.revoked_at else "an unknown date"
            why = row.revocation_reason or "no reason given"
            if doing == "revoked":
                raise Conflict(f"diploma {row.serial} is already revoked (on {when}: {why})")
            raise Conflict(
                f"diploma {row.serial} is revoked (on {when}: {why}); revocation is final, "
                f"so it cannot be {doing}"
            )

    def revoke(
        self,
        diploma_id: str,
        reason: str,
        at: datetime,
        *,
        note: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> Diploma:
        """Mark the diploma revoked, for good (a suspended one too). Raises NotFound, or
        Conflict if it already is."""
        at = _utc(at, "at")
        with self._changing_status(diploma_id, at, actor, AuditAction.DIPLOMA_REVOKED) as row:
            self._refuse_if_revoked(row, "revoked")
            row.status = DiplomaStatus.REVOKED.value
            row.revoked_at = at
            row.revocation_reason = reason
            row.revocation_note = note
        return self._diploma(row)

    def suspend(
        self,
        diploma_id: str,
        reason: str,
        at: datetime,
        *,
        note: str = "",
        actor: str = SYSTEM_ACTOR,
    ) -> Diploma:
        """Suspend the diploma until `unsuspend`. Raises NotFound, or Conflict if it is
        revoked or suspended already."""
        at = _utc(at, "at")
        with self._changing_status(diploma_id, at, actor, AuditAction.DIPLOMA_SUSPENDED) as row:
            self._refuse_if_revoked(row, "suspended")
            if row.status == DiplomaStatus.SUSPENDED.value:
                since = row.suspended_at.date().isoformat() if row.suspended_at else "?"
                raise Conflict(f"diploma {row.serial} is already suspended (since {since})")
            row.status = DiplomaStatus.SUSPENDED.value
            row.suspended_at = at
            row.suspension_reason = reason
            row.suspension_note = note
        return self._diploma(row)

    def unsuspend(self, diploma_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR) -> Diploma:
        """Lift a suspension: the diploma is issued again. Raises NotFound, or Conflict if
        it is revoked or not suspended."""
        at = _utc(at, "at")
        lifting = AuditAction.DIPLOMA_UNSUSPENDED
        with self._changing_status(diploma_id, at, actor, lifting) as row:
            self._refuse_if_revoked(row, "unsuspended")
            if row.status != DiplomaStatus.SUSPENDED.value:
                raise Conflict(f"diploma {row.serial} is not suspended")
            row.status = DiplomaStatus.ISSUED.value
            row.suspended_at = None
            row.suspension_reason = ""
            row.suspension_note = ""
        return self._diploma(row)

    # -- status lists ---------------------------------------------------------------------

    def status_list_version(self, number: int) -> int | None:
        """The version of status list `number` (None if there is no such list)."""
        with self._read() as session:
            return session.scalar(
                select(StatusListRow.version).where(StatusListRow.number == number)
            )

    def status_list_bits(
        self, number: int, purpose: StatusPurpose
    ) -> tuple[int, int, list[int]] | None:
        """(version, size, indexes whose bit is set) of list `number` for `purpose`: the
        revoked diplomas' indexes, or the suspended ones'. The version is read first, so a
        change that lands in between makes the version older than the bits, never newer."""
        status = (
            DiplomaStatus.REVOKED
            if purpose is StatusPurpose.REVOCATION
            else DiplomaStatus.SUSPENDED
        )
        with self._read() as session:
            head = session.execute(
                select(StatusListRow.version, StatusListRow.size).where(
                    StatusListRow.number == number
                )
            ).one_or_none()
            if head is None:
                return None
            indexes = session.scalars(
                select(DiplomaRow.status_index).where(
                    DiplomaRow.status_list == number, DiplomaRow.status == status.value
                )
            ).all()
            return head.version, head.size, [i for i in indexes if i is not None]

    def signed_status_list(self, name: str) -> SignedStatusList | None:
        with self._read() as session:
            row = session.get(SignedStatusListRow, name)
            if row is None:
                return None
            return SignedStatusList(row.name, row.version, row.key_id, bytes(row.document))

    def store_signed_status_list(self, signed: SignedStatusList, at: datetime) -> None:
        """Keep the signed list for every server process, unless a newer one is stored."""
        at = _utc(at, "at")
        try:
            with self._write() as session:
                row = session.get(SignedStatusListRow, signed.name, with_for_update=True)
                if row is None:
                    session.add(
                        SignedStatusListRow(
                            name=signed.name,
                            version=signed.version,
                            key_id=signed.key_id,
                            document=signed.document,
                            signed_at=at,
                        )
                    )
                elif row.version <= signed.version:
                    row.version = signed.version
                    row.key_id = signed.key_id
                    row.document = signed.document
                    row.signed_at = at
        except IntegrityError:
            pass  # another process stored the list first; either copy serves

    def set_pdf_sha256(self, diploma_id: str, sha256: str) -> None:
        """Remember the SHA-256 (lowercase hex) of the signed PDF. Raises NotFound."""
        if not _SHA256.match(sha256):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        with self._write() as session:
            row = session.get(DiplomaRow, diploma_id)
            if row is None:
                raise NotFound(f"no diploma with id {diploma_id}")
            row.pdf_sha256 = sha256

    def set_pdf_sha256_many(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Record the PDF digests of a chunk of diplomas in one transaction."""
        for _, sha256 in pairs:
            if not _SHA256.match(sha256):
                raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        if not pairs:
            return
        with self._write() as session:
            session.execute(
                update(DiplomaRow),
                [{"id": diploma_id, "pdf_sha256": sha} for diploma_id, sha in pairs],
            )

    def _institution(self, slug: str, diploma_id: str | None = None) -> Institution:
        try:
            return self._institutions[slug]
        except KeyError:
            whose = f"diploma {diploma_id} was issued by" if diploma_id else "issuing for"
            known = ", ".join(sorted(self._institutions)) or "none"
            raise ConfigurationError(
                f"{whose} institution {slug!r}, which is not configured (configured: {known})"
            ) from None

    def _diploma(self, row: DiplomaRow | Row[Any]) -> Diploma:
        return Diploma(
            id=row.id,
            serial=row.serial,
            institution=self._institution(row.institution, row.id),
            request=DiplomaRequest(
                name=row.name,
                issued_on=row.issued_on,
                name_en=row.name_en,
                award=row.award,
                award_en=row.award_en,
                citation=row.citation,
                field=row.field,
                email=row.email,
                national_id="",
                external_id=row.external_id or "",
                template=row.template,
                co_issuers=tuple(slug for slug in row.co_issuers.split(",") if slug),
            ),
            issued_at=row.issued_at,
            key_id=row.key_id,
            record=bytes(row.record),
            status=DiplomaStatus(row.status),
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
            revocation_note=row.revocation_note,
            pdf_sha256=row.pdf_sha256,
            co_issuers=tuple(
                self._institution(slug, row.id) for slug in row.co_issuers.split(",") if slug
            ),
            suspended_at=row.suspended_at,
            suspension_reason=row.suspension_reason,
            suspension_note=row.suspension_note,
            holder_link_generation=row.holder_link_generation,
            status_slot=(
                None
                if row.status_list is None or row.status_index is None
                else (row.status_list, row.status_index)
            ),
            batch_id=row.batch_id,
        )

    # -- proposals ------------------------------------------------------------------------

    def add_proposal(self, proposal: Proposal, details: Mapping[str, Any]) -> None:
        """Store a new proposal and its `proposal.created` entry (by its proposer)."""
        with self._write() as session:
            row = ProposalRow()
            write_row(row, proposal, self._hash_national_id)
            session.add(row)
            session.flush()
            append_audit(
                session,
                _utc(proposal.created_at, "created_at"),
                proposal.proposer,
                AuditAction.PROPOSAL_CREATED,
                details,
                subject=proposal.id,
            )

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        with self._read() as session:
            row = session.get(ProposalRow, proposal_id)
            return None if row is None else proposal_of(row)

    def proposals(
        self, state: ProposalState | None = None, *, batch_id: str = "", diploma_id: str = ""
    ) -> list[Proposal]:
        """Proposals, newest first: all, or those in `state`, of a batch or of a diploma."""
        query = select(ProposalRow).order_by(ProposalRow.created_at.desc(), ProposalRow.id)
        if state is not None:
            query = query.where(ProposalRow.state == state.value)
        if batch_id:
            query = query.where(ProposalRow.batch_id == batch_id)
        if diploma_id:
            query = query.where(ProposalRow.diploma_id == diploma_id)
        with self._read() as session:
            return [proposal_of(row) for row in session.scalars(query)]

    def change_proposal(
        self, proposal_id: str, change: Callable[[Proposal], ProposalEvent]
    ) -> Proposal:
        """Apply `change` to the proposal as stored, under its row lock (two approvers at
        once are taken one after the other), and append the audit entry it names, in one
        transaction. NotFound; whatever `change` raises leaves everything as it was."""
        with self._write() as session:
            row = session.get(ProposalRow, proposal_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no proposal with id {proposal_id}")
            event = change(proposal_of(row))
            write_row(row, event.proposal, self._hash_national_id)
            session.flush()
            if event.action:
                assert event.at is not None
                append_audit(
                    session,
                    _utc(event.at, "at"),
                    event.actor,
                    event.action,
                    event.details,
                    subject=proposal_id,
                )
            return event.proposal

    # -- API tokens -----------------------------------------------------------------------

    def add_token(self, token: TokenRecord, *, actor: str = SYSTEM_ACTOR) -> None:
        """Store a new token (its hash) and its audit entry. Raises Conflict if its id is
        taken."""
        row = ApiTokenRow(
            token_id=token.token_id,
            name=token.name,
            secret_hash=token.secret_hash,
            scopes=_join_scopes(token.scopes),
            created_at=_utc(token.created_at, "created_at"),
            revoked_at=None if token.revoked_at is None else _utc(token.revoked_at, "revoked_at"),
            last_used_at=None,
            owner_id=token.owner_id,
            expires_at=None if token.expires_at is None else _utc(token.expires_at, "expires_at"),
        )
        details: dict[str, Any] = {"token": row.token_id, "name": row.name, "scopes": row.scopes}
        if token.owner_id is not None:
            details["owner"] = token.owner_email
        if row.expires_at is not None:
            details["expires_at"] = row.expires_at.isoformat()
        try:
            with self._write() as session:
                session.add(row)
                session.flush()
                append_audit(
                    session,
                    row.created_at,
                    actor,
                    AuditAction.TOKEN_CREATED,
                    details,
                    subject=row.token_id,
                )
        except IntegrityError:
            raise Conflict(
                f"a token with id {token.token_id}, or one of this user named "
                f"{token.name!r}, already exists"
            ) from None

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self._read() as session:
            found = session.execute(
                _TOKENS_WITH_OWNER.where(ApiTokenRow.token_id == token_id)
            ).first()
            return None if found is None else _token(found[0], found[1])

    def touch_token(self, token_id: str, at: datetime) -> None:
        """Record that the token was used at `at`. Raises NotFound."""
        at = _utc(at, "at")
        with self._write() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            row.last_used_at = at

    def token_last_used(self, token_id: str) -> datetime | None:
        """When the token was last used (None if never). Raises NotFound."""
        with self._read() as session:
            row = session.get(ApiTokenRow, token_id)
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            return row.last_used_at

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones included, oldest first."""
        with self._read() as session:
            rows = session.execute(
                _TOKENS_WITH_OWNER.order_by(ApiTokenRow.created_at, ApiTokenRow.token_id)
            ).all()
            return [_token(row, email) for row, email in rows]

    def revoke_token(
        self, token_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> TokenRecord:
        """Revoke the token. Raises NotFound, or Conflict if it already is revoked."""
        at = _utc(at, "at")
        with self._write() as session:
            row = session.get(ApiTokenRow, token_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no API token with id {token_id}")
            if row.revoked_at is not None:
                raise Conflict(
                    f"API token {token_id} is already revoked "
                    f"(on {row.revoked_at.date().isoformat()})"
                )
            row.revoked_at = at
            session.flush()
            owner = None if row.owner_id is None else session.get(UserRow, row.owner_id)
            details = {"token": token_id, "name": row.name}
            if owner is not None:
                details["owner"] = owner.email
            append_audit(session, at, actor, AuditAction.TOKEN_REVOKED, details, subject=token_id)
            return _token(row, None if owner is None else owner.email)

    # -- users ----------------------------------------------------------------------------

    def add_user(self, user: User, *, actor: str = SYSTEM_ACTOR) -> None:
        """Store a new user and its audit entry. Raises Conflict if the email (or id) is
        taken."""
        at = _utc(user.created_at, "created_at")
        row = UserRow(
            id=user.id,
            email=user.email,
            institution=user.institution,
            role=user.role.value,
            password_hash=user.password_hash,
            created_at=at,
            password_changed_at=at,
            disabled_at=None if user.disabled_at is None else _utc(user.disabled_at, "disabled_at"),
        )
        try:
            with self._write() as session:
                session.add(row)
                session.flush()
                append_audit(
                    session,
                    at,
                    actor,
                    AuditAction.USER_ADDED,
                    {"email": row.email, "institution": row.institution, "role": row.role},
                    subject=row.id,
                )
        except IntegrityError:
            raise Conflict(f"a user with email {user.email} already exists") from None

    def get_user(self, user_id: str) -> User | None:
        with self._read() as session:
            row = session.get(UserRow, user_id)
            return None if row is None else _user(row)

    def user_by_email(self, email: str) -> User | None:
        with self._read() as session:
            row = session.scalars(select(UserRow).where(UserRow.email == email)).first()
            return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        """Every user, disabled ones included, by email."""
        with self._read() as session:
            rows = session.scalars(select(UserRow).order_by(UserRow.email)).all()
            return [_user(row) for row in rows]

    def disable_user(self, user_id: str, at: datetime, *, actor: str = SYSTEM_ACTOR) -> User:
        """Disable the user (their tokens stop working). Raises NotFound, or Conflict if
        disabled already."""
        at = _utc(at, "at")
        with self._write() as session:
            row = session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            if row.disabled_at is not None:
                raise Conflict(
                    f"user {row.email} is already disabled "
                    f"(on {row.disabled_at.date().isoformat()})"
                )
            row.disabled_at = at
            session.flush()
            append_audit(
                session, at, actor, AuditAction.USER_DISABLED, {"email": row.email}, subject=row.id
            )
            return _user(row)

    def set_password(
        self, user_id: str, password_hash: str, at: datetime, *, actor: str = SYSTEM_ACTOR
    ) -> User:
        """Replace the user's password hash (the audit entry holds no part of it). Raises
        NotFound."""
        at = _utc(at, "at")
        with self._write() as session:
            row = session.get(UserRow, user_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no user with id {user_id}")
            row.password_hash = password_hash
            row.password_changed_at = at
            session.flush()
            append_audit(
                session,
                at,
                actor,
                AuditAction.USER_PASSWORD_RESET,
                {"email": row.email},
                subject=row.id,
            )
            return _user(row)
