"""The file key store: encrypted private keys and public metadata in one directory.

    <directory>/                         0700
      record-keys.json                   public metadata of every record key (ids, windows)
      record-key-<key id>.pem            Ed25519 record-signing key, encrypted PKCS#8
      root-ca.key.pem, root-ca.pem       the institution's self-made root CA (ECDSA P-256);
                                         the key is absent when the root is kept offline
                                         (`offline_root`: `init --offline-root`, `export_root`)
      document-signing.key.pem,          the self-made certificate and key that sign PDFs
      document-signing.pem
      signing-certificates.json          every document-signing certificate and which one
                                         signs now (see `signing`; absent: the self-made one)
      document-signing-<id>.key.pem,     an imported certificate (`import_certificate`):
      .pem, .chain.pem, .root.pem        encrypted key, certificate, intermediates, CA root;
                                         or a renewed self-made one (`renew_certificate`):
                                         key and certificate only
      national-id-secret.json            HMAC secret for national ids, sealed (scrypt, AES-GCM)
      .lock                              held (flock) while init or a key change runs

Every file is created 0600 with O_EXCL and never overwritten; only record-keys.json is
replaced, atomically, when keys rotate, retire or are marked compromised, and
signing-certificates.json when a certificate is imported, renewed or distrusted. The one
file ever removed is root-ca.key.pem, when the root moves offline, and only after the
exported copy was read back and opened. Private keys are decrypted lazily, once per
store object, and kept in memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..core import holder
from ..core.errors import KeyStoreError
from ..core.keyring import KeyRing, RecordKey, RecordSigner, published_under
from ..core.model import Institution
from ..core.verification import SupersededRecord
from . import bundle, certs, distrust, sealed, signing
from ._files import (
    _fsync_dir,
    ensure_private_dir,
    locked,
    read_private_file,
    replace_file,
    write_new_file,
)
from .record import (
    Ed25519RecordSigner,
    compromised,
    current_entry,
    dump_metadata,
    find_entry,
    key_file_name,
    load_metadata,
    new_key_id,
    retired,
    rotated,
    utc_seconds,
)

if TYPE_CHECKING:
    from ..pdfsign import PadesSigner
    from ..pdfsign.signer import Timestamping
    from .importing import CheckedCertificate, SigningKey
    from .offline_root import RootKey

METADATA_FILE = "record-keys.json"
ROOT_KEY_FILE = "root-ca.key.pem"
ROOT_CERT_FILE = "root-ca.pem"
SIGNING_KEY_FILE = "document-signing.key.pem"
SIGNING_CERT_FILE = "document-signing.pem"
SECRET_FILE = "national-id-secret.json"  # noqa: S105 (a file name, not a secret)


def _encrypt(
    key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, passphrase: bytes
) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def _decrypt(path: Path, passphrase: bytes) -> PrivateKeyTypes:
    try:
        data = read_private_file(path)
    except FileNotFoundError:
        raise KeyStoreError(f"the private key {path} is missing") from None
    try:
        return serialization.load_pem_private_key(data, passphrase)
    except TypeError:
        raise KeyStoreError(f"{path} is not encrypted; a plain private key is refused") from None
    except ValueError:
        raise KeyStoreError(
            f"the key passphrase does not open {path}: the passphrase is wrong "
            f"(check DIPLOMAS_KEY_PASSPHRASE or the key-passphrase file) or the file is damaged"
        ) from None


def _decrypt_ed25519(path: Path, passphrase: bytes) -> Ed25519PrivateKey:
    key = _decrypt(path, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyStoreError(f"{path} does not hold an Ed25519 key")
    return key


def _decrypt_ec(path: Path, passphrase: bytes) -> ec.EllipticCurvePrivateKey:
    key = _decrypt(path, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError(f"{path} does not hold an ECDSA key")
    return key


def _read_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise KeyStoreError(f"the certificate {path} is missing") from None
    except ValueError as exc:
        raise KeyStoreError(f"{path} is not a PEM certificate") from exc


class FileKeyStore:
    """An initialised key store in `directory` (see `init_key_store` to create one).

    Opening it reads only public metadata; the passphrase is first needed, and checked,
    when something is signed (or on `unlock()`).
    """

    def __init__(
        self,
        directory: Path,
        passphrase: bytes,
        institution: Institution,
        *,
        timestamping: Timestamping | None = None,
    ) -> None:
        self._dir = Path(directory)
        self.timestamping = timestamping
        """The timestamp authority PDF signatures use (PAdES B-T/B-LT), if one is set."""
        self._passphrase = passphrase
        self.institution = institution
        if not (self._dir / METADATA_FILE).is_file():
            raise KeyStoreError(
                f"there is no key store in {self._dir} (no {METADATA_FILE}); "
                f"run `diplomas init` first"
            )
        self._lock = threading.RLock()
        self._metadata: tuple[tuple[int, int, int], tuple[RecordKey, ...]] | None = None
        self._record_keys: dict[str, Ed25519PrivateKey] = {}
        self._roots: list[x509.Certificate] | None = None
        self._pdf_signer: PadesSigner | None = None
        self._hasher: Callable[[str], str] | None = None
        self._secret: bytes | None = None

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self._dir)!r})"

    @property
    def directory(self) -> Path:
        return self._dir

    # -- record keys -------------------------------------------------------------------

    def entries(self) -> tuple[RecordKey, ...]:
        """Every record key in the metadata, oldest first (re-read when the file changes)."""
        path = self._dir / METADATA_FILE
        try:
            info = os.stat(path)
        except FileNotFoundError:
            raise KeyStoreError(f"{path} is missing") from None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if self._metadata is None or self._metadata[0] != stamp:
                self._metadata = (stamp, load_metadata(read_private_file(path), str(path)))
            return self._metadata[1]

    def _private_record_key(self, entry: RecordKey) -> Ed25519PrivateKey:
        with self._lock:
            key = self._record_keys.get(entry.key_id)
            if key is None:
                key = _decrypt_ed25519(self._dir / key_file_name(entry), self._passphrase)
                public = key.public_key().public_bytes_raw()
                if public != entry.public_key:
                    raise KeyStoreError(
                        f"{key_file_name(entry)} does not hold the key that {METADATA_FILE} "
                        f"lists as {entry.key_id}"
                    )
                self._record_keys[entry.key_id] = key
            return key

    def signer(self) -> RecordSigner:
        """The signer for the current record key (the newest active one)."""
        entry = current_entry(self.entries())
        if entry is None:
            raise KeyStoreError(
                "no active record-signing key (all are retired or compromised); "
                "run `diplomas keys rotate` to make one"
            )
        signing = replace(entry, controller=self.institution.did)
        return Ed25519RecordSigner(signing, self._private_record_key(entry))

    def keyring(self) -> KeyRing:
        """Every record key, retired and compromised ones included, with its window, under
        each of the institution's DIDs (the current one and the former ones)."""
        return KeyRing(published_under(self.entries(), self.institution.dids))

    def rotate(self, now: datetime) -> RecordKey:
        """Make a new record key the current one; the keys active until now are retired
        at `now`. They keep verifying what they signed before then."""
        with locked(self._dir), self._lock:
            entries = self.entries()
            entry, private = _new_record_entry(self.institution, now, {e.key_id for e in entries})
            self._commit(rotated(entries, entry, now), (entry, private))
        return entry

    def retire(self, key_id: str, now: datetime, *, rotate: bool = False) -> RecordKey | None:
        """Retire key `key_id` at `now` (it signs no more; its older signatures verify).

        The only active key is refused unless `rotate`, which makes a new key in the
        same change and returns it.
        """
        with locked(self._dir), self._lock:
            entries = self.entries()
            changed = retired(entries, key_id, now, replacing=rotate)
            if not rotate:
                self._commit(changed, None)
                return None
            entry, private = _new_record_entry(self.institution, now, {e.key_id for e in entries})
            self._commit((*changed, entry), (entry, private))
            return entry

    def mark_compromised(self, key_id: str, since: datetime, now: datetime) -> RecordKey:
        """Distrust what key `key_id` signed at or after `since`; returns the changed key."""
        with locked(self._dir), self._lock:
            changed = compromised(self.entries(), key_id, since, now)
            self._commit(changed, None)
        return find_entry(changed, key_id)

    def _commit(
        self, entries: tuple[RecordKey, ...], new: tuple[RecordKey, Ed25519PrivateKey] | None
    ) -> None:
        """Write a change (under the directory lock): the new private key first, in a new
        file, then the metadata atomically. A crash in between leaves an unused key file
        and the old metadata, never metadata naming a key that is not there."""
        if new is not None:
            # A store must never hold keys under two passphrases: prove that ours opens
            # the keys already there before adding one.
            _check_passphrase(self._dir, self._passphrase)
            entry, private = new
            try:
                write_new_file(
                    self._dir / key_file_name(entry), _encrypt(private, self._passphrase)
                )
            except FileExistsError:
                raise KeyStoreError(f"{key_file_name(entry)} exists already") from None
        data = dump_metadata(entries)
        load_metadata(data, METADATA_FILE)  # the same checks a reader makes, before writing
        replace_file(self._dir / METADATA_FILE, data)
        if new is not None:
            self._record_keys[new[0].key_id] = new[1]
        self._metadata = None

    # -- PDF signing ---------------------------------------------------------------------

    def signing_certificates(self) -> signing.SigningCertificates:
        """Every document-signing certificate, oldest first, and the current one (a store
        without the list file has its self-made certificate alone)."""
        path = self._dir / signing.LIST_FILE
        try:
            data = read_private_file(path)
        except FileNotFoundError:
            return signing.implicit_list(_read_certificate(self._dir / SIGNING_CERT_FILE))
        return signing.load_list(data, str(path))

    def _certificate(self, entry: signing.SigningCertificate) -> x509.Certificate:
        certificate = _read_certificate(self._dir / entry.certificate_file)
        if signing.fingerprint(certificate) != entry.sha256:
            raise KeyStoreError(
                f"{entry.certificate_file} is not the certificate that {signing.LIST_FILE} "
                f"lists as {entry.cert_id}"
            )
        return certificate

    def _chain(self, entry: signing.SigningCertificate) -> list[x509.Certificate]:
        """The intermediates (nearest first) and the root above `entry`'s certificate."""
        intermediates: list[x509.Certificate] = []
        if entry.chain_file is not None:
            path = self._dir / entry.chain_file
            try:
                intermediates = x509.load_pem_x509_certificates(path.read_bytes())
            except FileNotFoundError:
                raise KeyStoreError(f"the certificate chain {path} is missing") from None
            except ValueError as exc:
                raise KeyStoreError(f"{path} is not a PEM certificate chain") from exc
        return [*intermediates, _read_certificate(self._dir / entry.root_file)]

    def trust_roots(self) -> list[x509.Certificate]:
        """The root of every document-signing certificate the store ever had, the self-made
        one first: diplomas signed before an import keep verifying after it."""
        with self._lock:
            if self._roots is None:
                roots: dict[bytes, x509.Certificate] = {}
                for entry in self.signing_certificates().entries:
                    root = _read_certificate(self._dir / entry.root_file)
                    roots.setdefault(root.public_bytes(serialization.Encoding.DER), root)
                self._roots = list(roots.values())
            return list(self._roots)

    def document_signing_certificate(self) -> x509.Certificate:
        return self._certificate(self.signing_certificates().current())

    def ca_issued(self) -> list[tuple[x509.Certificate, x509.Certificate]]:
        """(CA root, certificate) for every imported certificate: a CA's root vouches
        for the institution only through the certificates it issued to it."""
        return [
            (_read_certificate(self._dir / entry.root_file), self._certificate(entry))
            for entry in self.signing_certificates().entries
            if entry.source == "imported"
        ]

    def pdf_signer(self) -> PadesSigner:
        """The PAdES signer over the current document-signing key, built once and reused
        (a server picks up an imported certificate when it restarts)."""
        with self._lock:
            if self._pdf_signer is None:
                from ..pdfsign import PadesSigner

                entry = self.signing_certificates().current()
                key = _decrypt_signing_key(self._dir / entry.key_file, self._passphrase)
                certificate = self._certificate(entry)
                chain = self._chain(entry)
                _check_pair(key, certificate, chain, entry)
                self._pdf_signer = PadesSigner(
                    key,
                    certificate,
                    chain,
                    timestamping=self.timestamping,
                    **_signature_details(self.institution),
                )
            return self._pdf_signer

    def import_certificate(self, checked: CheckedCertificate) -> signing.SigningCertificate:
        """Add a CA-issued certificate (see `importing.check_certificate`) and make it the
        one that signs PDFs. Its key is stored encrypted with the store's passphrase, it and
        its chain in new files; the earlier certificates and roots stay, so what they
        signed keeps verifying. The list file is written last: a crash before leaves unused
        files and the old list, never a list naming files that are not there."""
        with locked(self._dir), self._lock:
            _check_passphrase(self._dir, self._passphrase)
            before = self.signing_certificates()
            key_file, cert_file, chain_file, root_file = signing.imported_file_names(
                signing.certificate_id(checked.certificate)
            )
            entry = signing.describe(
                checked.certificate,
                source="imported",
                key_file=key_file,
                certificate_file=cert_file,
                chain_file=chain_file if checked.intermediates else None,
                root_file=root_file,
            )
            listed = before.added(entry)
            files = [
                (key_file, _encrypt(checked.key, self._passphrase)),
                (cert_file, _pem(checked.certificate)),
                (root_file, _pem(checked.root)),
            ]
            if checked.intermediates:
                files.append((chain_file, b"".join(_pem(c) for c in checked.intermediates)))
            # all names checked first, so that a refusal leaves nothing half-written
            existing = [name for name, _ in files if (self._dir / name).exists()]
            if existing:
                raise KeyStoreError(
                    f"{self._dir / existing[0]} exists already (left by an interrupted "
                    f"import?); it is not in {signing.LIST_FILE}: move it away and import again"
                )
            for name, data in files:
                _write_once(self._dir / name, data)
            self._write_list(listed)
        return entry

    # -- the root, renewal and distrust ------------------------------------------------

    def root_is_offline(self) -> bool:
        """Whether the root's key was moved out of the store (its certificate stays)."""
        return not (self._dir / ROOT_KEY_FILE).exists()

    def export_root(self, out: Path, root_passphrase: bytes) -> None:
        """Move the root key out: write it to `out` under `root_passphrase`, read that file
        back and open it, and only then remove the key from the store."""
        from .offline_root import RootKey, check_root_passphrase

        check_root_passphrase(root_passphrase, self._passphrase)
        with locked(self._dir), self._lock:
            if self.root_is_offline():
                raise KeyStoreError(
                    f"the root is offline already: {self._dir} holds no {ROOT_KEY_FILE}"
                )
            key = _decrypt_ec(self._dir / ROOT_KEY_FILE, self._passphrase)
            root = RootKey(key, _read_certificate(self._dir / ROOT_CERT_FILE))
            write_offline_root(out, root, root_passphrase)
            (self._dir / ROOT_KEY_FILE).unlink()
            _fsync_dir(self._dir)

    def checked_root(self, given: RootKey | None) -> RootKey:
        """The root key: the one brought in, or the store's own; either must be the root
        whose certificate the store holds (the trust anchor of every self-made diploma)."""
        from .offline_root import RootKey

        trusted = _read_certificate(self._dir / ROOT_CERT_FILE)
        if given is None:
            if self.root_is_offline():
                raise KeyStoreError(
                    "the root CA is kept offline (this store holds only its certificate): "
                    "bring its file for this one command with --root FILE"
                )
            return RootKey(_decrypt_ec(self._dir / ROOT_KEY_FILE, self._passphrase), trusted)
        if given.certificate != trusted:
            raise KeyStoreError(
                f"the root brought in is not this store's root ({ROOT_CERT_FILE}: "
                f"{trusted.subject.rfc4514_string()}, serial {trusted.serial_number:x}); "
                f"is it another institution's root file?"
            )
        return given

    def renew_certificate(
        self, now: datetime, root: RootKey | None = None
    ) -> signing.SigningCertificate:
        """A new document-signing key and certificate under the store's root, made the one
        that signs from now; the earlier ones stay and keep verifying what they signed.
        `root` is the offline root brought in; None uses the store's own root key."""
        utc_seconds(now)
        with locked(self._dir), self._lock:
            _check_passphrase(self._dir, self._passphrase)
            issuer = self.checked_root(root)
            key = certs.new_ec_key()
            certificate = certs.build_document_signing_certificate(
                self.institution, key.public_key(), issuer.certificate, issuer.key, now
            )
            cert_id = signing.certificate_id(certificate)
            key_file, cert_file = signing.renewed_file_names(cert_id)
            entry = signing.describe(
                certificate,
                source="self-made",
                key_file=key_file,
                certificate_file=cert_file,
                chain_file=None,
                root_file=ROOT_CERT_FILE,
            )
            listed = self.signing_certificates().added(entry)
            for name, data in (
                (key_file, _encrypt(key, self._passphrase)),
                (cert_file, _pem(certificate)),
            ):
                _write_once(self._dir / name, data)
            self._write_list(listed)
        return entry

    def distrust_certificate(
        self,
        reference: str,
        since: datetime,
        now: datetime,
        reason: str = "",
        *,
        vouched: Callable[[distrust.DistrustedCertificate], Iterable[str]] | None = None,
    ) -> signing.SigningCertificate:
        """Distrust the document-signing certificate `reference` (id or serial) from
        `since`: its signatures made then or later are refused by every verifier unless a
        trusted timestamp shows them earlier, or the institution vouches for them.
        `vouched` gives the digests of the signature values it vouches for (those of the
        diplomas its server stored; see `keys.distrust`). Returns the changed entry."""
        from .record import check_since

        moment = check_since(since, now, "distrust a certificate")
        reason = " ".join(reason.split())
        if len(reason) > signing.MAX_REASON:
            raise KeyStoreError(f"the reason is longer than {signing.MAX_REASON} characters")
        with locked(self._dir), self._lock:
            before = self.signing_certificates()
            entry = before.find(reference)
            listed = before.distrusted(entry.cert_id, moment, reason)
            changed = listed.find(entry.cert_id)
            if vouched is not None:
                [named] = distrust.from_entries([changed])
                # the digests first: a crash before the list names the distrust leaves a
                # file no reader looks at
                replace_file(
                    self._dir / distrust.vouched_file_name(entry.cert_id),
                    distrust.dump_vouched(entry.cert_id, vouched(named)),
                )
            self._write_list(listed)
        return changed

    def distrusted_certificates(self) -> tuple[distrust.DistrustedCertificate, ...]:
        """The distrusted document-signing certificates, each with the signatures the
        institution vouches for."""
        return distrust.from_entries(self.signing_certificates().entries, self._vouched)

    def _vouched(self, entry: signing.SigningCertificate) -> frozenset[str]:
        path = self._dir / distrust.vouched_file_name(entry.cert_id)
        try:
            data = read_private_file(path)
        except FileNotFoundError:
            return frozenset()
        return distrust.load_vouched(data, entry.cert_id, str(path))

    def _write_list(self, listed: signing.SigningCertificates) -> None:
        """Replace the list file (under the lock), after a reader's checks."""
        data = signing.dump_list(listed)
        signing.load_list(data, signing.LIST_FILE)
        replace_file(self._dir / signing.LIST_FILE, data)
        self._pdf_signer = None
        self._roots = None

    # -- other secrets -------------------------------------------------------------------

    def national_id_hasher(self) -> Callable[[str], str]:
        """HMAC-SHA256 (hex) of a national id under the store's sealed secret."""
        with self._lock:
            if self._hasher is None:
                self._hasher = sealed.national_id_hasher(self._sealed_secret())
            return self._hasher

    def holder_link_key(self) -> bytes:
        """The key of holders' private links (`core.holder`), derived from the sealed
        secret: links keep working as long as the secret does, and no link is stored."""
        with self._lock:
            return holder.link_key(self._sealed_secret())

    def _sealed_secret(self) -> bytes:
        if self._secret is None:
            path = self._dir / SECRET_FILE
            try:
                data = read_private_file(path)
            except FileNotFoundError:
                raise KeyStoreError(f"{path} is missing; run `diplomas init`") from None
            self._secret = sealed.unseal(data, self._passphrase, str(path))
        return self._secret

    def unlock(self) -> None:
        """Decrypt the current record key and the document-signing key now, so that a wrong
        passphrase shows at start-up rather than at the first signature."""
        self.signer()
        self.pdf_signer()

    def export_bundle(self, superseded: Sequence[SupersededRecord] | None = None) -> dict[str, Any]:
        """The trust bundle; with `superseded` (read from the database), the versions of
        the institution's diplomas that corrections replaced."""
        return bundle.export_bundle(
            self.institution,
            self.entries(),
            self.trust_roots(),
            self.ca_issued(),
            self.distrusted_certificates(),
            timestamp_roots=self.timestamping.roots if self.timestamping else (),
            superseded=superseded,
        )


