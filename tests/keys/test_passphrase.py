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


def test_a_secret_file_keeps_the_passphrase_off_the_keys_volume(tmp_path: Path) -> None:
    secret = tmp_path / "secrets" / "key-passphrase"
    secret.parent.mkdir()
    secret.write_text("from a docker secret\n")
    secret.chmod(0o444)  # as Docker mounts a secret
    home = tmp_path / "data" / "var"
    assert resolve_passphrase(home, None, secret) == b"from a docker secret"
    assert not (home / "key-passphrase").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ("", "which is empty"), ("dir", "a folder")],
)
def test_a_bad_secret_file_is_named(tmp_path: Path, content: str | None, message: str) -> None:
    secret = tmp_path / "secret"
    if content == "dir":
        secret.mkdir()
    elif content is not None:
        secret.write_text(content)
    with pytest.raises(KeyStoreError, match=message) as info:
        resolve_passphrase(tmp_path, None, secret)
    assert "DIPLOMAS_KEY_PASSPHRASE_FILE" in str(info.value)


def test_the_secret_file_and_the_variable_together_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("one")
    with pytest.raises(KeyStoreError, match="keep one of them"):
        resolve_passphrase(tmp_path, "two", secret)


def test_the_cli_reads_the_secret_file(tmp_path: Path) -> None:
    from clitools import cli_environment, invoke, run

    env = cli_environment(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("a secret from a file\n")
    del env["DIPLOMAS_KEY_PASSPHRASE"]
    env |= {
        "DIPLOMAS_KEY_PASSPHRASE_FILE": str(secret),
        "DIPLOMAS_ENVIRONMENT": "production",
        "DIPLOMAS_PUBLIC_URL": "https://diplomas.example.ac.ir",
    }
    invoke(env, "init", "--no-input")
    assert not (tmp_path / "var" / "key-passphrase").exists()
    invoke(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(tmp_path / "d.pdf"))
    secret.write_text("another secret\n")
    out = run(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(tmp_path / "e.pdf"), code=4)
    assert "passphrase" in out
