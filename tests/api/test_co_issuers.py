"""A diploma awarded jointly: one record proof and one PAdES signature per institution.

The university's office issues, the provincial Industry, Mine and Trade organization
co-issues; each signs with its own keys and certificates, and every verifier names each
signer and refuses the diploma when either signature is missing or broken.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clitools import invoke
from conftest import SAMT, LiveServer, free_port, make_instance, serving
from pdftools import pdfsig
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from diplomas.bootstrap import open_key_stores
from diplomas.pdfsign.signer import to_asn1

ZAHRA = {"name": "زهرا محمدی‌نژاد", "name_en": "Zahra Mohammadinejad", "issued_on": "1405/09/05"}


@pytest.fixture
def co_server(tmp_path: Path, backend: str) -> Iterator[LiveServer]:
    port = free_port()
    inst = make_instance(tmp_path, backend, f"http://127.0.0.1:{port}", co_issuers=[SAMT])
    with serving(inst, port) as server:
        yield server


@pytest.fixture
def http(co_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=co_server.base_url, timeout=30) as c:
        yield c


def issue_jointly(http: httpx.Client, server: LiveServer) -> tuple[dict[str, Any], bytes]:
    r = http.post(
        "/api/v1/diplomas",
        json={**ZAHRA, "co_issuers": ["samt"]},
        headers=server.instance.auth("issue"),
    )
    assert r.status_code == 201, r.text
    issued: dict[str, Any] = r.json()
    pdf = http.get(issued["pdf_url"], headers=server.instance.auth("read")).content
    return issued, pdf


def upload(http: httpx.Client, pdf: bytes) -> dict[str, Any]:
    r = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
    assert r.status_code == 200, r.text
    verdict: dict[str, Any] = r.json()
    return verdict


def first_revision(pdf: bytes) -> bytes:
    """The file as the issuer signed it, before the co-issuer's incremental update."""
    ranges = re.findall(rb"/ByteRange \[\s*0 (\d+) (\d+) (\d+)\s*\]", pdf)
    ends = sorted(int(b) + int(c) for _, b, c in ranges)
    assert len(ends) == 2 and ends[1] == len(pdf)
    return pdf[: ends[0]]


def test_two_institutions_two_proofs_two_pdf_signatures(
    http: httpx.Client, co_server: LiveServer
) -> None:
    issued, pdf = issue_jointly(http, co_server)
    stores = open_key_stores(co_server.instance.settings)
    university, samt = stores["tbzmed"].institution, stores["samt"].institution

    credential = http.get(f"/api/v1/diplomas/{issued['id']}/credential").json()
    proofs = credential["proof"]
    assert [p["verificationMethod"].split("#")[0] for p in proofs] == [university.did, samt.did]
    assert credential["diploma"]["coIssuers"][0]["id"] == samt.did

    # pyHanko's own validator: each signature intact and trusted against its own root only.
    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(signatures) == 2
    for signature, slug in zip(signatures, ["tbzmed", "samt"], strict=True):
        roots = [to_asn1(r) for r in stores[slug].trust_roots()]
        status = validate_pdf_signature(
            signature, ValidationContext(trust_roots=roots, allow_fetching=False)
        )
        assert status.intact and status.valid and status.trusted, slug
    assert pdfsig(pdf).count("Signature is Valid") == 2

    verdict = upload(http, pdf)
    assert verdict["status"] == "valid", verdict["reasons"]
    kinds = [(s["kind"], s["ok"]) for s in verdict["signers"]]
    assert kinds.count(("pdf", True)) == 2 and kinds.count(("record", True)) == 2

    by_id = http.get(f"/api/v1/verify/{issued['id']}").json()
    assert by_id["status"] == "valid" and len(by_id["signers"]) == 2
    page = http.get(f"/v/{issued['id']}").text
    assert university.name in page and samt.name in page and samt.name_en in page

    # The co-issuer's DID document is published where did:web looks for it.
    document = http.get("/i/samt/did.json").json()
    assert (
        document["id"]
        == samt.did
        == "did:web:" + co_server.base_url[7:].replace(":", "%3A") + ":i:samt"
    )
    assert proofs[1]["verificationMethod"] in [m["id"] for m in document["verificationMethod"]]
    assert http.get("/i/nobody/did.json").status_code == 404


