"""Where the key-store passphrase comes from.

Either the operator supplies it (DIPLOMAS_KEY_PASSPHRASE), or, in the embedded default
mode, a random one is generated once and kept in `<home>/key-passphrase` (mode 0600).
The second mode protects keys copied without that file (a backup of keys/ alone, say),
not against someone who can read the whole home directory.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from ..core.errors import KeyStoreError
from ._files import PRIVATE_DIR_MODE, read_private_file, write_new_file

PASSPHRASE_FILE = "key-passphrase"  # noqa: S105 (a file name, not a secret)
ENV_VARIABLE = "DIPLOMAS_KEY_PASSPHRASE"


def resolve_passphrase(home: Path, env_value: str | None) -> bytes:
    """The passphrase from the environment if set, else the one kept in `home`.

    Never logs or prints the passphrase.
    """
    if env_value is not None:
        if not env_value.strip():
            raise KeyStoreError(f"{ENV_VARIABLE} is set but empty; set a passphrase or unset it")
        return env_value.encode()
    path = home / PASSPHRASE_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        home.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        write_new_file(path, (secrets.token_urlsafe(32) + "\n").encode())
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise KeyStoreError(f"cannot create {path}: {exc.strerror}") from exc
    return _read(path)


def _read(path: Path) -> bytes:
    value = read_private_file(path).strip()
    if not value:
        raise KeyStoreError(f"{path} is empty; delete it only if no keys were made with it")
    return value
