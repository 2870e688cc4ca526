"""Revocation and suspension over HTTP: the admin routes, the verify page and JSON, the
signed status lists (bits, proof, ETag) and the public credential."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from diplomas.core.credential import claims_for, signed_record
from diplomas.core.model import DiplomaRequest, parse_request
from diplomas.core.proof import check_proofs
from diplomas.core.statuslist import StatusEntry, StatusPurpose, bits_of, set_indexes

if TYPE_CHECKING:  # the fixtures come from tests/conftest.py
    from conftest import Instance

GENUINE = "این دیپلم معتبر است"
SUSPENDED = "این دیپلم به حالت تعلیق درآمده است"
REVOKED = "این دیپلم باطل شده است"

PERSON = {
    "name": "زهرا محمدی‌نژاد",
    "name_en": "Zahra Mohammadinejad",
    "citation": "بنیان‌گذار شرکت دانش‌بنیان تجهیزات پزشکی هوشمند",
    "issued_on": "1405/09/05",
    "email": "zahra@example.com",
    "national_id": "0499370899",
    "external_id": "cohort-1405/17",
}


def issue(client: TestClient, instance: Instance, **fields: str) -> dict[str, Any]:
    body = {"name": "علی رضایی", **fields}
    r = client.post("/api/v1/diplomas", json=body, headers=instance.auth("issue"))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def credential(client: TestClient, diploma_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/diplomas/{diploma_id}/credential")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vc+ld+json"
    doc: dict[str, Any] = r.json()
    return doc


def index_of(client: TestClient, diploma_id: str) -> tuple[str, int]:
    """(list number, index) from the diploma's signed credential."""
    entries = credential(client, diploma_id)["credentialStatus"]
    assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
    assert entries[0]["statusListIndex"] == entries[1]["statusListIndex"]
    number = entries[0]["statusListCredential"].rsplit("-", 1)[1]
    return number, int(entries[0]["statusListIndex"])