def test_a_missing_or_broken_signature_of_either_is_caught(
    http: httpx.Client, co_server: LiveServer
) -> None:
    _, pdf = issue_jointly(http, co_server)
    alone = first_revision(pdf)

    # The co-issuer's signature removed: the issuer's alone does not make it genuine.
    verdict = upload(http, alone)
    assert verdict["status"] == "invalid"
    assert any("no valid PDF signature from East Azerbaijan" in r for r in verdict["reasons"])

    # Signed a second time by the issuer instead of the co-issuer: still missing.
    issuer_signer = co_server.instance.service.pdf_signer
    verdict = upload(http, issuer_signer.sign_additional(alone))
    assert verdict["status"] == "invalid"
    assert any("no valid PDF signature from East Azerbaijan" in r for r in verdict["reasons"])

    # A byte changed in the co-issuer's update, or in the issuer's revision.
    for at in (len(alone) + 40, len(alone) // 2):
        broken = bytearray(pdf)
        broken[at] ^= 0x01
        verdict = upload(http, bytes(broken))
        assert verdict["status"] == "invalid", at
        assert any(not s["ok"] for s in verdict["signers"] if s["kind"] == "pdf"), at


def test_unknown_co_issuers_are_refused_and_nothing_is_issued(
    http: httpx.Client, co_server: LiveServer
) -> None:
    auth = co_server.instance.auth("issue")
    for value, says in (
        (["nobody"], "'nobody' is not a co-issuing institution of this instance"),
        (["tbzmed"], "'tbzmed' is the issuer itself"),
        (["Not A Slug"], "is not an institution slug"),
        ("samt", "Input should be a valid list"),
    ):
        r = http.post("/api/v1/diplomas", json={**ZAHRA, "co_issuers": value}, headers=auth)
        assert r.status_code == 422, r.text
        assert says in r.text
    listing = http.get("/api/v1/diplomas", headers=co_server.instance.auth("read")).json()
    assert listing["total"] == 0


def test_the_command_line_issues_jointly_and_verifies_offline_with_both_bundles(
    env: dict[str, str], tmp_path: Path
) -> None:
    def run(*args: str, code: int = 0) -> str:
        return invoke(env, *args, code=code).stdout

    run("init")
    added = run(
        "institutions", "add", "--slug", "samt", "--name", SAMT["name"],
        "--name-en", SAMT["name_en"], "--signatory-name", "مهندس صابر پرنیان",
        "--signatory-title", "رئیس سازمان",
    )  # fmt: skip
    assert "created keys for co-issuer samt" in added
    assert "samt" in run("institutions", "list")
    pdf = tmp_path / "joint.pdf"
    result = json.loads(
        run("issue", "--name", ZAHRA["name"], "--co-issuer", "samt", "--out", str(pdf), "--json")
    )
    assert result["serial"].startswith("TBZMED-")
    assert "VALID" in run("verify", str(pdf))

    ours, theirs = tmp_path / "tbzmed.json", tmp_path / "samt.json"
    run("keys", "export", "--out", str(ours))
    run("keys", "export", "--institution", "samt", "--out", str(theirs))
    assert json.loads(theirs.read_text())["institution"]["name_en"] == SAMT["name_en"]
    both = json.loads(
        run("verify", str(pdf), "--trust", str(ours), "--trust", str(theirs), "--json")
    )
    assert both["status"] == "valid", both["reasons"]
    one = json.loads(run("verify", str(pdf), "--trust", str(ours), "--json", code=1))
    assert one["status"] == "invalid"
    assert any("East Azerbaijan" in r for r in one["reasons"])
    # Not a tampered file: a signer this bundle cannot vouch for, said as such.
    assert not any("was changed after it was signed" in r for r in one["reasons"]), one
    assert any("intact but not trusted here" in r for r in one["reasons"]), one

    # Each institution's keys rotate on their own.
    run("keys", "rotate", "--institution", "samt")
    assert "VALID" in run("verify", str(pdf))
    run("keys", "list", "--institution", "nobody", code=3)
