"""The audit log as admins and API clients meet it: who is named for each change,
token use per route, `diplomas audit list` and `diplomas audit verify`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from clitools import run
from conftest import Instance
from fastapi.testclient import TestClient

from diplomas.cli.audit import current_actor


def audit_json(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    value = json.loads(run(env, "audit", "list", "--json", *args))
    assert isinstance(value, list)
    return value


def test_commands_are_recorded_as_the_user_and_verify_names_the_broken_entry(
    env: dict[str, str], tmp_path: Path
) -> None:
    me = current_actor()
    assert me.startswith("cli:")
    run(env, "init")
    token = run(env, "token", "create", "--scope", "read", "--name", "x").splitlines()[-1]
    token_id = token.split("_")[1]
    issued = json.loads(
        run(env, "issue", "--name", "زهرا", "--out", str(tmp_path / "z.pdf"), "--json")
    )
    run(env, "suspend", issued["id"], "--reason", "بررسی")
    run(env, "unsuspend", issued["id"])
    run(env, "revoke", issued["id"], "--reason", "صدور اشتباه")
    run(env, "keys", "rotate")

    entries = audit_json(env, "--limit", "100")
    assert [(e["action"], e["actor"]) for e in reversed(entries)] == [
        ("key.init", me),
        ("token.created", me),
        ("diploma.issued", me),
        ("diploma.suspended", me),
        ("diploma.unsuspended", me),
        ("diploma.revoked", me),
        ("key.rotated", me),
    ]
    assert entries[-2]["subject"] == token_id
    assert entries[-3]["details"] == {
        "diploma": issued["id"],
        "serial": issued["serial"],
        "key_id": entries[-3]["details"]["key_id"],  # type: ignore[index]
    }
    assert len(audit_json(env, "--limit", "2")) == 2
    assert "diploma.revoked" in run(env, "audit", "list")
    assert "INTACT: 7 entries" in run(env, "audit", "verify")

    database = sqlite3.connect(tmp_path / "var" / "diplomas.db")
    with database:
        database.execute("UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 4")
    database.close()
    output = run(env, "audit", "verify", code=1)
    assert "BROKEN at entry 4" in output and "entry 4 was edited" in output
    report = json.loads(run(env, "audit", "verify", "--json", code=1))
    assert report["intact"] is False and report["broken_at"] == 4 and report["checked"] == 3


def test_institutions_and_key_events_are_recorded(env: dict[str, str]) -> None:
    run(env, "init")
    run(env, "institutions", "add", "--slug", "samt", "--name", "صمت", "--name-en", "SAMT")
    key_id = audit_json(env)[0]["subject"]
    run(env, "keys", "retire", str(key_id), "--institution", "samt", "--rotate")
    since = "2020-01-01T00:00:00Z"
    run(env, "keys", "compromised", str(key_id), "--since", since, "--institution", "samt")
    actions = [(e["action"], e["subject"]) for e in reversed(audit_json(env))]
    assert actions[1:] == [
        ("institution.added", "samt"),
        ("key.init", key_id),
        ("key.retired", key_id),
        ("key.compromised", key_id),
    ]
    assert "INTACT" in run(env, "audit", "verify")


def test_api_calls_name_their_token_scope_and_route(client: TestClient, instance: Instance) -> None:
    issue_id = instance.tokens["issue"].split("_")[1]
    revoke_id = instance.tokens["revoke"].split("_")[1]
    log = instance.service.audit
    assert log is not None
    before = log.entries(1)[0].seq

    r = client.post("/api/v1/diplomas", json={"name": "زهرا"}, headers=instance.auth("issue"))
    assert r.status_code == 201
    diploma_id = r.json()["id"]
    assert client.post(
        f"/api/v1/diplomas/{diploma_id}/revoke",
        json={"reason": "اشتباه"},
        headers=instance.auth("revoke"),
    ).is_success
    bad = {"Authorization": "Bearer dpl_0000000000000000_nope"}
    assert client.get("/api/v1/diplomas", headers=bad).status_code == 401
    assert client.get("/api/v1/diplomas", headers=instance.auth("issue")).status_code == 403

    new = [e for e in reversed(log.entries(20)) if e.seq > before]
    assert [(e.action, e.actor, e.subject) for e in new] == [
        ("token.used", f"token:{issue_id}", issue_id),
        ("diploma.issued", f"token:{issue_id}", diploma_id),
        ("token.used", f"token:{revoke_id}", revoke_id),
        ("diploma.revoked", f"token:{revoke_id}", diploma_id),
    ]
    assert new[0].details == {"token": issue_id, "scope": "issue", "route": "POST /api/v1/diplomas"}
    assert new[2].details["route"] == "POST /api/v1/diplomas/{diploma_id}/revoke"
    assert log.verify().intact
    # The service outside a request keeps its own default actor.
    assert instance.service.create_token(["read"])[0].token_id == log.entries(1)[0].subject
    assert log.entries(1)[0].actor == "system"