def list_bits(
    client: TestClient, instance: Instance, name: str
) -> tuple[dict[str, Any], list[int]]:
    r = client.get(f"/status/{name}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vc+ld+json"
    doc = json.loads(r.content)
    checks = check_proofs(doc, instance.service.keyring())
    assert [c.reasons for c in checks] == [()], "the list must verify with the record key"
    assert checks[0].key is not None
    assert checks[0].key.controller == doc["issuer"] == instance.service.institution.did
    purpose, bits = bits_of(doc)
    assert purpose.value == name.split("-")[0]
    assert len(bits) == 16 * 1024
    return doc, set_indexes(bits)


def verdict(client: TestClient, diploma_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/verify/{diploma_id}")
    assert r.status_code == 200
    data: dict[str, Any] = r.json()
    return data


def test_suspend_then_unsuspend(client: TestClient, instance: Instance) -> None:
    d = issue(client, instance)
    number, index = index_of(client, d["id"])
    assert set(verdict(client, d["id"])) == {
        "status",
        "reasons",
        "diploma",
        "revoked_at",
        "revocation_reason",
        "signers",
        "level",
        "record_signatures",
        "checks",
    }

    r = client.post(
        f"/api/v1/diplomas/{d['id']}/suspend",
        json={"reason": "under_review", "note": "در دست بررسی کمیته، نامهٔ ۴۵۶"},
        headers=instance.auth("revoke"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended"
    assert r.json()["suspension_reason"] == "under_review"
    assert r.json()["suspension_note"] == "در دست بررسی کمیته، نامهٔ ۴۵۶"

    page = client.get(f"/v/{d['id']}")
    assert page.status_code == 200
    assert SUSPENDED in page.text and "This diploma is suspended" in page.text
    assert "در دست بررسی" in page.text and "Under review" in page.text
    assert "تاریخ تعلیق" in page.text and "نامهٔ ۴۵۶" not in page.text
    english = client.get(f"/v/{d['id']}?lang=en")
    assert "Suspended on" in english.text and "Reason: Under review" in english.text
    assert "نامهٔ ۴۵۶" not in english.text
    assert GENUINE not in page.text
    v = verdict(client, d["id"])
    assert v["status"] == "suspended" and v["suspension_reason"] == "Under review"
    assert v["suspended_at"] is not None and v["diploma"]["serial"] == d["serial"]

    _, suspended_bits = list_bits(client, instance, f"suspension-{number}")
    _, revoked_bits = list_bits(client, instance, f"revocation-{number}")
    assert (suspended_bits, revoked_bits) == ([index], [])

    r = client.post(f"/api/v1/diplomas/{d['id']}/unsuspend", headers=instance.auth("revoke"))
    assert r.status_code == 200 and r.json()["status"] == "issued"
    page = client.get(f"/v/{d['id']}")
    assert GENUINE in page.text and SUSPENDED not in page.text
    assert verdict(client, d["id"])["status"] == "valid"
    assert list_bits(client, instance, f"suspension-{number}")[1] == []


def test_revoke_is_final(client: TestClient, instance: Instance) -> None:
    d = issue(client, instance)
    number, index = index_of(client, d["id"])
    auth = instance.auth("revoke")
    url = f"/api/v1/diplomas/{d['id']}"
    assert (
        client.post(f"{url}/suspend", json={"reason": "disputed"}, headers=auth).status_code == 200
    )
    r = client.post(f"{url}/revoke", json={"reason": "false_information"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "revoked"

    r = client.post(f"{url}/unsuspend", headers=auth)
    assert r.status_code == 409
    assert "revocation is final" in r.json()["detail"] and d["serial"] in r.json()["detail"]
    r = client.post(f"{url}/suspend", json={"reason": "again"}, headers=auth)
    assert r.status_code == 409 and "revocation is final" in r.json()["detail"]

    page = client.get(f"/v/{d['id']}")
    assert REVOKED in page.text and "صدور بر پایهٔ اطلاعات نادرست" in page.text
    assert SUSPENDED not in page.text
    assert verdict(client, d["id"])["status"] == "revoked"
    assert list_bits(client, instance, f"revocation-{number}")[1] == [index]
    assert list_bits(client, instance, f"suspension-{number}")[1] == []


def test_suspension_needs_the_revoke_scope_and_a_reason(
    client: TestClient, instance: Instance
) -> None:
    d = issue(client, instance)
    url = f"/api/v1/diplomas/{d['id']}"
    body = {"reason": "x"}
    assert client.post(f"{url}/suspend", json=body).status_code == 401
    assert client.post(f"{url}/unsuspend").status_code == 401
    for scope in ("read", "issue"):
        r = client.post(f"{url}/suspend", json=body, headers=instance.auth(scope))
        assert r.status_code == 403
        assert client.post(f"{url}/unsuspend", headers=instance.auth(scope)).status_code == 403
    r = client.post(f"{url}/suspend", json={"reason": "  "}, headers=instance.auth("revoke"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = client.post(f"{url}/unsuspend", headers=instance.auth("revoke"))
    assert r.status_code == 409 and "not suspended" in r.json()["detail"]
    r = client.post(
        f"/api/v1/diplomas/{'Z' * 23}/suspend", json=body, headers=instance.auth("revoke")
    )
    assert r.status_code == 404


def test_list_bits_are_set_exactly_at_revoked_and_suspended_indexes(
    client: TestClient, instance: Instance
) -> None:
    ids = [issue(client, instance, name=f"دارنده {n}")["id"] for n in range(6)]
    slots = {i: index_of(client, i) for i in ids}
    assert len({s for s in slots.values()}) == 6
    auth = instance.auth("revoke")
    for i in ids[:2]:
        client.post(f"/api/v1/diplomas/{i}/revoke", json={"reason": "r"}, headers=auth)
    client.post(f"/api/v1/diplomas/{ids[2]}/suspend", json={"reason": "s"}, headers=auth)
    number = slots[ids[0]][0]
    doc, revoked = list_bits(client, instance, f"revocation-{number}")
    assert revoked == sorted(slots[i][1] for i in ids[:2])
    assert doc["id"] == f"{instance.service.institution.public_url}/status/revocation-{number}"
    assert doc["credentialSubject"]["statusPurpose"] == "revocation"
    assert list_bits(client, instance, f"suspension-{number}")[1] == [slots[ids[2]][1]]
    # The bits agree with the database.
    for i in ids:
        status = instance.service.get(i).status.value
        assert (slots[i][1] in revoked) == (status == "revoked")


def test_etag_and_304(client: TestClient, instance: Instance) -> None:
    d = issue(client, instance)
    number, _ = index_of(client, d["id"])
    first = client.get(f"/status/revocation-{number}")
    etag = first.headers["etag"]
    assert etag.startswith('"') and "max-age" in first.headers["cache-control"]
    again = client.get(f"/status/revocation-{number}")
    assert again.content == first.content, "an unchanged list is served, not signed again"
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        r = client.get(f"/status/revocation-{number}", headers={"If-None-Match": header})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert (
        client.get(f"/status/revocation-{number}", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )
    client.post(
        f"/api/v1/diplomas/{d['id']}/revoke", json={"reason": "r"}, headers=instance.auth("revoke")
    )
    changed = client.get(f"/status/revocation-{number}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # The suspension list did not change; its copy is still the stored one.
    s1 = client.get(f"/status/suspension-{number}")
    s2 = client.get(f"/status/suspension-{number}", headers={"If-None-Match": s1.headers["etag"]})
    assert s2.status_code == 304


def test_unknown_lists_are_404(client: TestClient, instance: Instance) -> None:
    issue(client, instance)
    names = ("revocation-2", "suspension-99", "revocation-01", "refresh-1", "x", "revocation-1x")
    for name in names:
        assert client.get(f"/status/{name}").status_code == 404, name


def test_the_public_credential_holds_only_what_the_page_shows(
    client: TestClient, instance: Instance
) -> None:
    d = issue(client, instance, **PERSON)
    r = client.get(f"/api/v1/diplomas/{d['id']}/credential")  # no token
    assert r.status_code == 200
    assert r.content == instance.service.get(d["id"]).record
    body = r.text
    for private in (PERSON["email"], PERSON["national_id"], PERSON["external_id"], "email"):
        assert private not in body
    assert "national" not in body.lower() and "external" not in body.lower()
    assert "batch" not in body.lower() and "template" not in body.lower()
    assert PERSON["name"] in body and d["serial"] in body
    assert client.get(f"/api/v1/diplomas/{'Z' * 23}/credential").status_code == 404
    assert client.get("/api/v1/diplomas/nope/credential").status_code == 404


def test_an_uploaded_pdf_of_a_suspended_diploma(client: TestClient, instance: Instance) -> None:
    d = issue(client, instance)
    pdf = client.get(f"/api/v1/diplomas/{d['id']}/pdf", headers=instance.auth("read")).content
    client.post(
        f"/api/v1/diplomas/{d['id']}/suspend",
        json={"reason": "under_review"},
        headers=instance.auth("revoke"),
    )
    files = {"file": ("d.pdf", pdf, "application/pdf")}
    v = client.post("/api/v1/verify", files=files).json()
    assert v["status"] == "suspended" and v["suspension_reason"] == "Under review", v
    page = client.post("/verify", files=files)
    assert SUSPENDED in page.text and "در دست بررسی" in page.text
    client.post(f"/api/v1/diplomas/{d['id']}/unsuspend", headers=instance.auth("revoke"))
    assert client.post("/api/v1/verify", files=files).json()["status"] == "valid"


def test_bulk_indexes_are_unique(client: TestClient, instance: Instance) -> None:
    """A chunk issued the way `issue-batch` does: one transaction, each record signed
    with the status entries allocated for it."""
    service = instance.service
    institution = service.institution
    signer = service.record_keys.signer()
    now = datetime.now(UTC)

    def make_record(
        request: DiplomaRequest, diploma_id: str, serial: str, status: tuple[StatusEntry, ...]
    ) -> bytes:
        claims = claims_for(institution, request, diploma_id, serial, status=status)
        return signed_record(claims, [signer], now)

    items = [
        (parse_request({"name": f"دارنده {n}"}, today=now.date()), f"row:{n}") for n in range(300)
    ]
    out = service.repository.issue_many(institution, items, signer.key_id, make_record, now)
    indexes = []
    for diploma, created in out:
        assert created
        doc = json.loads(diploma.record)
        entries = doc["credentialStatus"]
        assert [e["statusPurpose"] for e in entries] == [p.value for p in StatusPurpose]
        index = int(entries[0]["statusListIndex"])
        assert diploma.status_slot == (1, index)
        indexes.append(index)
    assert len(set(indexes)) == 300
    assert sorted(indexes) != indexes and max(indexes) > 300  # random, not issuance order
    assert verdict(client, out[0][0].id)["status"] == "valid"