def _signature_details(institution: Institution) -> dict[str, str]:
    return {
        "signer_name": institution.name_en or institution.name,
        "reason": f"Diploma issued by {institution.name_en or institution.name}",
        "location": institution.public_url,
    }


def _decrypt_signing_key(path: Path, passphrase: bytes) -> SigningKey:
    key = _decrypt(path, passphrase)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyStoreError(f"{path} does not hold an RSA or ECDSA key")
    return key


def _check_pair(
    key: SigningKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    entry: signing.SigningCertificate,
) -> None:
    """The key opens the certificate, and each certificate up to the root is signed by the
    next: files swapped or mixed up are refused before anything is signed."""
    if certificate.public_key() != key.public_key():
        raise KeyStoreError(
            f"{entry.certificate_file} does not belong to the key in {entry.key_file}"
        )
    for child, issuer in zip([certificate, *chain], chain, strict=False):
        try:
            child.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise KeyStoreError(
                f"the chain of {entry.certificate_file} is broken: "
                f"{child.subject.rfc4514_string()} was not issued by "
                f"{issuer.subject.rfc4514_string()}"
            ) from exc


def _new_record_entry(
    institution: Institution, now: datetime, taken: set[str]
) -> tuple[RecordKey, Ed25519PrivateKey]:
    key_id = new_key_id(now)
    while key_id in taken:
        key_id = new_key_id(now)
    private = Ed25519PrivateKey.generate()
    entry = RecordKey(
        key_id=key_id,
        public_key=private.public_key().public_bytes_raw(),
        controller=institution.did,
        valid_from=utc_seconds(now),
    )
    return entry, private


