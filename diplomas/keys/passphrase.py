"""Where the key-store passphrase comes from.

Either the operator supplies it (DIPLOMAS_KEY_PASSPHRASE, or DIPLOMAS_KEY_PASSPHRASE_FILE
naming a file that holds it: a Docker or Kubernetes secret, kept off the volume that holds
the keys), or, in the embedded default mode, a random one is generated once and kept in
`<home>/key-passphrase` (mode 0600).
The second mode protects keys copied without that file (a backup of keys/ alone, say),
not against someone who can read the whole home directory.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

from ..core.errors import KeyStoreError
from ._files import PRIVATE_DIR_MODE, read_private_file, write_new_file

PASSPHRASE_FILE = "key-passphrase"  # noqa: S105 (a file name, not a secret)
ENV_VARIABLE = "DIPLOMAS_KEY_PASSPHRASE"
FILE_VARIABLE = "DIPLOMAS_KEY_PASSPHRASE_FILE"


def resolve_passphrase(
    home: Path,
    env_value: str | None,
    secret_file: Path | None = None,
    *,
    encrypted: Path | None = None,
) -> bytes:
    """The passphrase from the environment or the secret file it names if set, else the
    one kept in `home`, made there on first use unless `encrypted` names a key folder
    that holds keys already: no new passphrase opens those (a copy of another machine's
    keys, started without its passphrase), so that is said instead.

    Never logs or prints the passphrase.
    """
    if secret_file is not None:
        if env_value is not None:
            raise KeyStoreError(
                f"both {ENV_VARIABLE} and {FILE_VARIABLE} are set; keep one of them"
            )
        return _read_secret(secret_file)
    if env_value is not None:
        if not env_value.strip():
            raise KeyStoreError(f"{ENV_VARIABLE} is set but empty; set a passphrase or unset it")
        return env_value.encode()
    path = home / PASSPHRASE_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    if encrypted is not None:
        raise KeyStoreError(
            f"the keys in {encrypted} are encrypted, and no passphrase was given: set "
            f"{ENV_VARIABLE} or {FILE_VARIABLE} to the passphrase they were made with (or "
            f"copy {PASSPHRASE_FILE} from the home folder of the machine that made them)"
        )
    try:
        home.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        write_new_file(path, (secrets.token_urlsafe(32) + "\n").encode())
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise KeyStoreError(f"cannot create {path}: {exc.strerror}") from exc
    return _read(path)


def _read_secret(path: Path) -> bytes:
    # The file's mode is the secret store's business (Docker mounts secrets 0444 in a
    # container of their own), so it is not held to the 0600 of the generated file.
    try:
        value = path.read_bytes().strip()
    except IsADirectoryError:
        raise KeyStoreError(f"{FILE_VARIABLE} names {path}, a folder; name the file") from None
    except OSError as exc:
        raise KeyStoreError(f"{FILE_VARIABLE} names {path}: {exc.strerror}") from None
    if not value:
        raise KeyStoreError(f"{FILE_VARIABLE} names {path}, which is empty")
    return value


def _read(path: Path) -> bytes:
    value = read_private_file(path).strip()
    if not value:
        raise KeyStoreError(f"{path} is empty; delete it only if no keys were made with it")
    return value


KDF_FILE = "kdf.json"
# scrypt at these costs takes ~50 ms once per process; it turns even a short human
# passphrase into a key that PKCS#8's own PBKDF2 (2,048 rounds in `cryptography`'s
# BestAvailableEncryption) no longer has to protect on its own.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def stretch_passphrase(keys_dir: Path, passphrase: bytes) -> bytes:
    """The passphrase stretched with scrypt under this key store's own salt.

    The salt and costs live in `keys_dir/kdf.json` (created once, never changed), so every
    key in the store is encrypted under the stretched value.
    """
    import base64
    import json

    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    path = keys_dir / KDF_FILE
    if not path.exists():
        keys_dir.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        params = {
            "kdf": "scrypt",
            "n": SCRYPT_N,
            "r": SCRYPT_R,
            "p": SCRYPT_P,
            "salt": base64.b64encode(secrets.token_bytes(16)).decode(),
        }
        # Another process may create it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            write_new_file(path, json.dumps(params).encode())
    try:
        params = json.loads(read_private_file(path))
        salt = base64.b64decode(params["salt"])
        kdf = Scrypt(
            salt=salt, length=32, n=int(params["n"]), r=int(params["r"]), p=int(params["p"])
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} is damaged ({exc}); restore it from the key backup") from None
    return base64.b64encode(kdf.derive(passphrase))
