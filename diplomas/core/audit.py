"""The audit log's chain rules: an entry's canonical form, its hash, and verification.

Every entry names who did what, when, and the SHA-256 of the previous entry's canonical
bytes (RFC 8785, `proof.canonical`); the first entry names `GENESIS`. A chain head (the
last entry's number and hash) is kept beside the entries, so that:

- an edited entry no longer hashes to the hash stored beside it, nor to what the next
  entry (or the head) names;
- a deleted entry leaves a gap in the numbers and a mismatched previous hash;
- reordered entries break the numbering or the previous hashes;
- entries cut off the end leave the head pointing past the last entry.

Storage (tables, locking) lives in `diplomas.storage.audit`; nothing here touches a database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .proof import canonical

SCHEMA = 1
GENESIS = "0" * 64
"""The previous hash that the first entry names."""
SYSTEM_ACTOR = "system"
"""The actor when a caller names none (tests, maintenance code)."""


class AuditAction(StrEnum):
    DIPLOMA_ISSUED = "diploma.issued"
    DIPLOMAS_ISSUED = "diplomas.issued"
    """One committed chunk of a bulk issuance; `details["diplomas"]` lists [id, serial]."""
    DIPLOMA_REVOKED = "diploma.revoked"
    DIPLOMA_SUSPENDED = "diploma.suspended"
    DIPLOMA_UNSUSPENDED = "diploma.unsuspended"
    DIPLOMA_CORRECTED = "diploma.corrected"
    """A new version under the same id and serial; `details["fields"]` names the fields
    changed (names only: never a national id)."""
    KEY_INIT = "key.init"
    KEY_ROTATED = "key.rotated"
    KEY_RETIRED = "key.retired"
    KEY_COMPROMISED = "key.compromised"
    CERTIFICATE_IMPORTED = "certificate.imported"
    """A CA-issued document-signing certificate became the one that signs PDFs."""
    CERTIFICATE_RENEWED = "certificate.renewed"
    """A new self-made document-signing certificate signs PDFs from now on."""
    CERTIFICATE_DISTRUSTED = "certificate.distrusted"
    """PDF signatures by the certificate from `details["since"]` on are refused."""
    ROOT_EXPORTED = "root.exported"
    """The root CA's key left the key store for an offline file."""
    INSTITUTION_ADDED = "institution.added"
    INSTITUTION_MOVED = "institution.moved"
    """Its public URL, and so its DID, changed; `details` names both and whether the
    address it left stays its own (diplomas issued there name it)."""
    SETTINGS_CHANGED = "settings.changed"
    TOKEN_CREATED = "token.created"  # noqa: S105 - action names, not secrets
    TOKEN_USED = "token.used"  # noqa: S105
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    USER_ADDED = "user.added"
    USER_DISABLED = "user.disabled"
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105
    """`details` name the user, never any part of the password or its hash."""
    USER_SIGNED_IN = "user.signed_in"
    """A console session opened (password, and second factor where one is needed)."""
    USER_SIGNED_OUT_EVERYWHERE = "user.signed_out_everywhere"
    USER_TOTP_ENABLED = "user.totp_enabled"
    USER_TOTP_REMOVED = "user.totp_removed"
    PROPOSAL_CREATED = "proposal.created"
    """A diploma or batch proposed under the two-person rule; `subject` is its id."""
    PROPOSAL_APPROVED = "proposal.approved"
    """One institution's approval; `details["missing"]` lists the ones still needed."""
    PROPOSAL_REJECTED = "proposal.rejected"
    MAIL_RESENT = "mail.resent"
    """A new message queued to holders by hand; `subject` is the diploma or the batch,
    `details["diplomas"]` the diplomas that have an email (the others get none)."""
    HOLDER_LINK_RENEWED = "holder_link.renewed"
    """The holder's private link was renewed: every copy given before stops working."""


@dataclass(frozen=True)
class Change:
    """What a server needs of one audit entry to keep its caches true: the entry's
    number, its action and its subject."""

    seq: int
    action: str
    subject: str


def token_actor(token_id: str) -> str:
    """The actor of an API call authenticated with a token."""
    return f"token:{token_id}"


def cli_actor(user: str) -> str:
    """The actor of a command run by `user` on the command line."""
    return f"cli:{user}"