def init_key_store(
    directory: Path,
    passphrase: bytes,
    institution: Institution,
    now: datetime,
    *,
    offline_root: tuple[Path, bytes] | None = None,
) -> FileKeyStore:
    """Create whatever is missing in `directory` and open the store.

    Existing keys are never replaced: a second run only loads them, and raises
    KeyStoreError if `passphrase` does not open them. With `offline_root` (a file and
    its passphrase) a new root's key is written to that file only, never to the store;
    a root already in the store is moved there (`export_root`).
    """
    directory = Path(directory)
    utc_seconds(now)  # refuses a naive time before anything is written
    if offline_root is not None:
        from .offline_root import check_root_passphrase

        check_root_passphrase(offline_root[1], passphrase)
    ensure_private_dir(directory)
    with locked(directory):
        _check_passphrase(directory, passphrase)
        _ensure_record_key(directory, passphrase, institution, now)
        new_root = not (directory / ROOT_CERT_FILE).exists()
        _ensure_certificates(
            directory, passphrase, institution, now, offline_root if new_root else None
        )
        if not (directory / SECRET_FILE).exists():
            _write_once(directory / SECRET_FILE, sealed.seal(os.urandom(32), passphrase))
    store = FileKeyStore(directory, passphrase, institution)
    if offline_root is not None and not store.root_is_offline():
        store.export_root(*offline_root)
    store.unlock()
    return store


