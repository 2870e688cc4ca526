"""The in-memory twin of the file key store, for tests and throw-away instances.

Same operations as `FileKeyStore`, no files, no passphrase: keys live as long as the object.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..core import holder
from ..core.errors import KeyStoreError
from ..core.keyring import KeyRing, RecordKey, RecordSigner, published_under
from ..core.model import Institution
from . import bundle, certs, sealed
from .record import (
    Ed25519RecordSigner,
    compromised,
    current_entry,
    find_entry,
    new_key_id,
    retired,
    rotated,
    utc_seconds,
)

if TYPE_CHECKING:
    from ..pdfsign import PadesSigner


class MemoryKeyStore:
    """A complete key store (record key, root CA, document-signing certificate) in memory."""

    def __init__(self, institution: Institution, now: datetime) -> None:
        self.institution = institution
        self._entries: list[RecordKey] = []
        self._private: dict[str, Ed25519PrivateKey] = {}
        self.rotate(now)
        self._root_key = certs.new_ec_key()
        self._root = certs.build_root_certificate(institution, self._root_key, now)
        self._signing_key = certs.new_ec_key()
        self._signing_cert = certs.build_document_signing_certificate(
            institution, self._signing_key.public_key(), self._root, self._root_key, now
        )
        self._secret = os.urandom(32)
        self._pdf_signer: PadesSigner | None = None

    def signer(self) -> RecordSigner:
        entry = current_entry(self._entries)
        if entry is None:
            raise KeyStoreError(
                "no active record-signing key (all are retired or compromised); "
                "run `diplomas keys rotate` to make one"
            )
        signing = replace(entry, controller=self.institution.did)
        return Ed25519RecordSigner(signing, self._private[entry.key_id])

    def keyring(self) -> KeyRing:
        return KeyRing(published_under(self._entries, self.institution.dids))

    def entries(self) -> tuple[RecordKey, ...]:
        return tuple(self._entries)

    def rotate(self, now: datetime) -> RecordKey:
        entry, private = self._new_entry(now)
        self._entries = list(rotated(self._entries, entry, now))
        self._private[entry.key_id] = private
        return entry

    def retire(self, key_id: str, now: datetime, *, rotate: bool = False) -> RecordKey | None:
        changed = list(retired(self._entries, key_id, now, replacing=rotate))
        if not rotate:
            self._entries = changed
            return None
        entry, private = self._new_entry(now)
        self._entries = [*changed, entry]
        self._private[entry.key_id] = private
        return entry

    def mark_compromised(self, key_id: str, since: datetime, now: datetime) -> RecordKey:
        self._entries = list(compromised(self._entries, key_id, since, now))
        return find_entry(self._entries, key_id)

    def _new_entry(self, now: datetime) -> tuple[RecordKey, Ed25519PrivateKey]:
        key_id = new_key_id(now)
        while key_id in self._private:
            key_id = new_key_id(now)
        private = Ed25519PrivateKey.generate()
        entry = RecordKey(
            key_id=key_id,
            public_key=private.public_key().public_bytes_raw(),
            controller=self.institution.did,
            valid_from=utc_seconds(now),
        )
        return entry, private

    def trust_roots(self) -> list[x509.Certificate]:
        return [self._root]

    def document_signing_certificate(self) -> x509.Certificate:
        return self._signing_cert

    def pdf_signer(self) -> PadesSigner:
        if self._pdf_signer is None:
            from ..pdfsign import PadesSigner

            self._pdf_signer = PadesSigner(
                self._signing_key,
                self._signing_cert,
                [self._root],
                signer_name=self.institution.name_en or self.institution.name,
                reason=f"Diploma issued by {self.institution.name_en or self.institution.name}",
                location=self.institution.public_url,
            )
        return self._pdf_signer

    def national_id_hasher(self) -> Callable[[str], str]:
        return sealed.national_id_hasher(self._secret)

    def holder_link_key(self) -> bytes:
        return holder.link_key(self._secret)

    def export_bundle(self) -> dict[str, Any]:
        return bundle.export_bundle(self.institution, self._entries, self.trust_roots())
