"""Corrections over HTTP: the corrections and versions routes, the verdicts and page for
a replaced copy, and an external id sent again with other details."""

from __future__ import annotations

from urllib.parse import urlparse

import httpx
from conftest import LiveServer

ZAHRA = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohamadinejad",
    "field": "فناوری سلامت",
    "issued_on": "1405/09/05",
    "email": "zahra@example.com",
    "national_id": "0499370899",
    "external_id": "student-42",
}
SUPERSEDED_FA = "این نسخه با نسخهٔ اصلاح‌شده جایگزین شده است"
SUPERSEDED_EN = "This copy was replaced by a corrected version"


def upload(http: httpx.Client, pdf: bytes, path: str = "/api/v1/verify") -> httpx.Response:
    return http.post(path, files={"file": ("d.pdf", pdf, "application/pdf")})


def test_correct_over_http_then_check_both_copies(
    http: httpx.Client, live_server: LiveServer
) -> None:
    auth = live_server.instance.auth
    issued = http.post("/api/v1/diplomas", json=ZAHRA, headers=auth("issue")).json()
    d_id = issued["id"]
    old_pdf = http.get(f"/api/v1/diplomas/{d_id}/pdf", headers=auth("read")).content

    # Only a token with `issue` corrects; 422 names the fields; 404 for an unknown id.
    route = f"/api/v1/diplomas/{d_id}/corrections"
    fix = {"name_en": "Zahra Mohammadinejad"}
    assert http.post(route, json=fix, headers=auth("read")).status_code == 403
    assert http.post(route, json=fix).status_code == 401
    bad = http.post(route, json={"name_en": "زهرا", "external_id": "x"}, headers=auth("issue"))
    assert bad.status_code == 422, bad.text
    assert [e["loc"][1] for e in bad.json()["detail"]] == ["external_id", "name_en"]
    same = http.post(route, json={"name_en": ZAHRA["name_en"]}, headers=auth("issue"))
    assert same.status_code == 422 and "nothing to correct" in same.text
    missing = http.post(
        "/api/v1/diplomas/abcdefghijklmnopqrstu/corrections", json=fix, headers=auth("issue")
    )
    assert missing.status_code == 404

    answer = http.post(route, json=fix, headers=auth("issue"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == d_id and body["serial"] == issued["serial"]
    assert body["version"] == 2 and body["fields"] == ["name_en"]
    assert body["verify_url"] == issued["verify_url"]
    assert "email" not in body and ZAHRA["email"] not in answer.text

    versions = http.get(f"/api/v1/diplomas/{d_id}/versions", headers=auth("read"))
    assert versions.status_code == 200
    listed = versions.json()
    assert [v["version"] for v in listed] == [1, 2]
    assert listed[0]["superseded_at"] is not None and listed[1]["superseded_at"] is None
    assert all(len(v["record_sha256"]) == 64 for v in listed)
    assert http.get(f"/api/v1/diplomas/{d_id}/versions", headers=auth("issue")).status_code == 403

    # By id: the current version's claims.
    by_id = http.get(f"/api/v1/verify/{d_id}").json()
    assert by_id["status"] == "valid"
    assert by_id["diploma"]["name_en"] == "Zahra Mohammadinejad"
    assert by_id["diploma"]["version"] == 2
    page = http.get(urlparse(issued["verify_url"]).path)
    assert "Zahra Mohammadinejad" in page.text and "This diploma is genuine" in page.text

    # The new PDF verifies; the old one is superseded with its date, in JSON and on the page.
    new_pdf = http.get(f"/api/v1/diplomas/{d_id}/pdf", headers=auth("read")).content
    assert new_pdf != old_pdf
    assert upload(http, new_pdf).json()["status"] == "valid"
    old = upload(http, old_pdf).json()
    assert old["status"] == "superseded", old
    day = old["superseded_at"][:10]
    assert day == listed[0]["superseded_at"][:10]
    assert any(f"superseded by a corrected version on {day}" in r for r in old["reasons"])
    assert old["diploma"]["name_en"] == ZAHRA["name_en"]  # what the old copy says
    old_page = upload(http, old_pdf, "/verify")
    assert old_page.status_code == 200
    assert SUPERSEDED_FA in old_page.text and SUPERSEDED_EN in old_page.text
    assert "This diploma is genuine" not in old_page.text
    assert old_page.text.index(SUPERSEDED_FA) < old_page.text.index(SUPERSEDED_EN)

    # Revoked since: revoked takes precedence, and the superseded date still shows.
    http.post(f"/api/v1/diplomas/{d_id}/revoke", json={"reason": "خطا"}, headers=auth("revoke"))
    revoked = upload(http, old_pdf).json()
    assert revoked["status"] == "revoked" and revoked["superseded_at"] is not None
    refused = http.post(route, json={"name_en": "Zahra M"}, headers=auth("issue"))
    assert refused.status_code == 409 and "revoked" in refused.text


def test_an_external_id_sent_again_with_other_details_is_409(
    http: httpx.Client, live_server: LiveServer
) -> None:
    inst = live_server.instance
    first = http.post("/api/v1/diplomas", json=ZAHRA, headers=inst.auth("issue"))
    assert first.status_code == 201
    # Identical: the stored diploma, as before.
    again = http.post("/api/v1/diplomas", json=ZAHRA, headers=inst.auth("issue"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    # Without its date (it then defaults to today): still the same request.
    undated = {k: v for k, v in ZAHRA.items() if k != "issued_on"}
    assert http.post("/api/v1/diplomas", json=undated, headers=inst.auth("issue")).is_success

    changed = {**ZAHRA, "name_en": "Zahra Mohammadinejad"}
    answer = http.post("/api/v1/diplomas", json=changed, headers=inst.auth("issue"))
    assert answer.status_code == 409
    detail = answer.json()["detail"]
    assert "already exists with other details (name_en)" in detail
    assert f"/api/v1/diplomas/{first.json()['id']}/corrections" in detail
    assert "diplomas correct" in detail

    other_nid = {**ZAHRA, "national_id": "0013542419"}
    answer = http.post("/api/v1/diplomas", json=other_nid, headers=inst.auth("issue"))
    assert answer.status_code == 409 and "national_id" in answer.json()["detail"]
    assert "0013542419" not in answer.text

    # Another issue-only token learns neither the diploma nor its details.
    _, stranger = inst.service.create_token(["issue"], "another office")
    answer = http.post(
        "/api/v1/diplomas", json=changed, headers={"Authorization": f"Bearer {stranger}"}
    )
    assert answer.status_code == 409
    assert first.json()["id"] not in answer.text and "name_en" not in answer.text
    assert inst.service.search("", 0, 10)[1] == 1
    assert inst.service.get(first.json()["id"]).request.name_en == ZAHRA["name_en"]
