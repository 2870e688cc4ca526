"""A stolen document-signing key, from the theft to the distrust, as an office lives it:
everything through the command line and a real server over HTTP.

The thief holds the key of the certificate that signed the diplomas so far. They take a
genuine, public diploma record and wrap it in a page of their own, signed with the stolen
key and claiming a time before the theft was noticed. The office renews the certificate
and distrusts the old one from the moment of the theft; then the server and an offline
verifier with the new trust bundle refuse the forgery, while the diplomas the office
issued itself, before and after, keep verifying.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clitools import cli_environment, invoke
from conftest import free_port, uvicorn_thread
from pdfsign.conftest import make_unsigned_pdf
from pdftools import pdfsig
from typer.testing import CliRunner

from diplomas.bootstrap import build_app, open_key_store
from diplomas.cli.main import app
from diplomas.config import Settings
from diplomas.pdfsign import PadesSigner, PadesValidator

from .test_certificate_custody import claimed_time


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    return " ".join(invoke(env, *args, code=code).output.split())


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(env["DIPLOMAS_HOME"]),
        keys_dir=Path(env["DIPLOMAS_KEYS_DIR"]),
        key_passphrase=env["DIPLOMAS_KEY_PASSPHRASE"],  # type: ignore[arg-type]
        database_url="",
        rate_limit=0,
        verify_cache_check_seconds=0,
    )


def issue(env: dict[str, str], out: Path, name: str) -> bytes:
    run(env, "issue", "--name", name, "--issued-on", "1405/09/05", "--out", str(out), "--json")
    return out.read_bytes()


def cert_ids(env: dict[str, str]) -> list[str]:
    return list(dict.fromkeys(re.findall(r"dsc-[0-9a-f]{16}", run(env, "keys", "certificates"))))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**cli_environment(tmp_path), "COLUMNS": "250"}
    invoke(environment, "init", "--no-input")
    return environment


@contextmanager
def deployed_server(settings: Settings) -> Iterator[httpx.Client]:
    """`diplomas serve` as deployed (`build_app`, which follows the key store on disk), on
    a free port, and a client for it."""
    port = free_port()
    with (
        uvicorn_thread(build_app(settings), port),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
    ):
        yield http


def eventually(check: Callable[[], Any], seconds: float = 10) -> Any:
    """What `check` returns once it is true (a server looks at the key store every second)."""
    deadline = time.monotonic() + seconds
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def upload(http: httpx.Client, pdf: bytes) -> dict[str, Any]:
    answer = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
    body: dict[str, Any] = answer.json()
    return body


def refusal(reasons: list[str]) -> str:
    [reason] = [r for r in reasons if "distrusts since" in r]
    return reason


def test_a_forgery_with_a_stolen_key_is_refused_and_genuine_diplomas_verify(
    env: dict[str, str], tmp_path: Path
) -> None:
    settings = settings_of(env)
    with deployed_server(settings) as http:
        stolen: PadesSigner = open_key_store(settings).pdf_signer()  # what the thief copies
        [old_id] = cert_ids(env)
        before = issue(env, tmp_path / "before.pdf", "زهرا محمدی")  # signed by the old key

        # the thief wraps the genuine, public record in a page of their own, claiming a
        # time before anyone noticed; until the distrust, nothing tells it from a diploma
        record = PadesValidator(open_key_store(settings).trust_roots()).inspect(before).record
        assert record is not None
        theft = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=2)
        with claimed_time(theft - timedelta(minutes=30)):
            forged = stolen.sign(make_unsigned_pdf("Master of Everything"), record)
        assert "Signature is Valid" in pdfsig(forged)  # cryptographically perfect
        assert upload(http, forged)["status"] == "valid"

        # the office renews, and distrusts the old certificate from the theft on
        renewed = run(env, "keys", "renew-certificate")
        new_id = next(i for i in cert_ids(env) if i != old_id)
        assert f"new certificate {new_id}" in renewed and f"{old_id} signs no more" in renewed
        distrusted = run(
            env,
            "keys",
            "distrust-certificate",
            old_id,
            "--since",
            theft.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--reason",
            "signing key stolen",
        )
        assert f"certificate {old_id}" in distrusted and "is distrusted since" in distrusted
        assert "1 signature(s) of diplomas this server stored are vouched for" in distrusted
        listing = invoke(env, "keys", "certificates").output
        [old_row] = [line for line in listing.splitlines() if old_id in line]
        [new_row] = [line for line in listing.splitlines() if new_id in line]
        assert f"{theft:%Y-%m-%dT%H:%M:%SZ} (signing key stolen)" in old_row
        assert "self-made (signs)" in new_row

        # the running server follows the key store: the forgery is refused, in words
        body = eventually(lambda: (b := upload(http, forged))["status"] == "invalid" and b)
        assert body, "the server did not apply the distrust"
        assert "signing key stolen" in refusal(body["reasons"])
        assert "the time the PDF itself claims does not count" in refusal(body["reasons"])
        after = issue(env, tmp_path / "after.pdf", "علی رضایی")  # signed by the new key
        for pdf in (before, after):
            body = upload(http, pdf)
            assert body["status"] == "valid", body["reasons"]

    # offline: `diplomas verify --trust` with the bundle exported after the distrust
    bundle = tmp_path / "trust.json"
    run(env, "keys", "export", "--out", str(bundle))
    [item] = json.loads(bundle.read_bytes())["distrusted_certificates"]
    assert item["reason"] == "signing key stolen" and len(item["vouched_signatures"]) == 1
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    (tmp_path / "forged.pdf").write_bytes(forged)
    forged_path = str(tmp_path / "forged.pdf")
    verdict = json.loads(
        run(offline, "verify", forged_path, "--trust", str(bundle), "--json", code=1)
    )
    assert verdict["status"] == "invalid"
    assert "signing key stolen" in refusal(verdict["reasons"])
    for name in ("before.pdf", "after.pdf"):
        verdict = json.loads(
            run(offline, "verify", str(tmp_path / name), "--trust", str(bundle), "--json")
        )
        assert verdict["status"] == "valid", (name, verdict["reasons"])


def test_renewal_with_the_root_offline_refuses_without_it_and_with_a_wrong_passphrase(
    tmp_path: Path,
) -> None:
    env = {**cli_environment(tmp_path), "COLUMNS": "250"}
    root_file = tmp_path / "root.json"
    root_env = {**env, "DIPLOMAS_ROOT_PASSPHRASE": "the root's own long passphrase"}
    out = run(root_env, "init", "--no-input", "--offline-root", str(root_file))
    assert f"the root CA's key is in {root_file} (encrypted), not on this server" in out
    keys = tmp_path / "keys"
    assert not (keys / "root-ca.key.pem").exists() and (keys / "root-ca.pem").exists()
    files = {p.name: p.read_bytes() for p in keys.iterdir() if p.name != ".lock"}

    refused = run(env, "keys", "renew-certificate", code=2)
    assert "the root CA is kept offline" in refused and "--root FILE" in refused
    wrong = {**env, "DIPLOMAS_ROOT_PASSPHRASE": "not the root's passphrase"}
    refused = run(wrong, "keys", "renew-certificate", "--root", str(root_file), code=4)
    assert f"the root passphrase does not open {root_file}" in refused
    refused = run(env, "keys", "renew-certificate", "--root", str(tmp_path / "none.json"), code=2)
    assert "cannot read" in refused
    assert {p.name: p.read_bytes() for p in keys.iterdir() if p.name != ".lock"} == files
    [only] = cert_ids(env)

    # the passphrase on stdin, as a script gives it
    result = CliRunner().invoke(
        app,
        ["keys", "renew-certificate", "--root", str(root_file), "--root-passphrase-stdin"],
        env=env,
        input="the root's own long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "signs PDFs from now on" in result.output and "put" in result.output
    assert len(cert_ids(env)) == 2 and cert_ids(env)[0] == only
    assert not (keys / "root-ca.key.pem").exists()
    issue(env, tmp_path / "d.pdf", "زهرا محمدی")
    verdict = json.loads(run(env, "verify", str(tmp_path / "d.pdf"), "--json"))
    assert verdict["status"] == "valid", verdict["reasons"]
