"""Signing keys in a hardware token (PKCS#11): they sign inside it and never leave it.

A key store moved into a token (`move_to_token`, the command `diplomas keys init-token`)
keeps its directory for everything public and for what the token does not hold:

    <directory>/pkcs11.json              which token, which keys (written by init-token)
    {
      "format": "diplomas-pkcs11", "version": 1,
      "module": "/usr/lib/softhsm/libsofthsm2.so",     the token's PKCS#11 library
      "token_label": "diplomas",
      "document_signing": {"label": "diplomas-tbzmed-dsk-3f0c9a1e",
                           "certificate_file": "document-signing-token-dsc-....pem"},
      "record_keys": {"rk-...": "diplomas-tbzmed-rk-..."}   key id -> the key's label
    }
    <directory>/document-signing-token-<cert id>.pem   the token key's certificate, issued
                                         by the store's own root (root-ca.pem)

The Ed25519 record key and the ECDSA P-256 document-signing key are generated in the
token as sensitive and never extractable, and sign there (`pkcs11_token`: CKM_EDDSA, and
CKM_ECDSA whose signature the PDF signer makes DER and low-s as for a key in a file).
The root CA key and the national-id secret stay in files, encrypted with the key-store
passphrase; record keys made before the move stay in theirs and keep verifying (the move
retires them).

The PIN comes from DIPLOMAS_PKCS11_PIN or the file DIPLOMAS_PKCS11_PIN_FILE, never from
the settings file, and is never logged. A PKCS#11 session cannot cross a fork: each
process opens its own on its first signature (a batch's workers each open theirs).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..core.errors import ConfigurationError, Conflict, KeyStoreError
from ..core.keyring import RecordKey, RecordSigner
from ..core.model import Institution
from . import certs, signing
from ._files import locked, read_private_file, replace_file, write_new_file
from .pkcs11_token import (
    CONFIG_FILE,
    ED25519_OID,
    PIN_FILE_VARIABLE,
    PIN_VARIABLE,
    Token,
    TokenEcdsaKey,
    TokenRecordSigner,
)
from .record import (
    current_entry,
    dump_metadata,
    load_metadata,
    new_key_id,
    retired,
    rotated,
    utc_seconds,
)
from .store import (
    METADATA_FILE,
    ROOT_CERT_FILE,
    FileKeyStore,
    _read_certificate,
    _signature_details,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ..pdfsign import PadesSigner
    from ..pdfsign.signer import Timestamping
    from .distrust import DistrustedCertificate
    from .importing import CheckedCertificate
    from .offline_root import RootKey

CONFIG_FORMAT = "diplomas-pkcs11"
CONFIG_VERSION = 1
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class TokenConfig:
    """Which token holds a key store's signing keys, and under which labels."""

    module: str
    """The path of the token's PKCS#11 library (`libsofthsm2.so`, a vendor's `.so`)."""
    token_label: str
    document_signing_label: str
    certificate_file: str
    """The document-signing key's certificate, a file in the key store."""
    record_keys: Mapping[str, str] = field(default_factory=dict)
    """Record key id -> the label of its key pair in the token."""

    def with_record_key(self, key_id: str, label: str) -> TokenConfig:
        return replace(self, record_keys={**self.record_keys, key_id: label})


