"""The two-person rule over HTTP, on a real server: issuing answers 202 with the proposal,
approving is for another person's token with the `approve` scope, and the approval that
completes it issues a diploma that verifies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from batch.rosters import cohort
from conftest import SAMT, LiveServer, free_port, make_instance, serving

from .conftest import ADMIN, APPROVER, PROPOSER, SAMT_APPROVER, ZAHRA, Office, staff, with_rule


@pytest.fixture
def office_server(tmp_path: Path, backend: str) -> Iterator[tuple[Office, LiveServer]]:
    port = free_port()
    instance = make_instance(tmp_path, backend, f"http://127.0.0.1:{port}", co_issuers=[SAMT])
    instance.service = service = with_rule(instance, "tbzmed", "samt")
    office = Office(instance, service, staff(service))
    with serving(instance, port) as server:
        yield office, server


@pytest.fixture
def http(office_server: tuple[Office, LiveServer]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=office_server[1].base_url, timeout=60) as c:
        yield c


def propose(http: httpx.Client, office: Office, email: str, **extra: Any) -> dict[str, Any]:
    r = http.post("/api/v1/diplomas", json={**ZAHRA, **extra}, headers=office.auth(email))
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def test_issuing_answers_the_proposal_and_another_approver_issues_it(
    office_server: tuple[Office, LiveServer], http: httpx.Client
) -> None:
    office, server = office_server
    proposal = propose(http, office, PROPOSER, national_id="0013542419")
    assert proposal["state"] == "pending" and proposal["kind"] == "diploma"
    assert proposal["required_approvals"] == ["tbzmed"] == proposal["missing_approvals"]
    assert proposal["diploma"]["name"] == ZAHRA["name"]
    assert proposal["diploma"]["issued_on"] == "2026-11-26"
    assert "national_id" not in proposal["diploma"] and "0013542419" not in str(proposal)
    assert proposal["proposer"] == f"user:{PROPOSER} (token laptop)"
    url = f"{server.base_url}/api/v1/proposals/{proposal['id']}"
    assert proposal["links"] == {
        "self": url,
        "approve": f"{url}/approve",
        "reject": f"{url}/reject",
    }
    listed = http.get("/api/v1/proposals?state=pending", headers=office.auth(PROPOSER)).json()
    assert [p["id"] for p in listed] == [proposal["id"]]
    assert http.get("/api/v1/diplomas", headers=office.auth(ADMIN)).json()["total"] == 0

    r = http.post(f"{url}/approve", json={"comment": "checked"}, headers=office.auth(APPROVER))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "issued" and done["diploma_id"]
    assert done["approvals"][0]["approver"] == APPROVER
    verdict = http.get(f"/api/v1/verify/{done['diploma_id']}").json()
    assert verdict["status"] == "valid", verdict
    assert done["links"]["verify"] == f"{server.base_url}/api/v1/verify/{done['diploma_id']}"


def test_the_proposers_tokens_and_tokens_without_approve_get_403_and_change_nothing(
    office_server: tuple[Office, LiveServer], http: httpx.Client
) -> None:
    office, _ = office_server
    proposal = propose(http, office, ADMIN)  # an admin may approve, but not their own
    url = f"/api/v1/proposals/{proposal['id']}"
    _, phone = office.service.create_token(["read", "approve"], "phone", user=ADMIN)
    for headers, code in (
        (office.auth(ADMIN), 403),
        ({"Authorization": f"Bearer {phone}"}, 403),
        (office.auth(PROPOSER), 403),  # an issuer: no approve scope
        (office.instance.auth("all"), 403),  # a token of nobody, without approve
        # samt's approver: only tbzmed must approve, so to samt it does not exist
        (office.auth(SAMT_APPROVER), 404),
    ):
        for action, body in (("approve", {}), ("reject", {"comment": "no"})):
            r = http.post(f"{url}/{action}", json=body, headers=headers)
            assert r.status_code == code, (headers, r.text)
    after = http.get(url, headers=office.auth(ADMIN)).json()
    assert after["state"] == "pending" and after["approvals"] == []
    assert http.get("/api/v1/diplomas", headers=office.auth(ADMIN)).json()["total"] == 0


def test_a_rejection_needs_a_comment(
    office_server: tuple[Office, LiveServer], http: httpx.Client
) -> None:
    office, _ = office_server
    url = f"/api/v1/proposals/{propose(http, office, PROPOSER)['id']}"
    r = http.post(f"{url}/reject", json={"comment": ""}, headers=office.auth(APPROVER))
    assert r.status_code == 422, r.text
    r = http.post(f"{url}/reject", json={"comment": "wrong date"}, headers=office.auth(APPROVER))
    assert r.status_code == 200 and r.json()["state"] == "rejected"
    assert r.json()["rejection"]["comment"] == "wrong date"
    r = http.post(f"{url}/approve", json={}, headers=office.auth(ADMIN))
    assert r.status_code == 409, r.text


def test_a_co_issued_diploma_needs_both_institutions_approvers(
    office_server: tuple[Office, LiveServer], http: httpx.Client
) -> None:
    office, _ = office_server
    proposal = propose(http, office, PROPOSER, co_issuers=["samt"])
    url = f"/api/v1/proposals/{proposal['id']}/approve"
    half = http.post(url, json={}, headers=office.auth(SAMT_APPROVER)).json()
    assert half["state"] == "pending" and half["missing_approvals"] == ["tbzmed"]
    done = http.post(url, json={}, headers=office.auth(APPROVER)).json()
    assert done["state"] == "issued"
    verdict = http.get(f"/api/v1/verify/{done['diploma_id']}").json()
    assert verdict["status"] == "valid" and len(verdict["signers"]) == 2


def test_a_roster_is_proposed_and_runs_once_approved(
    office_server: tuple[Office, LiveServer], http: httpx.Client, tmp_path: Path
) -> None:
    office, _ = office_server
    roster = cohort(tmp_path / "cohort.csv", 3)
    r = http.post(
        "/api/v1/batches",
        headers=office.auth(PROPOSER),
        files={"file": ("cohort.csv", roster.read_bytes(), "text/csv")},
    )
    assert r.status_code == 202, r.text
    proposal = r.json()
    assert proposal["kind"] == "batch" and proposal["state"] == "pending"
    assert len(proposal["batch"]["diplomas"]) == 3
    batch_url = proposal["links"]["batch"]
    assert http.get(batch_url, headers=office.auth(PROPOSER)).json()["status"] == "proposed"
    time.sleep(0.5)
    assert http.get(batch_url, headers=office.auth(PROPOSER)).json()["status"] == "proposed"
    r = http.post(
        f"/api/v1/proposals/{proposal['id']}/approve", json={}, headers=office.auth(APPROVER)
    )
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    deadline = time.monotonic() + 120
    while (batch := http.get(batch_url, headers=office.auth(ADMIN)).json())["status"] != "done":
        assert batch["status"] not in ("failed", "refused"), batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)
    assert batch["issued"] == 3


def test_a_roster_with_problems_is_refused_at_once(
    office_server: tuple[Office, LiveServer], http: httpx.Client, tmp_path: Path
) -> None:
    office, _ = office_server
    r = http.post(
        "/api/v1/batches",
        headers=office.auth(PROPOSER),
        files={"file": ("r.csv", b"name,issued_on\nAli,2026-01-01\n", "text/csv")},
    )
    assert r.status_code == 422, r.text
    assert "row 2" in r.text
    assert http.get("/api/v1/proposals", headers=office.auth(PROPOSER)).json() == []
