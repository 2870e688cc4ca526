"""Admin API behaviour: validation answers, idempotency, listing, revocation rules, keys."""

from __future__ import annotations

from conftest import Instance
from fastapi.testclient import TestClient


def test_invalid_request_names_field_and_reason(client: TestClient, instance: Instance) -> None:
    r = client.post(
        "/api/v1/diplomas",
        headers=instance.auth("issue"),
        json={"name": "Ali", "issued_on": "1405/13/40", "email": "x"},
    )
    assert r.status_code == 422
    problems = {d["loc"][-1]: d["msg"] for d in r.json()["detail"]}
    assert set(problems) == {"name", "issued_on", "email"}
    assert "Persian" in problems["name"]

    r = client.post("/api/v1/diplomas", headers=instance.auth("issue"), json={"name_en": "Ali"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]

    r = client.post(
        "/api/v1/diplomas", headers=instance.auth("issue"), json={"name": "علی", "colour": "red"}
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "colour"

    r = client.post(
        "/api/v1/diplomas", headers=instance.auth("issue"), json={"name": "علی", "template": "nope"}
    )
    assert r.status_code == 404 and "nope" in r.json()["detail"]

    listing = client.get("/api/v1/diplomas", headers=instance.auth("read")).json()
    assert listing["total"] == 0, "refused requests must store nothing"


def test_external_id_makes_issuing_idempotent(client: TestClient, instance: Instance) -> None:
    body = {"name": "علی رضایی", "external_id": "cohort-1405/17"}
    first = client.post("/api/v1/diplomas", json=body, headers=instance.auth("issue"))
    again = client.post("/api/v1/diplomas", json=body, headers=instance.auth("issue"))
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and again.json()["created"] is False


def test_list_search_and_get(client: TestClient, instance: Instance) -> None:
    names = ["علی رضایی", "مریم احمدی", "رضا کریمی"]
    ids = [
        client.post("/api/v1/diplomas", json={"name": n}, headers=instance.auth("issue")).json()
        for n in names
    ]
    assert [i["serial"][-6:] for i in ids] == ["000001", "000002", "000003"]
    read = instance.auth("read")
    page = client.get("/api/v1/diplomas", params={"limit": 2}, headers=read).json()
    assert page["total"] == 3 and len(page["items"]) == 2
    found = client.get("/api/v1/diplomas", params={"q": "رضا"}, headers=read).json()
    assert {i["name"] for i in found["items"]} == {"علی رضایی", "رضا کریمی"}
    by_serial = client.get("/api/v1/diplomas", params={"q": ids[1]["serial"]}, headers=read)
    assert [i["name"] for i in by_serial.json()["items"]] == ["مریم احمدی"]
    one = client.get(f"/api/v1/diplomas/{ids[0]['id']}", headers=read).json()
    assert one["issued_on_solar_hijri"].startswith("14")
    assert client.get("/api/v1/diplomas/" + "B" * 23, headers=read).status_code == 404


def test_revoke_rules(client: TestClient, instance: Instance) -> None:
    d = client.post("/api/v1/diplomas", json={"name": "علی"}, headers=instance.auth("issue")).json()
    url = f"/api/v1/diplomas/{d['id']}/revoke"
    revoke = instance.auth("revoke")
    assert client.post(url, json={"reason": "  "}, headers=revoke).status_code == 422
    assert client.post(url, json={"reason": "duplicate"}, headers=revoke).status_code == 200
    again = client.post(url, json={"reason": "again"}, headers=revoke)
    assert again.status_code == 409
    assert (
        client.post(
            "/api/v1/diplomas/" + "C" * 23 + "/revoke", json={"reason": "x"}, headers=revoke
        ).status_code
        == 404
    )


def test_jwks_lists_record_keys(client: TestClient, instance: Instance) -> None:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519" and "validFrom" in keys[0]
    assert "d" not in keys[0]


def test_pages_carry_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp
    assert "<script" not in r.text and "style=" not in r.text
