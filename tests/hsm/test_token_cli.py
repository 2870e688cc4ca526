"""`diplomas keys init-token` as an admin runs it: separate processes, each logging in to
the SoftHSM2 token with the PIN from its environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clitools import cli_environment

from .conftest import SoftHsm

ISSUE = ("--name", "علی رضایی", "--issued-on", "1405/09/05", "--out", os.devnull)
DIPLOMAS = str(Path(sys.executable).with_name("diplomas"))


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    done = subprocess.run(
        [DIPLOMAS, *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_init_token_moves_signing_into_the_token(tmp_path: Path, softhsm: SoftHsm) -> None:
    # SOFTHSM2_CONF and the PIN included; wide enough that no message is wrapped
    env = {**os.environ, **cli_environment(tmp_path), "COLUMNS": "300"}
    run(env, "init")
    before = run(env, "keys", "list")
    made = run(env, "keys", "init-token", "--module", softhsm.module, "--token-label", "diplomas")
    assert "are in token 'diplomas'; they sign from now on" in made
    assert "retired rk-" in made and softhsm.pin not in made
    listed = run(env, "keys", "list")
    assert "active (signs)" in listed and "retired" in listed and listed != before

    certificates = run(env, "keys", "certificates")
    config = json.loads((tmp_path / "keys" / "pkcs11.json").read_bytes())
    cert_id = config["document_signing"]["certificate_file"].removeprefix("document-signing-token-")
    assert f"{cert_id.removesuffix('.pem')} │ self-made (signs)" in certificates

    pdf = tmp_path / "d.pdf"
    run(env, "issue", "--name", "زهرا محمدی", "--issued-on", "1405/09/05", "--out", str(pdf))
    verdict = json.loads(run(env, "verify", str(pdf), "--json"))
    assert verdict["status"] == "valid", verdict

    again = run(env, "keys", "init-token", "--module", softhsm.module, "--token-label", "x", code=4)
    assert "are in a token already" in again
    assert "found keys" in run(env, "init")  # init again opens the token, makes nothing

    wrong = run({**env, "DIPLOMAS_PKCS11_PIN": "0000"}, "issue", *ISSUE, code=4)
    assert "the PIN of token 'diplomas' is wrong" in wrong and "0000" not in wrong
    unset = {k: v for k, v in env.items() if k != "DIPLOMAS_PKCS11_PIN"}
    assert "no PIN is given: set DIPLOMAS_PKCS11_PIN" in run(unset, "issue", *ISSUE, code=4)


def test_init_token_refuses_a_token_that_is_not_there(tmp_path: Path, softhsm: SoftHsm) -> None:
    env = {**os.environ, **cli_environment(tmp_path), "COLUMNS": "300"}
    run(env, "init")
    missing = run(
        env, "keys", "init-token", "--module", softhsm.module, "--token-label", "nope", code=4
    )
    assert "no token labelled 'nope'" in missing
    assert "active (signs)" in run(env, "keys", "list")  # nothing changed


def test_init_token_with_the_root_offline_brings_it_in_for_that_command(
    tmp_path: Path, softhsm: SoftHsm
) -> None:
    """The README's own order: the root offline first (`init --offline-root`), then the
    keys into a token, which needs the root once to certify the token's key."""
    root_file = tmp_path / "root.json"
    env = {
        **os.environ,
        **cli_environment(tmp_path),
        "COLUMNS": "300",
        "DIPLOMAS_ROOT_PASSPHRASE": "a long root passphrase of its own",
    }
    run(env, "init", "--no-input", "--offline-root", str(root_file))
    token = ("keys", "init-token", "--module", softhsm.module, "--token-label", "diplomas")
    refused = run(env, *token, code=4)
    assert "the root CA is kept offline" in refused and "--root FILE" in refused
    assert not (tmp_path / "keys" / "pkcs11.json").exists()  # nothing made
    made = run(env, *token, "--root", str(root_file))
    assert "are in token 'diplomas'; they sign from now on" in made
    pdf = tmp_path / "d.pdf"
    run(env, "issue", "--name", "زهرا محمدی", "--issued-on", "1405/09/05", "--out", str(pdf))
    assert json.loads(run(env, "verify", str(pdf), "--json"))["status"] == "valid"
    assert not (tmp_path / "keys" / "root-ca.key.pem").exists()
