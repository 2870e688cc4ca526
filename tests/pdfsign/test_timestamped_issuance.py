"""Issuing with a timestamp authority configured, as an admin sets it up: a CA-issued
certificate imported with `diplomas keys import-certificate`, DIPLOMAS_TIMESTAMP_URL and
DIPLOMAS_TIMESTAMP_ROOTS set, certomancer serving the CA's OCSP and CRLs and the
authority over HTTP. The diploma is PAdES B-LT, verifies through the server (a real
uvicorn over HTTP), with `diplomas verify` and offline with an exported trust bundle;
with the authority stopped, issuing fails with a sentence that names it, and no PDF is
stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import httpx
import pytest
import tsa
from certauthority import key_pem, pem
from clitools import cli_environment, invoke
from conftest import Instance, free_port, serving
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from diplomas.bootstrap import build_service
from diplomas.config import Settings

PASSWORD = "key file password"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[tsa.TrustServices]:
    running = tsa.start(tmp_path / "certomancer")
    yield running
    running.stop()


@pytest.fixture
def env(tmp_path: Path, services: tsa.TrustServices) -> dict[str, str]:
    """An instance whose PDFs are signed with the CA's certificate and timestamped."""
    environment = {**cli_environment(tmp_path), "COLUMNS": "200"}
    invoke(environment, "init")
    key = load_pem_private_key(services.key_pem("signer"), None)
    (tmp_path / "key.pem").write_bytes(key_pem(key, PASSWORD.encode()))  # type: ignore[arg-type]
    (tmp_path / "chain.pem").write_bytes(
        pem(services.certificate("signer"), services.certificate("interm"))
    )
    (tmp_path / "root.pem").write_bytes(pem(services.certificate("root")))
    (tmp_path / "tsa-root.pem").write_bytes(pem(services.certificate("tsa-root")))
    invoke(
        {**environment, "DIPLOMAS_P12_PASSWORD": PASSWORD},
        "keys",
        "import-certificate",
        "--key",
        str(tmp_path / "key.pem"),
        "--chain",
        str(tmp_path / "chain.pem"),
        "--root",
        str(tmp_path / "root.pem"),
    )
    return {
        **environment,
        "DIPLOMAS_TIMESTAMP_URL": services.tsa_url,
        "DIPLOMAS_TIMESTAMP_ROOTS": str(tmp_path / "tsa-root.pem"),
    }


def _issue(env: dict[str, str], out: Path, code: int = 0) -> str:
    return invoke(
        env,
        "issue",
        "--name",
        "زهرا محمدی",
        "--issued-on",
        "1405/09/05",
        "--out",
        str(out),
        code=code,
    ).output


def _verdict(env: dict[str, str], pdf: Path, *trust: str) -> dict[str, object]:
    args = [a for t in trust for a in ("--trust", t)]
    verdict: dict[str, object] = json.loads(invoke(env, "verify", str(pdf), *args, "--json").output)
    return verdict


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(env["DIPLOMAS_HOME"]),
        keys_dir=Path(env["DIPLOMAS_KEYS_DIR"]),
        key_passphrase=env["DIPLOMAS_KEY_PASSPHRASE"],  # type: ignore[arg-type]
        timestamp_url=env["DIPLOMAS_TIMESTAMP_URL"],
        timestamp_roots=Path(env["DIPLOMAS_TIMESTAMP_ROOTS"]),
        rate_limit=0,
    )


