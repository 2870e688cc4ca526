"""`diplomas keys ...` as an admin types it: rotate, retire, compromised, list, export.

Everything through the CLI (init, issue, verify); the server is not involved.
"""

from __future__ import annotations

import json
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clitools import cli_environment, invoke


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**cli_environment(tmp_path), "COLUMNS": "200"}
    invoke(environment, "init")
    return environment


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    return " ".join(invoke(env, *args, code=code).output.split())


def key_ids(env: dict[str, str]) -> list[str]:
    return re.findall(r"rk-\d{8}-[0-9a-f]{6}", run(env, "keys", "list"))


def metadata(tmp_path: Path) -> list[dict[str, str | None]]:
    keys: list[dict[str, str | None]] = json.loads(
        (tmp_path / "keys" / "record-keys.json").read_bytes()
    )["keys"]
    return keys


def issue(env: dict[str, str], out: Path, name: str) -> dict[str, str]:
    issued: dict[str, str] = json.loads(
        run(env, "issue", "--name", name, "--issued-on", "1405/09/05", "--out", str(out), "--json")
    )
    return issued


def test_rotate_then_both_diplomas_verify_online_and_offline(
    env: dict[str, str], tmp_path: Path
) -> None:
    [first] = key_ids(env)
    old_pdf = tmp_path / "old.pdf"
    issue(env, old_pdf, "زهرا محمدی")

    out = run(env, "keys", "rotate")
    first_again, second = key_ids(env)
    assert first_again == first and f"new key {second}" in out and f"retired {first}" in out
    assert [k["status"] for k in metadata(tmp_path)] == ["retired", "active"]
    assert stat.S_IMODE((tmp_path / "keys" / f"record-key-{second}.pem").stat().st_mode) == 0o600

    new_pdf = tmp_path / "new.pdf"
    issue(env, new_pdf, "علی رضایی")
    signers = {}
    for pdf in (old_pdf, new_pdf):
        verdict = json.loads(run(env, "verify", str(pdf), "--json"))
        assert verdict["status"] == "valid", verdict
        signers[pdf.name] = next(s["signer"] for s in verdict["signers"] if s["kind"] == "record")
    assert signers["old.pdf"].endswith(f"#{first}") and signers["new.pdf"].endswith(f"#{second}")

    bundle = tmp_path / "trust.json"
    run(env, "keys", "export", "--out", str(bundle))
    exported = [k["id"] for k in json.loads(bundle.read_bytes())["record_keys"]]
    assert exported == [signers["old.pdf"], signers["new.pdf"]]
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    for pdf in (old_pdf, new_pdf):
        verdict = json.loads(run(offline, "verify", str(pdf), "--trust", str(bundle), "--json"))
        assert verdict["status"] == "valid"


def test_compromised_key_fails_its_later_records_offline_too(
    env: dict[str, str], tmp_path: Path
) -> None:
    [key] = key_ids(env)
    pdf = tmp_path / "d.pdf"
    issue(env, pdf, "زهرا محمدی")
    # marked compromised from before it was made: everything it signed is distrusted
    out = run(env, "keys", "compromised", key, "--since", "2020-01-01T00:00:00+03:30")
    assert f"key {key} is compromised since 2019-12-31T20:30:00Z" in out
    assert "every record it signed fails verification" in out
    assert "no diploma can be issued until you run `diplomas keys rotate`" in out
    assert metadata(tmp_path)[0]["compromised_since"] == "2019-12-31T20:30:00Z"

    printed = run(env, "verify", str(pdf), code=1)
    assert "INVALID" in printed and f"key {key}" in printed
    assert "marked that key compromised since 2019-12-31 20:30:00 UTC" in printed

    # issuing is refused with a way out, until a rotation
    refused = run(env, "issue", "--name", "علی", "--out", str(tmp_path / "x.pdf"), code=4)
    assert "keys rotate" in refused
    run(env, "keys", "rotate")
    issue(env, tmp_path / "x.pdf", "علی")

    bundle = tmp_path / "trust.json"
    run(env, "keys", "export", "--out", str(bundle))
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    verdict = json.loads(run(offline, "verify", str(pdf), "--trust", str(bundle), "--json", code=1))
    assert verdict["status"] == "invalid"
    assert any("compromised" in r for r in verdict["reasons"])


def test_arguments_are_checked_with_clear_messages(env: dict[str, str], tmp_path: Path) -> None:
    [key] = key_ids(env)
    before = (tmp_path / "keys" / "record-keys.json").read_bytes()
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cases = [
        (("retire", "rk-00000000-000000"), 3, "there is no record key 'rk-00000000-000000'"),
        (("compromised", "rk-nope", "--since", "2026-01-01T00:00:00Z"), 3, "no record key"),
        (("compromised", key, "--since", "last tuesday"), 2, "is not an ISO 8601 time"),
        (("compromised", key, "--since", "2026-01-01T00:00:00"), 2, "needs a time zone"),
        (("compromised", key, "--since", future), 2, "is in the future"),
        (("compromised", key), 2, "Missing option '--since'"),
        (("retire", key), 2, "is the only active key"),
    ]
    for args, code, words in cases:
        assert words in run(env, "keys", *args, code=code), args
    assert (tmp_path / "keys" / "record-keys.json").read_bytes() == before  # nothing changed

    run(env, "keys", "compromised", key, "--since", "2026-01-01T00:00:00Z")
    later = run(env, "keys", "compromised", key, "--since", "2026-02-01T00:00:00Z", code=2)
    assert "already marked compromised" in later
    assert "signs nothing already" in run(env, "keys", "retire", key, code=2)


def test_retire_with_rotate_and_list(env: dict[str, str], tmp_path: Path) -> None:
    [first] = key_ids(env)
    out = run(env, "keys", "retire", first, "--rotate")
    _, second = key_ids(env)
    assert f"retired {first}" in out and f"new key {second}" in out
    listing = run(env, "keys", "list")
    assert re.search(rf"{first}\W+retired", listing)
    assert re.search(rf"{second}\W+active \(signs\)", listing)
    assert "already retired" in run(env, "keys", "retire", first, code=2)
    keys = metadata(tmp_path)
    assert keys[0]["valid_until"] is not None and keys[1]["valid_until"] is None
