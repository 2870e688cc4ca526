"""`diplomas keys export-root`, `renew-certificate` and `distrust-certificate` as an admin
types them: what they print, what they refuse, and the audit entries they leave."""

from __future__ import annotations

import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clitools import cli_environment, invoke

ROOT_PASSPHRASE = "the root's own long passphrase"


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    return " ".join(invoke(env, *args, code=code).output.split())


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**cli_environment(tmp_path), "COLUMNS": "250"}
    invoke(environment, "init", "--no-input")
    return environment


def cert_ids(env: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(re.findall(r"dsc-[0-9a-f]{16}", run(env, "keys", "certificates"))))


def audit_actions(env: dict[str, str]) -> list[str]:
    entries = json.loads(invoke(env, "audit", "list", "--json").output)
    return [e["action"] for e in entries]


def test_export_root_then_renew_and_distrust(env: dict[str, str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    out_file = tmp_path / "root.json"
    root_env = {**env, "DIPLOMAS_ROOT_PASSPHRASE": ROOT_PASSPHRASE}
    printed = run(root_env, "keys", "export-root", "--out", str(out_file))
    assert f"the root CA's key is in {out_file} (encrypted) and no longer in the store" in printed
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert not (keys / "root-ca.key.pem").exists()
    again = run(root_env, "keys", "export-root", "--out", str(tmp_path / "again.json"), code=4)
    assert "the root is offline already" in again

    [first] = cert_ids(env)
    renewed = run(root_env, "keys", "renew-certificate", "--root", str(out_file))
    [_, second] = cert_ids(env)
    assert f"new certificate {second}" in renewed and f"put {out_file} away again" in renewed
    assert not (keys / "root-ca.key.pem").exists()
    serial = json.loads((keys / "signing-certificates.json").read_bytes())["certificates"][0][
        "serial"
    ]
    distrusted = run(
        env,
        "keys",
        "distrust-certificate",
        serial.upper(),
        "--since",
        "2026-01-01T00:00:00+03:30",
        "--reason",
        "laptop lost",
    )
    assert f"certificate {first} (serial {serial}) is distrusted since 2025-12-31T20:30:00Z" in (
        distrusted
    )
    assert "0 signature(s) of diplomas this server stored are vouched for" in distrusted
    assert "run `diplomas keys export` again" in distrusted
    listing = invoke(env, "keys", "certificates").output
    [row] = [line for line in listing.splitlines() if first in line]
    assert "2025-12-31T20:30:00Z (laptop lost)" in row

    bundle = json.loads(invoke(env, "keys", "export").output)
    [item] = bundle["distrusted_certificates"]
    assert item["serial"] == serial and item["since"] == "2025-12-31T20:30:00Z"
    actions = audit_actions(env)
    for action in ("root.exported", "certificate.renewed", "certificate.distrusted"):
        assert action in actions
    entries = json.loads(invoke(env, "audit", "list", "--json").output)
    [entry] = [e for e in entries if e["action"] == "certificate.distrusted"]
    assert entry["details"]["reason"] == "laptop lost" and entry["subject"] == first
    assert ROOT_PASSPHRASE not in json.dumps(entries)


def test_refusals_in_plain_words(env: dict[str, str], tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    [first] = cert_ids(env)
    before = {p.name: p.read_bytes() for p in keys.iterdir() if p.name != ".lock"}
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    same = {**env, "DIPLOMAS_ROOT_PASSPHRASE": env["DIPLOMAS_KEY_PASSPHRASE"]}
    short = {**env, "DIPLOMAS_ROOT_PASSPHRASE": "short"}
    out_file = str(tmp_path / "root.json")
    cases = [
        (env, ("distrust-certificate", first, "--since", "2026-01-01T00:00:00Z"), 2,
         "is the certificate that signs PDFs now: make a new one first"),
        (env, ("distrust-certificate", "dsc-0000000000000000", "--since",
               "2026-01-01T00:00:00Z"), 3, "there is no document-signing certificate"),
        (env, ("distrust-certificate", first, "--since", future), 2, "is in the future"),
        (env, ("distrust-certificate", first, "--since", "2026-01-01"), 2, "needs a time zone"),
        (env, ("export-root", "--out", out_file), 4, "the root file's passphrase is needed"),
        (same, ("export-root", "--out", out_file), 4, "is the key store's passphrase"),
        (short, ("export-root", "--out", out_file), 4, "shorter than 12 characters"),
    ]  # fmt: skip
    for environment, args, code, words in cases:
        assert words in run(environment, "keys", *args, code=code), args
    assert {p.name: p.read_bytes() for p in keys.iterdir() if p.name != ".lock"} == before
    assert not Path(out_file).exists()
