"""The key lifecycle as an admin lives it: CLI key commands against a running server.

Diplomas are issued over HTTP, keys are rotated, retired and marked compromised with
`diplomas keys ...`, and every verifier is asked again: the JSON verdict, the QR landing
page, `diplomas verify` (online and with an exported trust bundle), did.json and JWKS.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import httpx
from conftest import PASSPHRASE, LiveServer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from diplomas.cli.main import app
from diplomas.core.proof import iso_utc, parse_iso_utc
from diplomas.core.words import CHECKS, Outcome

runner = CliRunner()
GENUINE = "This diploma is genuine"


def cli_env(server: LiveServer) -> dict[str, str]:
    s = server.instance.settings
    return {
        "DIPLOMAS_HOME": str(s.home),
        "DIPLOMAS_KEYS_DIR": str(s.keys_dir),
        "DIPLOMAS_KEY_PASSPHRASE": PASSPHRASE,
        "DIPLOMAS_DATABASE_URL": s.database_url,
        "COLUMNS": "200",
    }


def cli(server: LiveServer, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), env=cli_env(server))
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())


def issue(http: httpx.Client, server: LiveServer, name: str) -> dict[str, Any]:
    body = {"name": name, "name_en": "Test Holder", "issued_on": "1405/09/05"}
    r = http.post("/api/v1/diplomas", json=body, headers=server.instance.auth("issue"))
    assert r.status_code == 201, r.text
    issued: dict[str, Any] = r.json()
    pdf = http.get(
        f"/api/v1/diplomas/{issued['id']}/pdf", headers=server.instance.auth("read")
    ).content
    record = server.instance.service.pdf_validator.inspect(pdf).record
    assert record is not None
    issued["pdf"] = pdf
    issued["proof"] = json.loads(record)["proof"]
    return issued


def verdict(http: httpx.Client, issued: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = http.get(f"/api/v1/verify/{issued['id']}").json()
    return body


def page(http: httpx.Client, issued: dict[str, Any]) -> str:
    return unescape(http.get(f"/v/{issued['id']}").text)


def save(tmp_path: Path, issued: dict[str, Any]) -> Path:
    path = tmp_path / f"{issued['serial']}.pdf"
    path.write_bytes(issued["pdf"])
    return path


def active_key(server: LiveServer) -> str:
    return server.instance.service.record_keys.signer().key_id


def test_rotation_new_key_signs_old_diplomas_stay_valid(
    http: httpx.Client, live_server: LiveServer, tmp_path: Path
) -> None:
    did = live_server.instance.service.institution.did
    first_key = active_key(live_server)
    before = issue(http, live_server, "زهرا محمدی")
    assert before["proof"]["verificationMethod"] == f"{did}#{first_key}"

    out = cli(live_server, "keys", "rotate")
    new_key = active_key(live_server)
    assert new_key != first_key
    assert f"new key {new_key}" in out and f"retired {first_key}" in out

    after = issue(http, live_server, "علی رضایی")
    assert after["proof"]["verificationMethod"] == f"{did}#{new_key}"
    assert (
        http.get(
            f"/api/v1/diplomas/{after['id']}", headers=live_server.instance.auth("read")
        ).json()["key_id"]
        == new_key
    )

    for issued in (before, after):
        v = verdict(http, issued)
        assert v["status"] == "valid" and v["reasons"] == [], v
        assert GENUINE in page(http, issued)
        pdf = save(tmp_path, issued)
        assert "VALID" in cli(live_server, "verify", str(pdf))

    # Genuine, with a warning, for the diploma signed with the key since retired; plain
    # genuine for the new one.
    assert [verdict(http, issued)["level"] for issued in (before, after)] == ["warning", "genuine"]
    retired_words = CHECKS["key_retired", Outcome.WARN]
    assert retired_words.fa in unescape(page(http, before))
    assert retired_words.fa not in unescape(page(http, after))
    signature = verdict(http, before)["record_signatures"][0]
    assert signature["key_id"] == first_key and signature["key_state"] == "retired"
    assert signature["valid_at_signing"] is True

    listing = cli(live_server, "keys", "list")
    assert re.search(rf"{first_key}\W+retired", listing)
    assert re.search(rf"{new_key}\W+active \(signs\)", listing)

    # did.json resolves every verificationMethod found in the issued credentials
    doc = http.get("/.well-known/did.json").json()
    assert doc["id"] == did
    methods = {m["id"]: m for m in doc["verificationMethod"]}
    ring = live_server.instance.service.keyring()
    for issued in (before, after):
        vm = issued["proof"]["verificationMethod"]
        assert vm in methods and vm in doc["assertionMethod"]
        key = ring.resolve(vm)
        assert key is not None
        assert methods[vm]["publicKeyMultibase"] == key.public_key_multibase
        assert methods[vm]["type"] == "Multikey" and methods[vm]["controller"] == did
    retired = ring.resolve(f"{did}#{first_key}")
    assert retired is not None and retired.valid_until is not None
    assert methods[f"{did}#{first_key}"]["expires"] == iso_utc(retired.valid_until)
    assert "expires" not in methods[f"{did}#{new_key}"]

    # JWKS and did.json list the same keys
    jwks = http.get("/.well-known/jwks.json").json()["keys"]
    assert sorted(f"{did}#{k['kid']}" for k in jwks) == sorted(methods)

    # the trust bundle exported after the rotation verifies both diplomas offline
    bundle = tmp_path / "trust.json"
    cli(live_server, "keys", "export", "--out", str(bundle))
    offline = {"DIPLOMAS_HOME": str(tmp_path / "nowhere"), "DIPLOMAS_KEYS_DIR": str(tmp_path)}
    for issued in (before, after):
        pdf = save(tmp_path, issued)
        result = runner.invoke(
            app, ["verify", str(pdf), "--trust", str(bundle), "--json"], env=offline
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] == "valid"


def _next_second() -> datetime:
    """Wait until the clock has entered a new second, and return that second."""
    start = datetime.now(UTC).replace(microsecond=0)
    while (now := datetime.now(UTC)).replace(microsecond=0) == start:
        time.sleep(0.05)
    return now.replace(microsecond=0)


def test_compromise_fails_later_diplomas_and_keeps_earlier_ones(
    http: httpx.Client, live_server: LiveServer, tmp_path: Path
) -> None:
    key_id = active_key(live_server)
    earlier = issue(http, live_server, "زهرا محمدی")
    since = _next_second()
    later = issue(http, live_server, "علی رضایی")
    assert parse_iso_utc(earlier["proof"]["created"]) < since
    assert parse_iso_utc(later["proof"]["created"]) >= since

    out = cli(live_server, "keys", "compromised", key_id, "--since", iso_utc(since))
    assert f"key {key_id} is compromised since {iso_utc(since)}" in out
    assert "keys rotate" in out  # no active key is left: the admin is told what to do

    assert verdict(http, earlier)["status"] == "valid"
    assert GENUINE in page(http, earlier)
    assert "VALID" in cli(live_server, "verify", str(save(tmp_path, earlier)))

    v = verdict(http, later)
    assert v["status"] == "invalid"
    reason = next(r for r in v["reasons"] if "compromised" in r)
    assert key_id in reason and since.strftime("%Y-%m-%d %H:%M:%S UTC") in reason
    shown = page(http, later)
    assert GENUINE not in shown and reason in shown
    printed = cli(live_server, "verify", str(save(tmp_path, later)), code=1)
    assert "INVALID" in printed and "marked that key compromised" in printed

    doc = http.get("/.well-known/did.json").json()
    method = next(m for m in doc["verificationMethod"] if m["id"].endswith(f"#{key_id}"))
    assert method["revoked"] == iso_utc(since) and method["diplomas:keyStatus"] == "compromised"

    # issuing resumes after a rotation, with the new key
    cli(live_server, "keys", "rotate")
    resumed = issue(http, live_server, "مریم احمدی")
    assert not resumed["proof"]["verificationMethod"].endswith(f"#{key_id}")
    assert verdict(http, resumed)["status"] == "valid"
    assert verdict(http, earlier)["status"] == "valid"
    assert verdict(http, later)["status"] == "invalid"


def test_retire_the_signing_key(http: httpx.Client, live_server: LiveServer) -> None:
    key_id = active_key(live_server)
    old = issue(http, live_server, "زهرا محمدی")

    refused = cli(live_server, "keys", "retire", key_id, code=2)
    assert "only active key" in refused and "--rotate" in refused
    assert active_key(live_server) == key_id  # nothing changed

    out = cli(live_server, "keys", "retire", key_id, "--rotate")
    new_key = active_key(live_server)
    assert new_key != key_id and f"retired {key_id}" in out and f"new key {new_key}" in out
    again = cli(live_server, "keys", "retire", key_id, code=2)
    assert "already retired" in again

    new = issue(http, live_server, "علی رضایی")
    assert new["proof"]["verificationMethod"].endswith(f"#{new_key}")
    assert verdict(http, old)["status"] == "valid"
    assert verdict(http, new)["status"] == "valid"
    kids = [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [key_id, new_key]


def test_did_document_is_served_where_did_web_looks(client: TestClient) -> None:
    """At /.well-known/did.json for a bare host; at /did.json too, where a public URL with
    a path (did:web:host:path) sends resolvers through the proxy."""
    doc = client.get("/.well-known/did.json")
    assert doc.status_code == 200 and doc.headers["content-type"] == "application/json"
    assert client.get("/did.json").json() == doc.json()
    body = doc.json()
    assert body["id"].startswith("did:web:") and len(body["verificationMethod"]) == 1
    [method] = body["verificationMethod"]
    assert body["assertionMethod"] == [method["id"]]
    assert method["diplomas:keyStatus"] == "active" and "expires" not in method