def test_a_long_term_diploma_verifies_online_offline_and_through_the_server(
    env: dict[str, str], tmp_path: Path, services: tsa.TrustServices
) -> None:
    pdf = tmp_path / "diploma.pdf"
    _issue(env, pdf)
    reader = PdfFileReader(BytesIO(pdf.read_bytes()))
    [embedded] = reader.embedded_signatures
    attributes = embedded.signer_info["unsigned_attrs"]
    assert [a["type"].native for a in attributes] == ["signature_time_stamp_token"]
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.ocsps and dss.crls

    verdict = _verdict(env, pdf)
    assert verdict["status"] == "valid"
    # the verdict says when the authority proves the signature was made
    [pdf_signer] = [s for s in verdict["signers"] if s["kind"] == "pdf"]
    stamped = datetime.fromisoformat(pdf_signer["timestamped_at"])
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=5)

    bundle_file = tmp_path / "trust.json"
    invoke(env, "keys", "export", "--out", str(bundle_file))
    bundle = json.loads(bundle_file.read_text())
    assert bundle["timestamp_roots"] == [(tmp_path / "tsa-root.pem").read_text()]
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    assert _verdict(offline, pdf, str(bundle_file))["status"] == "valid"

    settings = _settings(env)
    service = build_service(settings)
    token = service.create_token(["issue"], "test issue")[1]
    port = free_port()
    with (
        serving(Instance(settings, service, {"issue": token}), port) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        upload = http.post(
            "/api/v1/verify", files={"file": ("d.pdf", pdf.read_bytes(), "application/pdf")}
        )
        assert upload.status_code == 200, upload.text
        assert upload.json()["status"] == "valid", upload.json()
        assert [s["timestamped_at"] for s in upload.json()["signers"] if s["kind"] == "pdf"]

        # issuing over HTTP with the authority stopped: a 503 worth retrying, and the
        # authority's address stays in the operators' log, not in the answer
        services.tsa.stop()
        body = {"name": "علی رضایی", "issued_on": "1405/09/05"}
        refused = http.post("/api/v1/diplomas", json=body, headers=server.instance.auth("issue"))
        assert refused.status_code == 503, refused.text
        assert "Retry-After" in refused.headers
        assert services.tsa_url not in refused.text
        services.restart_tsa()
        issued = http.post("/api/v1/diplomas", json=body, headers=server.instance.auth("issue"))
        assert issued.status_code in (200, 201), issued.text


def test_with_the_authority_stopped_issuing_fails_plainly_and_stores_no_pdf(
    env: dict[str, str], tmp_path: Path, services: tsa.TrustServices
) -> None:
    _issue(env, tmp_path / "first.pdf")
    pdfs = Path(env["DIPLOMAS_HOME"]) / "pdfs"
    stored = sorted(pdfs.rglob("*.pdf"))
    services.tsa.stop()

    printed = " ".join(_issue(env, tmp_path / "second.pdf", code=4).split())
    assert f"the timestamp authority at {services.tsa_url} did not answer" in printed
    assert "nothing was signed" in printed
    assert not (tmp_path / "second.pdf").exists()
    assert sorted(pdfs.rglob("*.pdf")) == stored

    # nothing lost: the record was kept, and its PDF is signed once the authority is back
    services.restart_tsa()
    service = build_service(_settings(env))
    diplomas, total = service.search("", 0, 10)
    assert total == 2
    [unsigned] = [d for d in diplomas if not (pdfs / f"{d.id}.pdf").exists()]
    pdf = service.pdf(unsigned.id)
    assert b"/DSS" in pdf
    assert sorted(pdfs.rglob("*.pdf")) != stored


def test_a_timestamp_url_without_roots_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    without_roots = {k: v for k, v in env.items() if k != "DIPLOMAS_TIMESTAMP_ROOTS"}
    printed = " ".join(_issue(without_roots, tmp_path / "d.pdf", code=4).split())
    assert "DIPLOMAS_TIMESTAMP_ROOTS is not" in printed
    with_credentials = {**env, "DIPLOMAS_TIMESTAMP_URL": "https://user:pw@tsa.example.org/"}
    printed = " ".join(_issue(with_credentials, tmp_path / "d.pdf", code=4).split())
    assert "must not hold credentials" in printed and "pw@" not in printed


def test_the_settings_file_can_name_the_authority_and_keeps_it(
    env: dict[str, str], tmp_path: Path, services: tsa.TrustServices
) -> None:
    """[signing] in institution.toml instead of the environment; `diplomas settings set`
    rewrites the file and keeps the table; the environment wins over it."""
    home = Path(env["DIPLOMAS_HOME"])
    (home / "tsa-root.pem").write_bytes(pem(services.certificate("tsa-root")))
    settings_file = home / "institution.toml"
    settings_file.write_text(
        settings_file.read_text(encoding="utf-8")
        + f'\n[signing]\ntimestamp_url = "{services.tsa_url}"\ntimestamp_roots = "tsa-root.pem"\n',
        encoding="utf-8",
    )
    from_file = {
        k: v
        for k, v in env.items()
        if k not in ("DIPLOMAS_TIMESTAMP_URL", "DIPLOMAS_TIMESTAMP_ROOTS")
    }
    invoke(from_file, "settings", "set", "name_en", "Tabriz Research Office")
    assert f'timestamp_url = "{services.tsa_url}"' in settings_file.read_text(encoding="utf-8")

    pdf = tmp_path / "diploma.pdf"
    _issue(from_file, pdf)
    assert b"/DSS" in pdf.read_bytes()
    assert _verdict(from_file, pdf)["status"] == "valid"

    elsewhere = "http://127.0.0.1:9/tsa"  # the discard port: nothing answers there
    printed = " ".join(
        _issue({**from_file, "DIPLOMAS_TIMESTAMP_URL": elsewhere}, tmp_path / "d.pdf", 4).split()
    )
    assert f"the timestamp authority at {elsewhere} did not answer" in printed


def test_the_self_made_certificate_signs_long_term_too(
    tmp_path: Path, services: tsa.TrustServices
) -> None:
    """The default set-up: no CA, the institution's own root; its certificates name no
    revocation service, so B-LT embeds the certificates and the authority's data."""
    environment = cli_environment(tmp_path)
    invoke(environment, "init")
    (tmp_path / "tsa-root.pem").write_bytes(pem(services.certificate("tsa-root")))
    env = {
        **environment,
        "DIPLOMAS_TIMESTAMP_URL": services.tsa_url,
        "DIPLOMAS_TIMESTAMP_ROOTS": str(tmp_path / "tsa-root.pem"),
    }
    pdf = tmp_path / "diploma.pdf"
    _issue(env, pdf)
    reader = PdfFileReader(BytesIO(pdf.read_bytes()))
    assert DocumentSecurityStore.read_dss(reader).crls  # the authority's root's CRL
    assert _verdict(env, pdf)["status"] == "valid"