def dump_config(config: TokenConfig) -> bytes:
    document = {
        "format": CONFIG_FORMAT,
        "version": CONFIG_VERSION,
        "module": config.module,
        "token_label": config.token_label,
        "document_signing": {
            "label": config.document_signing_label,
            "certificate_file": config.certificate_file,
        },
        "record_keys": dict(config.record_keys),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def load_config(data: bytes, source: str) -> TokenConfig:
    from .versioned import read_versioned

    document = read_versioned(
        data,
        source,
        format=CONFIG_FORMAT,
        version=CONFIG_VERSION,
        what="a PKCS#11 token configuration",
    )
    signing_key = document.get("document_signing")
    record_keys = document.get("record_keys")
    if not isinstance(signing_key, Mapping) or not isinstance(record_keys, Mapping):
        raise KeyStoreError(f"{source} needs document_signing and record_keys objects")

    def text(value: object, what: str, pattern: re.Pattern[str] | None = _LABEL) -> str:
        if not isinstance(value, str) or not value or (pattern and not pattern.fullmatch(value)):
            raise KeyStoreError(f"{source}: {what} is missing or malformed")
        return value

    return TokenConfig(
        module=text(document.get("module"), "module", None),
        token_label=text(document.get("token_label"), "token_label", None),
        document_signing_label=text(signing_key.get("label"), "document_signing.label"),
        certificate_file=text(
            signing_key.get("certificate_file"), "document_signing.certificate_file"
        ),
        record_keys={
            text(k, "a record key id"): text(v, f"the label of record key {k}")
            for k, v in record_keys.items()
        },
    )


def resolve_pin(settings: Settings) -> str:
    """The token's user PIN from DIPLOMAS_PKCS11_PIN, else from DIPLOMAS_PKCS11_PIN_FILE."""
    if settings.pkcs11_pin is not None:
        pin = settings.pkcs11_pin.get_secret_value()
        if not pin.strip():
            raise ConfigurationError(f"{PIN_VARIABLE} is set but empty; set the PIN or unset it")
        return pin
    if settings.pkcs11_pin_file is not None:
        path = settings.pkcs11_pin_file
        try:
            pin = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the token PIN from {path} ({PIN_FILE_VARIABLE}): {exc.strerror}"
            ) from None
        if not pin:
            raise ConfigurationError(f"{path} ({PIN_FILE_VARIABLE}) is empty; put the PIN in it")
        return pin
    raise ConfigurationError(
        f"the signing keys are in a PKCS#11 token and no PIN is given: set {PIN_VARIABLE}, "
        f"or {PIN_FILE_VARIABLE} to a file that holds it"
    )


# -- the key store ---------------------------------------------------------------------


