"""Every admin route refuses a missing, wrong or under-scoped token, and says nothing more."""

from __future__ import annotations

import pytest
from conftest import Instance
from fastapi.testclient import TestClient

ZAHRA = {"name": "زهرا محمدی‌نژاد"}


@pytest.fixture
def diploma_id(client: TestClient, instance: Instance) -> str:
    r = client.post("/api/v1/diplomas", json=ZAHRA, headers=instance.auth("issue"))
    assert r.status_code == 201
    value: str = r.json()["id"]
    return value


ROUTES = [
    ("POST", "/api/v1/diplomas", "issue", ZAHRA),
    ("GET", "/api/v1/diplomas", "read", None),
    ("GET", "/api/v1/diplomas/{id}", "read", None),
    ("GET", "/api/v1/diplomas/{id}/pdf", "read", None),
    ("POST", "/api/v1/diplomas/{id}/revoke", "revoke", {"reason": "test"}),
]


def wrong_tokens(instance: Instance) -> dict[str, str | None]:
    real = instance.tokens["all"]
    prefix, token_id, secret = real.split("_", 2)
    return {
        "missing": None,
        "empty": "",
        "garbage": "not-a-token",
        "wrong secret": f"{prefix}_{token_id}_{'x' * len(secret)}",
        "unknown id": f"{prefix}_{'0' * 16}_{secret}",
        "truncated": real[:-1],
    }


@pytest.mark.parametrize(("method", "path", "scope", "body"), ROUTES)
def test_auth_matrix(
    client: TestClient,
    instance: Instance,
    diploma_id: str,
    method: str,
    path: str,
    scope: str,
    body: dict[str, str] | None,
) -> None:
    url = path.format(id=diploma_id)
    bodies = []
    for label, token in wrong_tokens(instance).items():
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        r = client.request(method, url, json=body, headers=headers)
        assert r.status_code == 401, label
        assert r.headers["www-authenticate"] == "Bearer"
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies), "401 answers must not differ"

    for other in {"issue", "revoke", "read"} - {scope}:
        r = client.request(method, url, json=body, headers=instance.auth(other))
        assert r.status_code == 403, other

    r = client.request(method, url, json=body, headers=instance.auth(scope))
    assert r.status_code in (200, 201), r.text


def test_basic_scheme_is_refused(client: TestClient, instance: Instance) -> None:
    r = client.get(
        "/api/v1/diplomas", headers={"Authorization": f"Basic {instance.tokens['read']}"}
    )
    assert r.status_code == 401


def test_tokens_are_stored_only_as_hashes(instance: Instance) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(instance.settings.effective_database_url)
    with engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(sa.text("SELECT * FROM api_tokens")))
    engine.dispose()
    for token in instance.tokens.values():
        assert token.split("_", 2)[2] not in dump
