"""`diplomas keys import-certificate` as an admin runs it, with a CA made in the test; then
what outside validators say: poppler's pdfsig, given an NSS database that trusts the CA's
root, and pyHanko under `diplomas verify` (online and with an exported trust bundle).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from certauthority import MadeCA, key_pem, make_ca, nss_database, pem, pkcs12_file
from clitools import cli_environment, invoke
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from diplomas.cli.main import app
from diplomas.config import DEFAULT_INSTITUTION

pytestmark = pytest.mark.skipif(
    shutil.which("pdfsig") is None or shutil.which("certutil") is None,
    reason="needs poppler's pdfsig and NSS's certutil (make system-deps)",
)

NOW = datetime.now(UTC)
FULL_NAME = str(DEFAULT_INSTITUTION["name_en"])
UNIT, ORGANIZATION = FULL_NAME.split(", ")


@pytest.fixture(scope="module")
def ca() -> MadeCA:
    return make_ca(NOW)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**cli_environment(tmp_path), "COLUMNS": "200"}
    invoke(environment, "init")
    return environment


def _issue(env: dict[str, str], out: Path) -> Path:
    invoke(env, "issue", "--name", "زهرا محمدی", "--issued-on", "1405/09/05", "--out", str(out))
    return out


def _verdict(env: dict[str, str], pdf: Path, *trust: str) -> dict[str, object]:
    args = [a for t in trust for a in ("--trust", t)]
    verdict: dict[str, object] = json.loads(invoke(env, "verify", str(pdf), *args, "--json").output)
    return verdict


def pdfsig(pdf: Path, nss: str | None = None) -> str:
    args = ["pdfsig", *(["-nssdir", nss] if nss else []), str(pdf)]
    return subprocess.run(args, capture_output=True, text=True, check=False).stdout


def _line(report: str, label: str) -> str:
    match = re.search(rf"- {re.escape(label)}: (.*)", report)
    assert match, report
    return match.group(1)


def test_self_made_default_shows_valid_but_unknown_issuer(
    env: dict[str, str], tmp_path: Path
) -> None:
    """What a reader that does not know the institution's own root says: the signature
    is intact, its issuer unknown. The name is whole: unit and organization."""
    report = pdfsig(_issue(env, tmp_path / "diploma.pdf"))
    assert _line(report, "Signature Validation") == "Signature is Valid."
    assert _line(report, "Certificate Validation") == "Certificate issuer is unknown."
    assert _line(report, "Signer Certificate Common Name") == f"{ORGANIZATION} Document Signing"
    distinguished = _line(report, "Signer full Distinguished Name")
    assert f"OU={UNIT}" in distinguished and f"O={ORGANIZATION}" in distinguished
    assert "Tabri," not in distinguished and not distinguished.endswith("Tabri")


def test_pkcs12_import_rsa_signs_trusted_and_earlier_diplomas_keep_verifying(
    env: dict[str, str], tmp_path: Path, ca: MadeCA
) -> None:
    before = _issue(env, tmp_path / "before.pdf")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = ca.issue(key.public_key(), NOW)
    p12 = tmp_path / "tbzmed.p12"
    p12.write_bytes(pkcs12_file(key, certificate, [ca.intermediate, ca.root], b"p12 secret"))

    result = CliRunner().invoke(
        app,
        ["keys", "import-certificate", "--p12", str(p12), "--password-stdin"],
        env=env,
        input="p12 secret\n",
    )
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "p12 secret" not in printed
    assert f"OU={UNIT}" in printed and "it signs PDFs from now on" in printed

    after = _issue(env, tmp_path / "after.pdf")
    nss = nss_database(tmp_path / "nss", ca.root)
    report = pdfsig(after, nss)
    assert _line(report, "Signature Validation") == "Signature is Valid."
    assert _line(report, "Certificate Validation") == "Certificate is Trusted."
    assert _line(report, "Signer Certificate Common Name") == f"{ORGANIZATION} Diplomas"
    distinguished = _line(report, "Signer full Distinguished Name")
    assert distinguished == f"CN={ORGANIZATION} Diplomas,OU={UNIT},O={ORGANIZATION},C=IR"
    # without the CA's root, poppler cannot vouch for the issuer
    assert "Certificate Validation: Certificate is Trusted." not in pdfsig(after)

    # our verifier (pyHanko underneath) online, and offline with a bundle exported now
    bundle = tmp_path / "trust.json"
    invoke(env, "keys", "export", "--out", str(bundle))
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    for pdf in (before, after):
        for verdict in (_verdict(env, pdf), _verdict(offline, pdf, str(bundle))):
            assert verdict["status"] == "valid", verdict
    [pdf_signer] = [s for s in _verdict(env, after)["signers"] if s["kind"] == "pdf"]
    assert pdf_signer["signer"] == f"{ORGANIZATION} Diplomas, {UNIT}, {ORGANIZATION}"

    rows = re.findall(
        r"dsc-[0-9a-f]{16} *│ *(self-made|imported)( \(signs\))?",
        invoke(env, "keys", "certificates").output,
    )
    assert rows == [("self-made", ""), ("imported", " (signs)")]

    entries = json.loads(invoke(env, "audit", "list", "--json").output)
    [imported] = [e for e in entries if e["action"] == "certificate.imported"]
    assert imported["details"]["serial"] == format(certificate.serial_number, "x")
    assert "p12 secret" not in json.dumps(entries)


def test_pem_import_ecdsa_with_root_given_apart(
    env: dict[str, str], tmp_path: Path, ca: MadeCA
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = ca.issue(key.public_key(), NOW)
    (tmp_path / "key.pem").write_bytes(key_pem(key, b"pem secret"))
    (tmp_path / "chain.pem").write_bytes(pem(certificate, ca.intermediate))
    (tmp_path / "root.pem").write_bytes(pem(ca.root))
    files = ["--key", str(tmp_path / "key.pem"), "--chain", str(tmp_path / "chain.pem")]

    refused = invoke(env, "keys", "import-certificate", *files, code=2).output
    assert "the key file is encrypted" in refused
    with_password = {**env, "DIPLOMAS_P12_PASSWORD": "pem secret"}
    refused = " ".join(
        invoke(with_password, "keys", "import-certificate", *files, code=2).output.split()
    )
    assert "the chain does not reach a CA root" in refused and "--root" in refused
    invoke(
        with_password, "keys", "import-certificate", *files, "--root", str(tmp_path / "root.pem")
    )

    after = _issue(env, tmp_path / "after.pdf")
    report = pdfsig(after, nss_database(tmp_path / "nss", ca.root))
    assert _line(report, "Signature Validation") == "Signature is Valid."
    assert _line(report, "Certificate Validation") == "Certificate is Trusted."
    assert f"OU={UNIT},O={ORGANIZATION}" in _line(report, "Signer full Distinguished Name")
    assert _verdict(env, after)["status"] == "valid"


def test_import_needs_one_kind_of_input(env: dict[str, str], tmp_path: Path) -> None:
    for args in ([], ["--key", "k.pem"], ["--p12", "a.p12", "--chain", "c.pem"]):
        refused = invoke(env, "keys", "import-certificate", *args, code=2).output
        assert "give either --p12 FILE, or both --key and --chain" in refused