class TokenKeyStore(FileKeyStore):
    """A key store whose current record key and document-signing key are in a token.

    Everything else is the file store's: public metadata, the root CA, the national-id
    secret (under the passphrase), and record keys made before the move.
    """

    def __init__(
        self,
        directory: Path,
        passphrase: bytes,
        institution: Institution,
        pin: Callable[[], str],
        *,
        timestamping: Timestamping | None = None,
    ) -> None:
        super().__init__(directory, passphrase, institution, timestamping=timestamping)
        self.config = _read_config(self.directory)
        self.token = Token(self.config.module, self.config.token_label, pin)
        self._token_signers: dict[str, TokenRecordSigner] = {}

    def __repr__(self) -> str:
        return f"TokenKeyStore({str(self.directory)!r}, {self.config.token_label!r})"

    def signer(self) -> RecordSigner:
        entry = current_entry(self.entries())
        if entry is not None and entry.key_id not in self.config.record_keys:
            # rotated by another process (the CLI while a server runs): read which label
            self.config = _read_config(self.directory)
        if entry is None or entry.key_id not in self.config.record_keys:
            return super().signer()  # no active key (the error), or one kept in a file
        with self._lock:
            signer = self._token_signers.get(entry.key_id)
            if signer is None:
                label = self.config.record_keys[entry.key_id]
                if self.token.public_point(label) != entry.public_key:
                    raise KeyStoreError(
                        f"the key {label!r} in token {self.token.label!r} is not the one "
                        f"that {METADATA_FILE} lists as {entry.key_id}"
                    )
                signing = replace(entry, controller=self.institution.did)
                signer = TokenRecordSigner(signing, self.token, label)
                self._token_signers[entry.key_id] = signer
            return signer

    def signing_certificates(self) -> signing.SigningCertificates:
        """The file store's certificates, and the token key's, which signs (its key is
        named in pkcs11.json, its root is the store's own). Once a certificate made before
        the move is distrusted, the list file holds the token's entry too, as current."""
        listed = super().signing_certificates()
        if listed.current().key_file == CONFIG_FILE:
            return listed
        certificate = _read_certificate(self.directory / self.config.certificate_file)
        entry = signing.describe(
            certificate,
            source="self-made",
            key_file=CONFIG_FILE,
            certificate_file=self.config.certificate_file,
            chain_file=None,
            root_file=ROOT_CERT_FILE,
        )
        return listed.added(entry)

    def pdf_signer(self) -> PadesSigner:
        with self._lock:
            if self._pdf_signer is None:
                from ..pdfsign import PadesSigner

                certificate = self.document_signing_certificate()
                public = certificate.public_key()
                if not isinstance(public, ec.EllipticCurvePublicKey):
                    raise KeyStoreError(f"{self.config.certificate_file} is not for an EC key")
                label = self.config.document_signing_label
                point = public.public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
                if self.token.public_point(label) != point:
                    raise KeyStoreError(
                        f"{self.config.certificate_file} does not belong to the key "
                        f"{label!r} in token {self.token.label!r}"
                    )
                root = _read_certificate(self.directory / ROOT_CERT_FILE)
                self._pdf_signer = PadesSigner(
                    TokenEcdsaKey(self.token, label, public),
                    certificate,
                    [root],
                    timestamping=self.timestamping,
                    **_signature_details(self.institution),
                )
            return self._pdf_signer

    def renew_certificate(
        self, now: datetime, root: RootKey | None = None
    ) -> signing.SigningCertificate:
        raise KeyStoreError(
            f"the document-signing key of {self.institution.slug} is in token "
            f"{self.token.label!r}: a renewal here would make the new key in a file, taking "
            f"signing out of the token, and is refused; its certificate is valid until "
            f"{self.document_signing_certificate().not_valid_after_utc.date().isoformat()}"
        )

    def distrust_certificate(
        self,
        reference: str,
        since: datetime,
        now: datetime,
        reason: str = "",
        *,
        vouched: Callable[[DistrustedCertificate], Iterable[str]] | None = None,
    ) -> signing.SigningCertificate:
        """A certificate from before the move, as a file store does; the token's own is
        refused with words that fit a token (no renewal here would replace it)."""
        current = self.signing_certificates().current()
        if self.signing_certificates().find(reference).cert_id == current.cert_id:
            raise Conflict(
                f"{current.cert_id} is the certificate of the key in token "
                f"{self.token.label!r}, which signs PDFs now; that key cannot leave the "
                f"token, and replacing it (a new key in the token) is not supported yet, so "
                f"it cannot be distrusted here. Certificates made before the move can be"
            )
        return super().distrust_certificate(reference, since, now, reason, vouched=vouched)

    def import_certificate(self, checked: CheckedCertificate) -> signing.SigningCertificate:
        raise KeyStoreError(
            f"the document-signing key of {self.institution.slug} is in token "
            f"{self.token.label!r}; importing a CA certificate with a key in a file would "
            f"take signing out of the token, and is refused"
        )

    def rotate(self, now: datetime) -> RecordKey:
        """A new record key, made in the token, signs from `now`; the active ones retire."""
        with locked(self.directory), self._lock:
            entries = self.entries()
            entry, label = _new_record_key(
                self.token, self.institution, now, {e.key_id for e in entries}
            )
            self._commit_token_key(rotated(entries, entry, now), entry, label)
        return entry

    def retire(self, key_id: str, now: datetime, *, rotate: bool = False) -> RecordKey | None:
        if not rotate:
            return super().retire(key_id, now)
        with locked(self.directory), self._lock:
            entries = self.entries()
            changed = retired(entries, key_id, now, replacing=True)
            entry, label = _new_record_key(
                self.token, self.institution, now, {e.key_id for e in entries}
            )
            self._commit_token_key((*changed, entry), entry, label)
        return entry

    def _commit_token_key(
        self, entries: tuple[RecordKey, ...], entry: RecordKey, label: str
    ) -> None:
        """The token's key is made; name it in pkcs11.json, then list it in the metadata
        (a crash in between leaves an unused key, never metadata naming a missing one)."""
        self.config = self.config.with_record_key(entry.key_id, label)
        replace_file(self.directory / CONFIG_FILE, dump_config(self.config))
        data = dump_metadata(entries)
        load_metadata(data, METADATA_FILE)
        replace_file(self.directory / METADATA_FILE, data)
        self._metadata = None


