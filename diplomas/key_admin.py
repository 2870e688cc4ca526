"""The record keys' everyday care, one place for the CLI and the console: list, rotate,
mark one compromised, export the trust bundle. Each change is audited in the name of
whoever asked; a running server sees it within seconds (`diplomas.watch`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .bootstrap import open_key_store, record_audit_event
from .config import Settings, configured_institutions
from .core.audit import AuditAction
from .core.errors import FieldProblem, InvalidInput, NotFound
from .core.keyring import RecordKey
from .core.proof import iso_utc
from .core.verification import SupersededRecord
from .keys.store import FileKeyStore


@dataclass(frozen=True)
class Rotated:
    new: RecordKey
    retired: tuple[str, ...]


class KeyAdmin:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def store(self, slug: str | None = None) -> FileKeyStore:
        """The key store of institution `slug` (default: the issuer); NotFound naming the
        institutions otherwise."""
        institution = None
        if slug:
            institutions = configured_institutions(self.settings)
            institution = next((i for i in institutions if i.slug == slug), None)
            if institution is None:
                known = ", ".join(i.slug for i in institutions)
                raise NotFound(f"no institution {slug!r} in this instance (it has: {known})")
        return open_key_store(self.settings, institution)

    def entries(self, slug: str | None = None) -> tuple[RecordKey, ...]:
        return tuple(self.store(slug).entries())

    def rotate(self, now: datetime, *, actor: str, slug: str | None = None) -> Rotated:
        """A new key signs from now on; the one before is retired and keeps verifying."""
        store = self.store(slug)
        before = tuple(k.key_id for k in store.entries() if k.status == "active")
        entry = store.rotate(now)
        self._audit(
            actor,
            AuditAction.KEY_ROTATED,
            {"institution": store.institution.slug, "key_id": entry.key_id, "retired": before},
            entry.key_id,
        )
        return Rotated(entry, before)

    def mark_compromised(
        self,
        key_id: str,
        since: datetime,
        now: datetime,
        *,
        actor: str,
        slug: str | None = None,
        typed: str | None = None,
    ) -> RecordKey:
        """Records the key signed at or after `since` fail verification from now on. With
        `typed` (the console asks the admin to type the key's id), it must be that id."""
        if typed is not None and typed.strip() != key_id:
            raise InvalidInput(
                FieldProblem("confirm", "type the key's id exactly to mark it compromised")
            )
        store = self.store(slug)
        entry = store.mark_compromised(key_id, since, now)
        assert entry.compromised_since is not None
        self._audit(
            actor,
            AuditAction.KEY_COMPROMISED,
            {
                "institution": store.institution.slug,
                "key_id": key_id,
                "since": iso_utc(entry.compromised_since),
            },
            key_id,
        )
        return entry

    def export_bundle(
        self, slug: str | None = None, superseded: list[SupersededRecord] | None = None
    ) -> dict[str, Any]:
        """The trust bundle offline verifiers take (public keys and roots only), with the
        digests of diploma versions that corrections replaced (None: say nothing of
        them, when the database cannot tell)."""
        return self.store(slug).export_bundle(superseded)

    def superseded(self, slug: str) -> list[SupersededRecord]:
        """The institution's replaced diploma versions, from the database."""
        from .bootstrap import superseded_for_bundle

        return superseded_for_bundle(self.settings, slug)

    def _audit(
        self, actor: str, action: AuditAction, details: dict[str, Any], subject: str
    ) -> None:
        record_audit_event(self.settings, actor, action, details, subject)
