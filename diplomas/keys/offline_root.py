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

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..core.errors import KeyStoreError
from .signing import fingerprint
from .versioned import read_versioned

ROOT_FORMAT = "diplomas-offline-root"
ROOT_VERSION = 1
ROOT_PASSPHRASE_VARIABLE = "DIPLOMAS_ROOT_PASSPHRASE"  # noqa: S105 (a variable's name)
MIN_PASSPHRASE = 12
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
# A file asking for more than this is refused rather than opened: 4 times what we write.
_MAX_N = 2**20
_MAX_MEMORY = 4 * 128 * _SCRYPT_N * _SCRYPT_R


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


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def seal_root(root: RootKey, passphrase: bytes) -> bytes:
    """The offline root file's bytes."""
    if root.key.public_key() != root.certificate.public_key():
        raise KeyStoreError("the root key does not belong to the root certificate")
    salt, nonce = os.urandom(16), os.urandom(12)
    der = root.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    secret = _derive(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    document = {
        "format": ROOT_FORMAT,
        "version": ROOT_VERSION,
        "certificate": root.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "kdf": {
            "name": "scrypt",
            "n": _SCRYPT_N,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(
            AESGCM(secret).encrypt(nonce, der, _aad(root.certificate))
        ).decode(),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def open_root(data: bytes, passphrase: bytes, source: str) -> RootKey:
    """The root in an offline root file; KeyStoreError in plain words otherwise."""
    document = read_versioned(
        data, source, format=ROOT_FORMAT, version=ROOT_VERSION, what="an offline root file"
    )
    try:
        certificate = x509.load_pem_x509_certificate(str(document["certificate"]).encode())
        kdf = document["kdf"]
        if not isinstance(kdf, Mapping) or kdf.get("name") != "scrypt":
            raise ValueError("unknown key derivation")
        if document.get("cipher") != "AES-256-GCM":
            raise ValueError("unknown cipher")
        n, r, p = (int(kdf[k]) for k in ("n", "r", "p"))
        if not 2**14 <= n <= _MAX_N or not 1 <= r <= 16 or not 1 <= p <= 4:
            raise ValueError("scrypt costs out of range")
        if 128 * n * r > _MAX_MEMORY:
            raise ValueError("scrypt would need more memory than this program allows")
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise KeyStoreError(f"{source} is damaged or not an offline root file ({exc})") from None
    try:
        der = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(
            nonce, ciphertext, _aad(certificate)
        )
    except (InvalidTag, ValueError):
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
