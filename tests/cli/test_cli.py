"""The command line, as an admin uses it: init, tokens, issue, verify, revoke, export."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from clitools import invoke
from typer.testing import CliRunner

from diplomas.cli.main import app

runner = CliRunner()


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    return invoke(env, *args, code=code).stdout


def key_files(keys: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(keys.iterdir()) if p.is_file()}


def test_init_protects_keys_and_never_overwrites(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    keys = tmp_path / "keys"
    before = key_files(keys)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for path in keys.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    private = [b for n, b in before.items() if b"PRIVATE KEY" in b]
    assert len(private) >= 3  # record key, root key, document-signing key
    assert all(b"ENCRYPTED PRIVATE KEY" in b for b in private)
    # The key files open only with the scrypt-stretched passphrase, not the raw one.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    for blob in private:
        with pytest.raises(ValueError):
            load_pem_private_key(blob, env["DIPLOMAS_KEY_PASSPHRASE"].encode())
        with pytest.raises(TypeError):
            load_pem_private_key(blob, None)
    run(env, "init")
    assert key_files(keys) == before
    wrong = {**env, "DIPLOMAS_KEY_PASSPHRASE": "wrong"}
    assert "passphrase" in runner.invoke(app, ["init"], env=wrong).output


def test_generated_passphrase_file_is_private(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k != "DIPLOMAS_KEY_PASSPHRASE"}
    run(env, "init")
    secret = tmp_path / "var" / "key-passphrase"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_bytes()) >= 32


def test_issue_verify_revoke_export(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    token = run(env, "token", "create", "--scope", "issue,revoke,read").strip().splitlines()[-1]
    assert token.startswith("dpl_")

    pdf = tmp_path / "zahra.pdf"
    out = run(
        env,
        "issue",
        "--name",
        "زهرا محمدی‌نژاد",
        "--name-en",
        "Zahra Mohammadinejad",
        "--issued-on",
        "۱۴۰۵/۰۹/۰۵",
        "--out",
        str(pdf),
        "--json",
    )
    issued = json.loads(out)
    assert set(issued) >= {"id", "serial", "verify_url"} and pdf.read_bytes()[:5] == b"%PDF-"
    assert issued["serial"] == "TBZMED-1405-000001"

    assert "VALID" in run(env, "verify", str(pdf))
    verdict = json.loads(run(env, "verify", str(pdf), "--json"))
    assert verdict["status"] == "valid"

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered.write_bytes(bytes(data))
    assert json.loads(run(env, "verify", str(tampered), "--json", code=1))["status"] == "invalid"

    bundle = tmp_path / "trust.json"
    run(env, "keys", "export", "--out", str(bundle))
    offline_env = {
        "DIPLOMAS_HOME": str(tmp_path / "nowhere"),
        "DIPLOMAS_KEYS_DIR": str(tmp_path / "nokeys"),
    }
    offline = json.loads(run(offline_env, "verify", str(pdf), "--trust", str(bundle), "--json"))
    assert offline["status"] == "valid" and "offline" in offline["reasons"][0]
    run(offline_env, "verify", str(tampered), "--trust", str(bundle), code=1)

    run(env, "revoke", issued["id"], "--reason", "صدور اشتباه")
    assert json.loads(run(env, "verify", str(pdf), "--json", code=1))["status"] == "revoked"
    run(env, "revoke", issued["id"], "--reason", "again", code=2)


def test_bad_input_names_the_field(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    result = runner.invoke(
        app,
        ["issue", "--name", "Ali", "--issued-on", "1405/13/01", "--out", str(tmp_path / "x.pdf")],
        env=env,
    )
    assert result.exit_code == 2
    assert "name:" in result.output and "issued_on:" in result.output
    assert not (tmp_path / "x.pdf").exists()


def test_commands_before_init_explain_what_to_do(env: dict[str, str], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["issue", "--name", "علی", "--out", str(tmp_path / "x.pdf")], env=env
    )
    assert result.exit_code == 4 and "diplomas init" in result.output
