"""Issue over HTTP, scan the printed QR code, follow it, revoke, and upload copies."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx
from conftest import LiveServer
from pdftools import decode_qr, first_page_image, pdfsig, pdftotext

GENUINE = "این دیپلم معتبر است"
REVOKED = "این دیپلم باطل شده است"

ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
    "email": "zahra@example.com",
    "national_id": "0499370899",
}


def issue(http: httpx.Client, server: LiveServer, body: dict[str, str]) -> dict[str, str]:
    r = http.post("/api/v1/diplomas", json=body, headers=server.instance.auth("issue"))
    assert r.status_code == 201, r.text
    data: dict[str, str] = r.json()
    return data


def download(http: httpx.Client, server: LiveServer, diploma_id: str) -> bytes:
    r = http.get(f"/api/v1/diplomas/{diploma_id}/pdf", headers=server.instance.auth("read"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    return r.content


def test_scan_the_printed_qr_then_revoke(http: httpx.Client, live_server: LiveServer) -> None:
    issued = issue(http, live_server, ZAHRA)
    pdf = download(http, live_server, issued["id"])

    urls = decode_qr(first_page_image(pdf))
    assert len(urls) == 1
    # The link to the verification page, with the issuer's signed summary in its fragment
    # (which a phone's browser keeps to itself).
    link, _, fragment = urls[0].partition("#")
    assert link == issued["verify_url"] == f"{live_server.base_url}/v/{issued['id']}"
    assert fragment.startswith(f"1.{issued['serial']}.20261126.")

    page = http.get(urlparse(urls[0]).path)
    assert page.status_code == 200
    assert GENUINE in page.text and "This diploma is genuine" in page.text
    assert ZAHRA["name"] in page.text and issued["serial"] in page.text
    for private in (ZAHRA["email"], ZAHRA["national_id"]):
        assert private not in page.text

    verdict = http.get(f"/api/v1/verify/{issued['id']}").json()
    assert verdict["status"] == "valid" and verdict["reasons"] == []
    assert "email" not in str(verdict) and ZAHRA["email"] not in str(verdict)

    r = http.post(
        f"/api/v1/diplomas/{issued['id']}/revoke",
        json={"reason": "issued_in_error", "note": "اشتباه در نام دارنده، صورت‌جلسهٔ ۱۲"},
        headers=live_server.instance.auth("revoke"),
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"

    page = http.get(urlparse(urls[0]).path)
    # The reason chosen from the list is published in both languages; the note never.
    assert REVOKED in page.text and "صدور اشتباه" in page.text and "Issued in error" in page.text
    assert "صورت‌جلسه" not in page.text
    verdict = http.get(f"/api/v1/verify/{issued['id']}").json()
    assert verdict["status"] == "revoked" and verdict["revocation_reason"] == "Issued in error"
    assert "صورت‌جلسه" not in str(verdict)

    upload = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")}).json()
    assert upload["status"] == "revoked"


def test_uploaded_genuine_copy_and_outside_tools(
    http: httpx.Client, live_server: LiveServer
) -> None:
    issued = issue(http, live_server, ZAHRA)
    pdf = download(http, live_server, issued["id"])

    verdict = http.post("/api/v1/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
    body = verdict.json()
    assert body["status"] == "valid", body["reasons"]
    assert body["diploma"]["serial"] == issued["serial"]
    assert {s["kind"] for s in body["signers"]} == {"pdf", "record"}

    text = pdftotext(pdf)
    assert ZAHRA["name"].replace("\u200c", "") in text.replace("\u200c", "")
    assert issued["serial"] in text
    assert "Signature is Valid" in pdfsig(pdf)

    page = http.post("/verify", files={"file": ("d.pdf", pdf, "application/pdf")})
    assert GENUINE in page.text


def test_unknown_and_malformed_ids_answer_alike(
    http: httpx.Client, live_server: LiveServer
) -> None:
    for diploma_id in ("A" * 23, "short", "x" * 300, "%2E%2E"):
        r = http.get(f"/api/v1/verify/{diploma_id}")
        assert r.status_code == 200
        assert r.json() == {
            "status": "unknown",
            "reasons": ["no diploma with this id was issued here"],
            "diploma": None,
            "revoked_at": None,
            "revocation_reason": "",
            "signers": [],
            "level": "not_valid",
            "record_signatures": [],
            "checks": [
                {
                    "code": "status_unknown",
                    "outcome": "fail",
                    "fa": "در پایگاه دادهٔ صادرکننده چنین دیپلمی نیست",
                    "en": "The issuer's database holds no such diploma",
                    "about": "",
                    "about_en": "",
                    "at": None,
                }
            ],
        }
        assert http.get(f"/v/{diploma_id}").status_code == 404


def test_pyhanko_validator_trusts_an_issued_diploma(
    live_server: LiveServer, http: httpx.Client
) -> None:
    """pyHanko's own validator, with only the institution root as trust anchor."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    from diplomas.bootstrap import open_key_store
    from diplomas.pdfsign.signer import to_asn1

    issued = issue(http, live_server, ZAHRA)
    pdf = download(http, live_server, issued["id"])
    roots = [to_asn1(r) for r in open_key_store(live_server.instance.settings).trust_roots()]
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    status = validate_pdf_signature(
        signature, ValidationContext(trust_roots=roots, allow_fetching=False)
    )
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