def utc_text(moment: datetime) -> str:
    """The entry's time as hashed: UTC with microseconds, e.g. 2026-11-26T09:30:00.000001Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} refused: pass tzinfo")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEntry:
    """One entry. `details` holds JSON values only (texts, integers, lists, objects), no
    floats and never a secret or a national id."""

    seq: int
    """1 for the first entry, then consecutive."""
    at: datetime
    actor: str
    """`user:<email> (token <name>)` for a call with a user's token, `token:<token id>` with
    a token that belongs to no user, `cli:<user>`, or `batch:<batch id>` for background
    bulk work."""
    action: str
    subject: str
    """The diploma id, token id or key id it is about ('' for a bulk chunk)."""
    details: Mapping[str, Any]
    prev_hash: str
    """SHA-256 (hex) of the previous entry's canonical bytes; `GENESIS` for the first."""
    recorded_hash: str | None = None
    """The hash stored beside the entry when it was written (None for a new one): lets
    verification name an edited entry itself rather than the one after it."""

    def document(self) -> dict[str, Any]:
        return {
            "v": SCHEMA,
            "seq": self.seq,
            "at": utc_text(self.at),
            "actor": self.actor,
            "action": self.action,
            "subject": self.subject,
            "details": dict(self.details),
            "prev": self.prev_hash,
        }

    def canonical_bytes(self) -> bytes:
        return canonical(self.document())

    def digest(self) -> str:
        """SHA-256 (hex) of `canonical_bytes()`: what the next entry names as previous."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def details_text(self) -> str:
        """The details as stored: canonical JSON text."""
        return canonical(dict(self.details)).decode()


def details_from_text(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("audit details must be a JSON object")
    return value


@dataclass(frozen=True)
class ChainHead:
    """The last entry's number and hash (0 and `GENESIS` for an empty log)."""

    seq: int = 0
    hash: str = GENESIS


def next_entry(
    head: ChainHead,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, Any],
) -> AuditEntry:
    """The entry that follows `head`."""
    if not actor:
        raise ValueError("an audit entry needs an actor")
    return AuditEntry(head.seq + 1, at, actor, str(action), subject, dict(details), head.hash)


@dataclass(frozen=True)
class ChainVerdict:
    """What `verify_chain` found. `broken_at` is the number of the first entry that is
    wrong (or the position where one is missing), None when the chain is intact."""

    checked: int
    head: ChainHead
    broken_at: int | None = None
    reasons: tuple[str, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return not self.reasons


def verify_chain(entries: Iterable[AuditEntry], head: ChainHead | None) -> ChainVerdict:
    """Check entries given in stored order (ascending `seq`) against each other and the head.

    Stops at the first broken entry and says why.
    """
    expected_seq = 1
    expected_prev = GENESIS
    checked = 0
    last = ChainHead()
    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                why = (
                    f"entry {expected_seq} is missing: the log jumps from entry "
                    f"{expected_seq - 1} to entry {entry.seq} (deleted)"
                )
                return _broken(checked, last, expected_seq, why)
            why = (
                f"entry {entry.seq} appears after entry {expected_seq - 1}: "
                "numbers are duplicated or out of order (reordered or inserted)"
            )
            return _broken(checked, last, entry.seq, why)
        digest = entry.digest()
        if entry.recorded_hash is not None and entry.recorded_hash != digest:
            why = (
                f"entry {entry.seq} was edited: its content no longer hashes to the hash "
                "recorded when it was written"
            )
            return _broken(checked, last, entry.seq, why)
        if entry.prev_hash != expected_prev:
            what = "the chain's start" if expected_seq == 1 else f"entry {expected_seq - 1}"
            why = (
                f"entry {entry.seq} names a previous hash {entry.prev_hash[:16]}… that is not "
                f"the hash of {what} ({expected_prev[:16]}…): entry {entry.seq} or the one "
                "before it was edited, deleted or reordered"
            )
            return _broken(checked, last, entry.seq, why)
        expected_prev = digest
        expected_seq += 1
        checked += 1
        last = ChainHead(entry.seq, expected_prev)
    if head is None:
        if checked:
            return _broken(checked, last, None, "the chain head is missing")
        return ChainVerdict(checked, last)
    if head.seq > last.seq:
        why = (
            f"the chain head records {head.seq} entries but the log ends at entry "
            f"{last.seq}: entries after it were deleted (truncated)"
        )
        return _broken(checked, last, last.seq + 1, why)
    if head.seq < last.seq:
        why = (
            f"the chain head records {head.seq} entries but the log has {last.seq}: "
            f"entry {head.seq + 1} was added without the chain head"
        )
        return _broken(checked, last, head.seq + 1, why)
    if head.hash != last.hash:
        why = (
            f"entry {last.seq} does not hash to the value in the chain head: "
            "the last entry (or the head) was edited"
        )
        return _broken(checked, last, last.seq or None, why)
    return ChainVerdict(checked, last)


def _broken(checked: int, last: ChainHead, at: int | None, why: str) -> ChainVerdict:
    return ChainVerdict(checked, last, at, (why,))
