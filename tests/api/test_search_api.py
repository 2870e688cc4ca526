"""GET /api/v1/diplomas: the search's query parameters over HTTP, and their OpenAPI."""

from __future__ import annotations

from conftest import Instance
from fastapi.testclient import TestClient

PEOPLE = [
    {
        "name": "زهرا محمدی\u200cنژاد",
        "name_en": "Zahra Mohammadinejad",
        "national_id": "0499370899",
    },
    {"name": "علي كريمي", "name_en": "Ali Karimi", "email": "ali@example.ir"},
    {"name": "مریم احمدی", "issued_on": "1404/10/20", "external_id": "crm-3"},
]


def issue_all(client: TestClient, instance: Instance) -> list[dict[str, str]]:
    return [
        client.post("/api/v1/diplomas", json=p, headers=instance.auth("issue")).json()
        for p in PEOPLE
    ]


def names(client: TestClient, instance: Instance, **params: object) -> list[str]:
    r = client.get("/api/v1/diplomas", params=params, headers=instance.auth("read"))
    assert r.status_code == 200, r.text
    return [i["name"] for i in r.json()["items"]]


def test_text_filters_sort_and_paging(client: TestClient, instance: Instance) -> None:
    issued = issue_all(client, instance)
    assert names(client, instance, q="محمدی نژاد") == ["زهرا محمدی\u200cنژاد"]
    assert names(client, instance, q="محمدینژاد") == ["زهرا محمدی\u200cنژاد"]
    assert names(client, instance, q="كريمی") == ["علی کریمی"]  # normalised when issued
    assert names(client, instance, q="۰۴۹۹۳۷۰۸۹۹") == ["زهرا محمدی\u200cنژاد"]  # national id
    persian = issued[1]["serial"].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert names(client, instance, q=persian) == ["علی کریمی"]
    assert names(client, instance, q="ALI@example.ir") == ["علی کریمی"]

    read = instance.auth("read")
    client.post(
        f"/api/v1/diplomas/{issued[0]['id']}/revoke",
        json={"reason": "duplicate"},
        headers=instance.auth("revoke"),
    )
    assert names(client, instance, status="revoked") == ["زهرا محمدی\u200cنژاد"]
    assert names(client, instance, issued_to="1404/12/29") == ["مریم احمدی"]
    assert names(client, instance, issued_from="2026-03-21", sort="oldest") == [
        "زهرا محمدی\u200cنژاد",
        "علی کریمی",
    ]
    assert names(client, instance, template="classic", sort="serial")[0] == "مریم احمدی"
    assert names(client, instance, co_issuer="sut") == []
    assert names(client, instance, batch_id="b" * 23) == []

    page = client.get("/api/v1/diplomas", params={"limit": 1, "offset": 1}, headers=read).json()
    assert (page["total"], page["total_is_exact"], len(page["items"])) == (3, True, 1)
    assert page["items"][0]["batch_id"] is None


def test_bad_parameters_are_named(client: TestClient, instance: Instance) -> None:
    read = instance.auth("read")

    def problems(**params: object) -> set[str]:
        r = client.get("/api/v1/diplomas", params=params, headers=read)
        assert r.status_code == 422, r.text
        return {str(d["loc"][-1]) for d in r.json()["detail"]}

    assert problems(status="lost") == {"status"}
    assert problems(sort="random") == {"sort"}
    assert problems(limit=501) == {"limit"}
    assert problems(issued_from="1405/13/01", template="../x") == {"issued_from", "template"}
    assert problems(issued_from="2026-02-01", issued_to="2026-01-01") == {"issued_from"}


def test_listing_needs_the_read_scope(client: TestClient, instance: Instance) -> None:
    r = client.get("/api/v1/diplomas", params={"q": "x"}, headers=instance.auth("issue"))
    assert r.status_code == 403


def test_the_parameters_are_documented(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/diplomas"]["get"]
    documented = {p["name"]: p for p in operation["parameters"]}
    assert {
        "q",
        "status",
        "issued_from",
        "issued_to",
        "batch_id",
        "template",
        "co_issuer",
        "sort",
        "offset",
        "limit",
    } <= set(documented)
    assert all(documented[n].get("description") for n in ("q", "issued_from", "sort"))