def write_offline_root(out: Path, root: RootKey, root_passphrase: bytes) -> None:
    """Write the offline root file (new, 0600) and prove it: read it back and open it
    with the passphrase. A file that does not give back the same root is removed."""
    from .offline_root import open_root, seal_root

    try:
        write_new_file(out, seal_root(root, root_passphrase))
    except FileExistsError:
        raise KeyStoreError(
            f"{out} exists already; the root is never written over a file: choose a new name"
        ) from None
    except OSError as exc:
        raise KeyStoreError(f"cannot write the root file {out}: {exc.strerror}") from exc
    try:
        back = open_root(read_private_file(out), root_passphrase, str(out))
        if back.certificate != root.certificate or back.key.private_numbers() != (
            root.key.private_numbers()
        ):
            raise KeyStoreError(f"{out} does not give back the root that was written")
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def _write_once(path: Path, data: bytes) -> None:
    try:
        write_new_file(path, data)
    except FileExistsError:
        raise KeyStoreError(f"{path} appeared while the key store was being created") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot write {path}: {exc.strerror}") from exc


def _check_passphrase(directory: Path, passphrase: bytes) -> None:
    """Before adding anything, make sure `passphrase` opens the keys already there, so that
    a half-made store never ends up with keys under two passphrases."""
    metadata = directory / METADATA_FILE
    if metadata.exists():
        entries = load_metadata(read_private_file(metadata), str(metadata))
        if entries:
            _decrypt_ed25519(directory / key_file_name(entries[-1]), passphrase)
            return
    for name in (SIGNING_KEY_FILE, ROOT_KEY_FILE):
        if (directory / name).exists():
            _decrypt_ec(directory / name, passphrase)
            return
    if (directory / SECRET_FILE).exists():
        sealed.unseal(read_private_file(directory / SECRET_FILE), passphrase, SECRET_FILE)


