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
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..core.errors import KeyStoreError

SEALED_FORMAT = "diplomas-sealed-secret"
_AAD = b"diplomas national-id secret v1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase)


# A file asking for more scrypt work than this is refused rather than opened: 4 times what
# the costliest file we write (the offline root, n = 2**17, r = 8) needs, 512 MiB.
_MAX_N = 2**20
_MAX_MEMORY = 4 * 128 * 2**17 * 8


def envelope(secret: bytes, passphrase: bytes, aad: bytes, n: int = _SCRYPT_N) -> dict[str, Any]:
    """`secret` under the passphrase, scrypt (`n`, r=8, p=1) then AES-256-GCM with `aad`
    bound in: the fields of a sealed file besides its format and version."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _derive(passphrase, salt, n, _SCRYPT_R, _SCRYPT_P)
    return {
        "kdf": {
            "name": "scrypt",
            "n": n,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(key).encrypt(nonce, secret, aad)).decode(),
    }


def open_envelope(document: Mapping[str, Any], passphrase: bytes, aad: bytes) -> bytes:
    """The secret of `envelope`'s fields. ValueError when they are damaged or ask for
    unknown algorithms or too much work; InvalidTag for a wrong passphrase, an altered
    file or other associated data."""
    try:
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
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"a field is missing or malformed ({exc})") from None
    return AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, ciphertext, aad)


def seal(secret: bytes, passphrase: bytes) -> bytes:
    document = {"format": SEALED_FORMAT, "version": 1, **envelope(secret, passphrase, _AAD)}
    return (json.dumps(document, indent=2) + "\n").encode()


def unseal(data: bytes, passphrase: bytes, source: str) -> bytes:
    try:
        document = json.loads(data)
        if not isinstance(document, Mapping) or document.get("format") != SEALED_FORMAT:
            raise ValueError("unknown format")
        return open_envelope(document, passphrase, _AAD)
    except ValueError as exc:
        raise KeyStoreError(f"{source} is not a sealed secret this program can read") from exc
    except InvalidTag as exc:
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
