from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from clitools import cli_environment, run

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


def test_keys_made_elsewhere_and_no_passphrase_given_are_said_so(tmp_path: Path) -> None:
    """A copy of another machine's keys started with no passphrase: a new one would never
    open them, so none is made (it was, and the error then blamed a wrong passphrase)."""

    def without_passphrase(folder: Path) -> dict[str, str]:
        env = cli_environment(folder)
        del env["DIPLOMAS_KEY_PASSPHRASE"]  # development: a passphrase generated under var/
        return env

    made = tmp_path / "made"
    run(without_passphrase(made), "init", "--no-input")
    assert (made / "var" / "key-passphrase").exists()

    copy = tmp_path / "copy"
    shutil.copytree(made / "keys", copy / "keys")
    shutil.copytree(made / "var", copy / "var", ignore=shutil.ignore_patterns("key-passphrase"))
    elsewhere = without_passphrase(copy)
    said = run(elsewhere, "issue", "--name", "مریم احمدی", "--out", str(tmp_path / "d.pdf"), code=4)
    assert f"the keys in {copy / 'keys'} are encrypted, and no passphrase was given" in said
    assert "DIPLOMAS_KEY_PASSPHRASE" in said and "wrong" not in said
    assert not (copy / "var" / "key-passphrase").exists()

    # Given the passphrase (as a secret file), the copy works, and init does not claim a
    # generated passphrase that it did not make.
    secret = tmp_path / "secret"
    secret.write_bytes((made / "var" / "key-passphrase").read_bytes())
    given = {**elsewhere, "DIPLOMAS_KEY_PASSPHRASE_FILE": str(secret)}
    said = run(given, "init", "--no-input")
    assert "generated passphrase" not in said
    run(given, "issue", "--name", "مریم احمدی", "--out", str(tmp_path / "d.pdf"))
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")
