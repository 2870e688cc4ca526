"""The mail state and resends through the HTTP API: for tokens that may read and issue,
and never for a co-issuer's people on the issuer's diplomas."""

from __future__ import annotations

from pathlib import Path

from conftest import SAMT, Instance, make_instance
from fastapi.testclient import TestClient

from diplomas.api import create_app
from diplomas.core.audit import AuditAction

from .servers import Recorder, smtp_server
from .support import ZAHRA, sender_for

PASSWORD = "a long enough password"  # test data


def test_the_mail_state_shows_and_a_resend_is_queued(
    client: TestClient, instance: Instance
) -> None:
    issued = client.post("/api/v1/diplomas", json=ZAHRA, headers=instance.auth("issue"))
    assert issued.status_code == 201, issued.text
    diploma_id = issued.json()["id"]
    got = client.get(f"/api/v1/diplomas/{diploma_id}", headers=instance.auth("read")).json()
    assert got["mail"] == {"state": "queued", "attempts": 0, "last_error": "", "sent_at": None}

    with smtp_server(Recorder(refuse=True)) as port:
        sender_for(instance, f"smtp://127.0.0.1:{port}").drain()
    listed = client.get("/api/v1/diplomas", headers=instance.auth("read")).json()
    [item] = [d for d in listed["items"] if d["id"] == diploma_id]
    assert item["mail"]["state"] == "failed" and "550" in item["mail"]["last_error"]

    assert client.post(f"/api/v1/diplomas/{diploma_id}/mail").status_code == 401
    refused = client.post(f"/api/v1/diplomas/{diploma_id}/mail", headers=instance.auth("read"))
    assert refused.status_code == 403
    again = client.post(f"/api/v1/diplomas/{diploma_id}/mail", headers=instance.auth("issue"))
    assert again.status_code == 202, again.text
    assert again.json()["state"] == "queued"
    [entry] = instance.service.audit_trail(action=AuditAction.MAIL_RESENT)
    assert entry.subject == diploma_id and entry.actor.startswith("token:")

    missing = client.post("/api/v1/diplomas/nothing-here/mail", headers=instance.auth("issue"))
    assert missing.status_code == 404
    no_email = client.post(
        "/api/v1/diplomas",
        json={**ZAHRA, "email": None, "name_en": "Other Person"},
        headers=instance.auth("issue"),
    ).json()
    shown = client.get(f"/api/v1/diplomas/{no_email['id']}", headers=instance.auth("read"))
    assert shown.json()["mail"] is None
    answer = client.post(f"/api/v1/diplomas/{no_email['id']}/mail", headers=instance.auth("issue"))
    assert answer.status_code == 422 and "no email" in answer.text


def test_a_batch_resend_needs_the_issue_scope(client: TestClient, instance: Instance) -> None:
    missing = client.post("/api/v1/batches/nope/mail", headers=instance.auth("issue"))
    assert missing.status_code == 404
    assert (
        client.post("/api/v1/batches/nope/mail", headers=instance.auth("read")).status_code == 403
    )


def test_a_co_issuers_people_cannot_resend_the_issuers_diplomas(tmp_path: Path) -> None:
    inst = make_instance(tmp_path, co_issuers=[SAMT])
    service = inst.service
    diploma = service.issue({**ZAHRA, "co_issuers": ["samt"]}).diploma
    service.add_user("ali@samt.ir", "samt", "issuer", PASSWORD)
    _, token = service.create_token(["issue", "read"], "laptop", user="ali@samt.ir")
    with TestClient(create_app(service, inst.settings)) as client:
        seen = client.get(
            f"/api/v1/diplomas/{diploma.id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert seen.status_code == 200 and seen.json()["mail"]["state"] == "queued"
        refused = client.post(
            f"/api/v1/diplomas/{diploma.id}/mail", headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 403, refused.text
    assert not service.audit_trail(action=AuditAction.MAIL_RESENT)


def test_issuing_does_not_wait_for_a_mail_server_that_is_down(tmp_path: Path) -> None:
    import time

    from conftest import free_port
    from pydantic import SecretStr

    inst = make_instance(tmp_path)
    inst.settings.smtp_url = SecretStr(f"smtp://127.0.0.1:{free_port()}")  # nobody listens
    inst.settings.smtp_timeout_seconds = 30
    with TestClient(create_app(inst.service, inst.settings)) as client:
        started = time.monotonic()
        issued = client.post("/api/v1/diplomas", json=ZAHRA, headers=inst.auth("issue"))
        took = time.monotonic() - started
        assert issued.status_code == 201, issued.text
        assert took < 10
        diploma_id = issued.json()["id"]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            state = inst.service.mail_state(diploma_id)
            assert state is not None
            if state.attempts:
                break
            time.sleep(0.2)
    assert state.state.value == "queued" and "cannot reach" in state.last_error
