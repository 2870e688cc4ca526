"""A running server sees what the command line changes: a co-issuer added, the public URL
moved, a settings file broken by hand. Nothing needs a restart and nothing answers 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clitools import cli_environment, invoke, run
from conftest import SAMT, free_port, uvicorn_thread

from diplomas.bootstrap import build_app
from diplomas.config import Settings

ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(env["DIPLOMAS_HOME"]),
        keys_dir=Path(env["DIPLOMAS_KEYS_DIR"]),
        key_passphrase=env["DIPLOMAS_KEY_PASSPHRASE"],  # type: ignore[arg-type]
        rate_limit=0,
        verify_cache_check_seconds=0,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, str]]:
    """`diplomas serve` as deployed (`build_app`), and the command line beside it:
    (environment, base URL, an API token)."""
    env = cli_environment(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    invoke(env, "init", "--no-input", "--public-url", base)
    token = run(env, "token", "create", "--scope", "issue,read,revoke").strip().splitlines()[-1]
    with uvicorn_thread(build_app(settings_of(env)), port):
        yield env, base, token


def eventually(check: Callable[[], Any], seconds: float = 10) -> Any:
    """What `check` returns once it returns something true (the server looks every second)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_the_server_follows_the_command_line(served: tuple[dict[str, str], str, str]) -> None:
    env, base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=30) as http:
        invoke(
            env,
            "institutions",
            "add",
            "--slug",
            "samt",
            "--name",
            SAMT["name"],
            "--name-en",
            SAMT["name_en"],
        )

        def issue_jointly() -> httpx.Response | None:
            r = http.post("/api/v1/diplomas", json={**ZAHRA, "co_issuers": ["samt"]}, headers=auth)
            assert r.status_code in (201, 422), r.text  # 422 until the server has seen samt
            return r if r.status_code == 201 else None

        issued = eventually(issue_jointly)
        assert issued is not None, "the server never saw the new co-issuer"
        joint = issued.json()
        page = http.get(f"/v/{joint['id']}")
        assert page.status_code == 200
        assert http.get(f"/api/v1/verify/{joint['id']}").json()["status"] == "valid"
        assert http.get("/i/samt/did.json").status_code == 200

        # The office moves to its own domain with one command; the server follows.
        new = "https://diplomas.tbzmed.ac.ir"
        out = run(env, "settings", "set", "public_url", new)
        assert "did:web:diplomas.tbzmed.ac.ir" in out
        assert "keep verifying" in out

        def issued_at_new() -> dict[str, Any] | None:
            r = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth)
            assert r.status_code == 201, r.text
            body: dict[str, Any] = r.json()
            return body if body["verify_url"].startswith(new) else None

        assert eventually(issued_at_new) is not None
        assert http.get(f"/api/v1/verify/{joint['id']}").json()["status"] == "valid"
        pdf = http.get(f"/api/v1/diplomas/{joint['id']}/pdf", headers=auth).content
        upload = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
        assert upload.json()["status"] == "valid", upload.json()


def test_a_broken_settings_file_is_named_and_the_old_settings_stay(
    served: tuple[dict[str, str], str, str],
) -> None:
    env, base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    settings_file = Path(env["DIPLOMAS_HOME"]) / "institution.toml"
    with httpx.Client(base_url=base, timeout=30) as http:
        issued = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth).json()
        good = settings_file.read_text(encoding="utf-8")
        settings_file.write_text(good.replace("serial_prefix =", "serial_prefx ="), "utf-8")

        def warned() -> list[str]:
            r = http.get("/readyz")
            assert r.status_code == 200  # still serving, with the settings it had
            warnings: list[str] = r.json()["warnings"]
            return warnings

        warnings = eventually(warned)
        assert warnings and "cannot be used" in warnings[0]
        assert str(settings_file) not in warnings[0]  # public words name no path
        assert http.get(f"/v/{issued['id']}").status_code == 200
        again = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth)
        assert again.status_code == 201

        settings_file.write_text(good, "utf-8")
        assert eventually(lambda: warned() == [])


def test_the_server_signs_with_an_imported_certificate_without_a_restart(
    served: tuple[dict[str, str], str, str], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from certauthority import key_pem, make_ca, pem
    from cryptography.hazmat.primitives.asymmetric import ec

    env, base, token = served
    auth = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    ca = make_ca(now)
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "key.pem").write_bytes(key_pem(key))
    chain = pem(ca.issue(key.public_key(), now), ca.intermediate, ca.root)
    (tmp_path / "chain.pem").write_bytes(chain)

    def pdf_signer(http: httpx.Client, issued: dict[str, Any]) -> str:
        pdf = http.get(issued["pdf_url"], headers=auth).content
        verdict = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
        assert verdict.json()["status"] == "valid", verdict.json()
        (signer,) = [s["signer"] for s in verdict.json()["signers"] if s["kind"] == "pdf"]
        return str(signer)

    with httpx.Client(base_url=base, timeout=30) as http:
        before = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth).json()
        assert "Document Signing" in pdf_signer(http, before)  # the self-made certificate
        key_file, chain_file = str(tmp_path / "key.pem"), str(tmp_path / "chain.pem")
        invoke(env, "keys", "import-certificate", "--key", key_file, "--chain", chain_file)

        def signed_by_the_ca() -> bool:
            issued = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth).json()
            return "Diplomas" in pdf_signer(http, issued)

        assert eventually(signed_by_the_ca), "the server went on with the self-made certificate"
        assert "Document Signing" in pdf_signer(http, before)  # and the earlier one verifies
