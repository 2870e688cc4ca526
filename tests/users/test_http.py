"""Through the HTTP stack: a user's token that is revoked, expired or whose owner is
disabled gets the same 401 as a wrong one and changes nothing; a live one is recorded in
the audit log as its user and its name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from conftest import Instance
from fastapi.testclient import TestClient

from diplomas.core.audit import AuditAction

PASSWORD = "a long enough password"  # test data
ZAHRA = {"name": "زهرا محمدی‌نژاد", "external_id": "roster-1"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Later:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def revoked(instance: Instance, token_id: str) -> None:
    instance.service.revoke_token(token_id)


def disabled(instance: Instance, token_id: str) -> None:
    instance.service.disable_user("reza@tbzmed.ac.ir")


def expired(instance: Instance, token_id: str) -> None:
    [record] = [t for t in instance.service.list_tokens() if t.token_id == token_id]
    assert record.expires_at is not None
    instance.service.clock = Later(record.expires_at)


@pytest.mark.parametrize("make_dead", [revoked, disabled, expired])
def test_a_dead_token_gets_the_wrong_tokens_401_and_changes_nothing(
    client: TestClient, instance: Instance, make_dead: Callable[[Instance, str], None]
) -> None:
    service = instance.service
    service.add_user("reza@tbzmed.ac.ir", "tbzmed", "admin", PASSWORD)
    record, token = service.create_token(
        ["issue", "revoke", "read"],
        "laptop",
        user="reza@tbzmed.ac.ir",
        expires_in=timedelta(days=1),
    )
    issued = client.post("/api/v1/diplomas", json=ZAHRA, headers=bearer(token))
    assert issued.status_code == 201
    diploma_id = issued.json()["id"]
    make_dead(instance, record.token_id)
    audit = service.audit
    assert audit is not None
    before = audit.last_seq()
    wrong = client.get("/api/v1/diplomas", headers=bearer(token[:-2] + "xx"))
    assert wrong.status_code == 401
    attempts = [
        client.post(
            "/api/v1/diplomas", json={"name": "مریم", "external_id": "r2"}, headers=bearer(token)
        ),
        client.post(
            f"/api/v1/diplomas/{diploma_id}/revoke", json={"reason": "x"}, headers=bearer(token)
        ),
        client.get("/api/v1/diplomas", headers=bearer(token)),
    ]
    for answer in attempts:
        assert answer.status_code == 401
        assert answer.json() == wrong.json()
        assert answer.headers["www-authenticate"] == "Bearer"
    assert audit.last_seq() == before
    assert service.get(diploma_id).status.value == "issued"
    assert service.search("", 0, 10)[1] == 1


def test_a_users_token_is_recorded_as_the_user_and_the_tokens_name(
    client: TestClient, instance: Instance
) -> None:
    service = instance.service
    service.add_user("Reza@TBZMED.ac.ir", "tbzmed", "issuer", PASSWORD)
    service.add_user("sara@tbzmed.ac.ir", "tbzmed", "issuer", PASSWORD)
    record, token = service.create_token(["issue", "read"], "laptop", user="reza@tbzmed.ac.ir")
    _, other = service.create_token(["issue"], "phone", user="sara@tbzmed.ac.ir")
    issued = client.post("/api/v1/diplomas", json=ZAHRA, headers=bearer(token))
    assert issued.status_code == 201
    audit = service.audit
    assert audit is not None
    [entry] = audit.entries(1, action=AuditAction.DIPLOMA_ISSUED)
    assert entry.actor == "user:reza@tbzmed.ac.ir (token laptop)"
    [used] = audit.entries(1, action=AuditAction.TOKEN_USED)
    assert used.actor == entry.actor and used.subject == record.token_id
    # The same token re-sending the roster row gets its diploma; another user's gets 409.
    again = client.post("/api/v1/diplomas", json=ZAHRA, headers=bearer(token))
    assert again.status_code == 200 and again.json()["id"] == issued.json()["id"]
    assert client.post("/api/v1/diplomas", json=ZAHRA, headers=bearer(other)).status_code == 409


def test_a_token_from_before_users_is_still_recorded_by_its_id(
    client: TestClient, instance: Instance
) -> None:
    issued = client.post("/api/v1/diplomas", json=ZAHRA, headers=instance.auth("issue"))
    assert issued.status_code == 201
    audit = instance.service.audit
    assert audit is not None
    [entry] = audit.entries(1, action=AuditAction.DIPLOMA_ISSUED)
    assert entry.actor.startswith("token:")