def _read_config(directory: Path) -> TokenConfig:
    path = directory / CONFIG_FILE
    try:
        return load_config(read_private_file(path), str(path))
    except FileNotFoundError:
        raise KeyStoreError(f"{path} is missing: the key store is not in a token") from None


def in_token(directory: Path) -> bool:
    """Whether the key store in `directory` keeps its signing keys in a token."""
    return (directory / CONFIG_FILE).is_file()


def _new_record_key(
    token: Token, institution: Institution, now: datetime, taken: set[str]
) -> tuple[RecordKey, str]:
    key_id = new_key_id(now)
    while key_id in taken:
        key_id = new_key_id(now)
    label = f"diplomas-{institution.slug}-{key_id}"
    public = token.generate(label, ED25519_OID)
    entry = RecordKey(
        key_id=key_id,
        public_key=public,
        controller=institution.did,
        valid_from=utc_seconds(now),
    )
    return entry, label


def move_to_token(
    store: FileKeyStore,
    module: str,
    token_label: str,
    pin: Callable[[], str],
    now: datetime,
    root: RootKey | None = None,
) -> TokenKeyStore:
    """Make a record key and a document-signing key in the token and sign with them from
    `now`: the store's active record keys retire (what they signed keeps verifying) and
    the new signing key gets a certificate from the store's root CA (`root`, brought in
    for this one command when the root is kept offline).

    Written in this order, each step after the token's keys exist: the certificate, the
    configuration, the record-key metadata. The token must be initialised already (its
    vendor's tool, or `softhsm2-util --init-token`).
    """
    directory = store.directory
    institution = store.institution
    if isinstance(store, TokenKeyStore) or in_token(directory):
        raise KeyStoreError(
            f"the keys of {institution.slug} are in a token already ({directory / CONFIG_FILE})"
        )
    utc_seconds(now)
    module = str(Path(module).absolute())  # as given: a distribution's link keeps working
    token = Token(module, token_label, pin)
    with locked(directory):
        issuer = store.checked_root(root)  # before anything is made in the token
        entries = store.entries()
        entry, record_label = _new_record_key(token, institution, now, {e.key_id for e in entries})
        signing_label = f"diplomas-{institution.slug}-dsk-{secrets.token_hex(4)}"
        point = token.generate(signing_label, "secp256r1")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        certificate = certs.build_document_signing_certificate(
            institution, public, issuer.certificate, issuer.key, now
        )
        certificate_file = f"document-signing-token-{signing.certificate_id(certificate)}.pem"
        write_new_file(
            directory / certificate_file, certificate.public_bytes(serialization.Encoding.PEM)
        )
        config = TokenConfig(
            module=module,
            token_label=token_label,
            document_signing_label=signing_label,
            certificate_file=certificate_file,
            record_keys={entry.key_id: record_label},
        )
        write_new_file(directory / CONFIG_FILE, dump_config(config))
        data = dump_metadata(rotated(entries, entry, now))
        load_metadata(data, METADATA_FILE)
        replace_file(directory / METADATA_FILE, data)
    moved = TokenKeyStore(
        directory, store._passphrase, institution, pin, timestamping=store.timestamping
    )
    moved.unlock()
    return moved
