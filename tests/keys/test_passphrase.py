from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from diplomas.core.errors import KeyStoreError
from diplomas.keys import resolve_passphrase


def test_environment_value_wins(tmp_path: Path) -> None:
    assert resolve_passphrase(tmp_path, "from the environment") == b"from the environment"
    assert not (tmp_path / "key-passphrase").exists()


def test_empty_environment_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="empty"):
        resolve_passphrase(tmp_path, "  ")


def test_generated_once_and_kept_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = resolve_passphrase(home, None)
    assert len(first) >= 40
    path = home / "key-passphrase"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_passphrase(home, None) == first
    assert resolve_passphrase(tmp_path / "elsewhere", None) != first


def test_passphrase_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    resolve_passphrase(tmp_path, None)
    os.chmod(tmp_path / "key-passphrase", 0o640)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        resolve_passphrase(tmp_path, None)
