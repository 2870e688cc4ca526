"""The institution's root CA kept off the server, in one file under a passphrase of its own.

    {
      "format": "diplomas-offline-root", "version": 1,
      "certificate": "-----BEGIN CERTIFICATE-----...",   the root, public
      "kdf": {"name": "scrypt", "n": 131072, "r": 8, "p": 1, "salt": "<base64>"},
      "cipher": "AES-256-GCM", "nonce": "<base64>",
      "ciphertext": "<base64>"                            the key, PKCS#8 DER
    }

The file travels on a USB stick or lives in a safe; it is brought to the server only for
the command that needs the root (`diplomas keys renew-certificate --root FILE`). Its
passphrase is never the key store's: a thief of the server then holds the signing key
at most, never the root that vouches for every diploma. scrypt at a higher cost than the
store's, since the file is opened a few times a year, and the certificate's fingerprint
in the associated data, so that the key cannot be paired with another certificate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..core.errors import KeyStoreError
from .sealed import envelope, open_envelope
from .signing import fingerprint
from .versioned import read_versioned

ROOT_FORMAT = "diplomas-offline-root"
ROOT_VERSION = 1
ROOT_PASSPHRASE_VARIABLE = "DIPLOMAS_ROOT_PASSPHRASE"  # noqa: S105 (a variable's name)
MIN_PASSPHRASE = 12
_SCRYPT_N = 2**17


@dataclass(frozen=True)
class RootKey:
    """The root CA's key and certificate, opened for one command."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def __repr__(self) -> str:  # never the key, not even in a traceback
        return f"RootKey({self.certificate.subject.rfc4514_string()!r})"


def check_root_passphrase(passphrase: bytes, store_passphrase: bytes) -> None:
    """A root passphrase must be long and must not be the key store's."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyStoreError(
            f"the root passphrase is shorter than {MIN_PASSPHRASE} characters; the root "
            f"file may be copied, so choose a long one"
        )
    if passphrase == store_passphrase:
        raise KeyStoreError(
            "the root passphrase is the key store's passphrase: choose another one, or a "
            "thief of the server could open the root as well"
        )


def _aad(certificate: x509.Certificate) -> bytes:
    return f"{ROOT_FORMAT} v{ROOT_VERSION} {fingerprint(certificate)}".encode()


def seal_root(root: RootKey, passphrase: bytes) -> bytes:
    """The offline root file's bytes."""
    if root.key.public_key() != root.certificate.public_key():
        raise KeyStoreError("the root key does not belong to the root certificate")
    der = root.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    document = {
        "format": ROOT_FORMAT,
        "version": ROOT_VERSION,
        "certificate": root.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        **envelope(der, passphrase, _aad(root.certificate), n=_SCRYPT_N),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def open_root(data: bytes, passphrase: bytes, source: str) -> RootKey:
    """The root in an offline root file; KeyStoreError in plain words otherwise."""
    if data.lstrip().startswith(b"-----BEGIN"):
        raise KeyStoreError(
            f"{source} is a PEM file (a certificate or key), not an offline root file: give "
            f"the file that `diplomas init --offline-root` or `diplomas keys export-root` wrote"
        )
    document = read_versioned(
        data, source, format=ROOT_FORMAT, version=ROOT_VERSION, what="an offline root file"
    )
    try:
        certificate = x509.load_pem_x509_certificate(str(document["certificate"]).encode())
    except (ValueError, KeyError) as exc:
        raise KeyStoreError(f"{source} is damaged or not an offline root file ({exc})") from None
    try:
        der = open_envelope(document, passphrase, _aad(certificate))
    except ValueError as exc:
        raise KeyStoreError(f"{source} is damaged or not an offline root file ({exc})") from None
    except InvalidTag:
        raise KeyStoreError(
            f"the root passphrase does not open {source}: the passphrase is wrong (it is the "
            f"one chosen when the root was exported, not the key store's) or the file was "
            f"altered"
        ) from None
    key = serialization.load_der_private_key(der, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != (
        certificate.public_key()
    ):
        raise KeyStoreError(f"{source} holds a key that does not belong to its certificate")
    return RootKey(key, certificate)
