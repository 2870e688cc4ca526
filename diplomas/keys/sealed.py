"""A small secret sealed under the key-store passphrase (scrypt, then AES-256-GCM).

Used for the keyed hash of national ids: the service stores HMAC-SHA256(secret, id), so a
leaked database does not reveal national codes, which are few enough to enumerate.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from collections.abc import Callable, Mapping
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..core.errors import KeyStoreError

SEALED_FORMAT = "diplomas-sealed-secret"
_AAD = b"diplomas national-id secret v1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


def seal(secret: bytes, passphrase: bytes) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    document = {
        "format": SEALED_FORMAT,
        "version": 1,
        "kdf": {
            "name": "scrypt",
            "n": _SCRYPT_N,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(key).encrypt(nonce, secret, _AAD)).decode(),
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def unseal(data: bytes, passphrase: bytes, source: str) -> bytes:
    try:
        document = json.loads(data)
        kdf = document["kdf"]
        if (
            not isinstance(document, Mapping)
            or document.get("format") != SEALED_FORMAT
            or kdf["name"] != "scrypt"
        ):
            raise ValueError("unknown format")
        n, r, p = (int(kdf[k]) for k in ("n", "r", "p"))
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        ciphertext = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise KeyStoreError(f"{source} is not a sealed secret this program can read") from exc
    try:
        return AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, ciphertext, _AAD)
    except (InvalidTag, ValueError) as exc:
        raise KeyStoreError(
            f"cannot open {source}: the key passphrase is wrong or the file was altered"
        ) from exc


def national_id_hasher(secret: bytes) -> Callable[[str], str]:
    """HMAC-SHA256 of the UTF-8 national id under `secret`, as lowercase hex."""
    if len(secret) < 32:
        raise KeyStoreError("the national-id secret is shorter than 32 bytes")

    def hash_national_id(national_id: str) -> str:
        return hmac.new(secret, national_id.encode(), sha256).hexdigest()

    return hash_national_id