def _ensure_record_key(
    directory: Path, passphrase: bytes, institution: Institution, now: datetime
) -> None:
    metadata = directory / METADATA_FILE
    if metadata.exists():
        return
    entry, private = _new_record_entry(institution, now, set())
    _write_once(directory / key_file_name(entry), _encrypt(private, passphrase))
    _write_once(metadata, dump_metadata([entry]))


def _ensure_certificates(
    directory: Path,
    passphrase: bytes,
    institution: Institution,
    now: datetime,
    offline_root: tuple[Path, bytes] | None = None,
) -> None:
    root_key_path, root_cert_path = directory / ROOT_KEY_FILE, directory / ROOT_CERT_FILE
    key_path, cert_path = directory / SIGNING_KEY_FILE, directory / SIGNING_CERT_FILE

    root_key: ec.EllipticCurvePrivateKey | None = None
    if offline_root is not None and not root_key_path.exists() and not root_cert_path.exists():
        from .offline_root import RootKey

        # The key goes to the offline file only: it never touches the store's disk.
        root_key = certs.new_ec_key()
        root = certs.build_root_certificate(institution, root_key, now)
        write_offline_root(offline_root[0], RootKey(root_key, root), offline_root[1])
        _write_once(root_cert_path, _pem(root))
    if not root_key_path.exists() and not root_cert_path.exists():
        root_key = certs.new_ec_key()
        _write_once(root_key_path, _encrypt(root_key, passphrase))
    if not root_cert_path.exists():
        root_key = root_key or _decrypt_ec(root_key_path, passphrase)
        _write_once(root_cert_path, _pem(certs.build_root_certificate(institution, root_key, now)))

    signing_key: ec.EllipticCurvePrivateKey | None = None
    if not key_path.exists():
        if cert_path.exists():
            raise KeyStoreError(f"{cert_path} exists but its key {SIGNING_KEY_FILE} is missing")
        signing_key = certs.new_ec_key()
        _write_once(key_path, _encrypt(signing_key, passphrase))
    if not cert_path.exists():
        signing_key = signing_key or _decrypt_ec(key_path, passphrase)
        if root_key is None and not root_key_path.exists():
            raise KeyStoreError(
                f"{cert_path} is missing and the root CA is offline (no {ROOT_KEY_FILE}): "
                f"restore {SIGNING_CERT_FILE} from a backup, or make a new certificate with "
                f"`diplomas keys renew-certificate --root FILE`"
            )
        root_key = root_key or _decrypt_ec(root_key_path, passphrase)
        certificate = certs.build_document_signing_certificate(
            institution, signing_key.public_key(), _read_certificate(root_cert_path), root_key, now
        )
        _write_once(cert_path, _pem(certificate))


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
