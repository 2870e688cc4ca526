"""Corrections under the two-person rule (SQLite, and PostgreSQL when
DIPLOMAS_TEST_DATABASE_URL is set): a correction is proposed, nothing is signed or changed
until an approver of each institution concerned, not the proposer, approves; the approval
that completes it signs the new version under the same id and serial."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from clitools import run
from fastapi.testclient import TestClient

from diplomas.api.app import create_app
from diplomas.core.audit import AuditAction
from diplomas.core.errors import ApprovalRequired, Conflict, Forbidden
from diplomas.core.model import Diploma
from diplomas.core.proposals import Proposal, ProposalKind, ProposalState
from diplomas.core.verification import VerdictStatus

from .conftest import ADMIN, APPROVER, PASSWORD, PROPOSER, SAMT_APPROVER, ZAHRA, Office
from .test_cli import NAME, office_env, proposed_id

FIX = {"name_en": "Zahra M. Mohammadinejad"}


def issued(office: Office, **extra: Any) -> tuple[Diploma, bytes]:
    """A diploma issued under the rule (proposed, then approved by each institution)."""
    service = office.service
    proposal = service.propose_issue({**ZAHRA, **extra}, office.actor(PROPOSER))
    for approver in (APPROVER, SAMT_APPROVER)[: len(proposal.required)]:
        proposal = service.approve(proposal.id, office.actor(approver))
    assert proposal.state is ProposalState.ISSUED
    diploma = service.get(proposal.diploma_id)
    return diploma, service.pdf(diploma.id)


def unchanged(office: Office, diploma: Diploma, pdf: bytes) -> None:
    """The diploma, its PDF and its versions are as issued; the old PDF still VALID."""
    service = office.service
    now = service.get(diploma.id)
    assert now.record == diploma.record and now.request == diploma.request
    assert now.pdf_sha256 == diploma.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert service.pdf(diploma.id) == pdf
    assert len(service.versions(diploma.id)) == 1
    assert service.verify_pdf(pdf).status is VerdictStatus.VALID
    assert service.audit is not None
    assert service.audit.entries(action=AuditAction.DIPLOMA_CORRECTED) == []


def test_a_correction_is_proposed_and_signs_nothing_until_approved(office: Office) -> None:
    service = office.service
    diploma, pdf = issued(office, email="zahra@example.com", national_id="0013542419")

    # No path signs an unapproved correction.
    with pytest.raises(ApprovalRequired):
        service.correct(diploma.id, FIX)
    with pytest.raises(ApprovalRequired):
        service.apply_correction(service.check_correction(diploma.id, FIX))

    changes = {**FIX, "national_id": "0499370899"}
    proposal = service.submit_correction(diploma.serial, changes, office.actor(ADMIN))
    assert isinstance(proposal, Proposal)
    assert proposal.kind is ProposalKind.CORRECTION and proposal.state is ProposalState.PENDING
    assert proposal.required == ("tbzmed",) and proposal.diploma_id == diploma.id
    c = proposal.correction
    assert c is not None and c.serial == diploma.serial
    assert [(f.field, f.old, f.new) for f in c.shown] == [
        ("name_en", ZAHRA["name_en"], FIX["name_en"]),
        ("national_id", "", "…99"),
    ]
    assert dict(c.changes) == FIX  # the national id only by its keyed hash
    assert proposal.national_id_hash and "0499370899" not in json.dumps(
        [str(proposal), dict(c.changes)]
    )
    unchanged(office, diploma, pdf)

    # The proposer cannot approve (an admin, who may approve others' proposals), nor
    # someone without the approve permission.
    with pytest.raises(Forbidden, match="proposer"):
        service.approve(proposal.id, office.actor(ADMIN))
    with pytest.raises(Forbidden, match="permission"):
        service.approve(proposal.id, office.actor(PROPOSER))
    unchanged(office, diploma, pdf)

    done = service.approve(proposal.id, office.actor(APPROVER), "checked the passport")
    assert done.state is ProposalState.ISSUED and done.diploma_id == diploma.id
    new = service.get(diploma.id)
    assert (new.id, new.serial) == (diploma.id, diploma.serial)
    assert new.request.name_en == FIX["name_en"] and new.record != diploma.record
    assert [v.version for v in service.versions(diploma.id)] == [1, 2]
    assert service.verify_pdf(pdf).status is VerdictStatus.SUPERSEDED
    assert service.verify_pdf(service.pdf(diploma.id)).status is VerdictStatus.VALID
    assert service.repository.same_national_id(diploma.id, "0499370899")

    # In the approver's name, naming the proposal; the history tells it all.
    assert service.audit is not None
    [entry] = service.audit.entries(action=AuditAction.DIPLOMA_CORRECTED, subject=diploma.id)
    assert entry.actor == f"user:{APPROVER} (token laptop)"
    assert entry.details["proposal"] == proposal.id
    assert entry.details["fields"] == ["name_en", "national_id"]
    events = service.history(diploma.id)
    assert [e.what for e in events] == [
        "proposal.created",
        "proposal.approved",
        "diploma.issued",
        "proposal.created",
        "proposal.approved",
        "diploma.corrected",
    ]
    assert "correction of name_en, national_id proposed" in events[3].note
    assert proposal.id in events[5].note and "version 2" in events[5].note

    with pytest.raises(Conflict, match="not pending"):
        service.approve(proposal.id, office.actor(APPROVER))


def test_a_rejected_correction_changes_nothing(office: Office) -> None:
    service = office.service
    diploma, pdf = issued(office)
    proposal = service.propose_correction(diploma.id, FIX, office.actor(PROPOSER))
    rejected = service.reject(proposal.id, office.actor(APPROVER), "the passport says otherwise")
    assert rejected.state is ProposalState.REJECTED
    assert rejected.rejection is not None and "passport" in rejected.rejection.comment
    unchanged(office, diploma, pdf)
    with pytest.raises(Conflict):
        service.approve(proposal.id, office.actor(ADMIN))
    unchanged(office, diploma, pdf)
    assert service.history(diploma.id)[-1].what == "proposal.rejected"


def test_private_fields_only_are_under_the_rule_too(office: Office) -> None:
    service = office.service
    diploma, pdf = issued(office, email="zahra@example.com")
    proposal = service.submit_correction(
        diploma.id, {"email": "zahra@tbzmed.ac.ir"}, office.actor(PROPOSER)
    )
    assert isinstance(proposal, Proposal) and proposal.required == ("tbzmed",)
    unchanged(office, diploma, pdf)
    service.approve(proposal.id, office.actor(APPROVER))
    now = service.get(diploma.id)
    assert now.request.email == "zahra@tbzmed.ac.ir" and now.record == diploma.record
    assert service.verify_pdf(pdf).status is VerdictStatus.VALID  # nothing re-signed


def test_a_co_issued_diplomas_correction_needs_both_institutions(office: Office) -> None:
    service = office.service
    diploma, pdf = issued(office, co_issuers=["samt"])
    proposal = service.propose_correction(diploma.id, FIX, office.actor(PROPOSER))
    assert proposal.required == ("tbzmed", "samt")
    half = service.approve(proposal.id, office.actor(APPROVER))
    assert half.state is ProposalState.PENDING and half.missing == ("samt",)
    unchanged(office, diploma, pdf)
    done = service.approve(proposal.id, office.actor(SAMT_APPROVER))
    assert done.state is ProposalState.ISSUED
    new_pdf = service.pdf(diploma.id)
    assert service.verify_pdf(new_pdf).status is VerdictStatus.VALID
    assert service.verify_pdf(pdf).status is VerdictStatus.SUPERSEDED


def test_approving_refuses_once_the_diploma_was_revoked_or_corrected(office: Office) -> None:
    service = office.service
    diploma, _ = issued(office)
    stale = service.propose_correction(diploma.id, FIX, office.actor(PROPOSER))
    other = service.propose_correction(diploma.id, {"field": "فناوری"}, office.actor(PROPOSER))
    service.approve(other.id, office.actor(APPROVER))  # corrected meanwhile
    corrected = service.get(diploma.id)
    with pytest.raises(Conflict, match="corrected since"):
        service.approve(stale.id, office.actor(APPROVER))
    assert service.proposal(stale.id).state is ProposalState.PENDING
    assert service.get(diploma.id).record == corrected.record

    late = service.propose_correction(diploma.id, FIX, office.actor(PROPOSER))
    service.revoke(diploma.id, "issued in error")
    with pytest.raises(Conflict, match="revoked"):
        service.approve(late.id, office.actor(APPROVER))
    assert service.get(diploma.id).record == corrected.record
    assert len(service.versions(diploma.id)) == 2
    assert service.proposal(late.id).approvals == ()


def test_api_answers_202_and_shows_and_approves_the_correction(office: Office) -> None:
    service = office.service
    diploma, pdf = issued(office)
    with TestClient(create_app(service, office.instance.settings)) as http:
        route = f"/api/v1/diplomas/{diploma.id}/corrections"
        r = http.post(route, json=FIX, headers=office.auth(ADMIN))
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["kind"] == "correction" and body["state"] == "pending"
        assert body["diploma_id"] == diploma.id
        assert body["correction"]["serial"] == diploma.serial
        assert body["correction"]["changes"] == [
            {"field": "name_en", "old": ZAHRA["name_en"], "new": FIX["name_en"]}
        ]
        # A token that may not read stored values is not told them.
        blind = {"Authorization": f"Bearer {office.instance.tokens['issue']}"}
        r = http.post(route, json={"field": "فناوری"}, headers=blind)
        assert r.status_code == 202, r.text
        assert r.json()["correction"]["changes"][0]["old"] is None
        unchanged(office, diploma, pdf)
        url = f"/api/v1/proposals/{body['id']}"
        shown = http.get(url, headers=office.auth(APPROVER)).json()
        assert shown["correction"] == body["correction"]
        mine = http.post(f"{url}/approve", json={}, headers=office.auth(ADMIN))
        assert mine.status_code == 403 and "proposer" in mine.text
        unchanged(office, diploma, pdf)
        ok = http.post(f"{url}/approve", json={"comment": "ok"}, headers=office.auth(APPROVER))
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "issued"
        versions = http.get(f"/api/v1/diplomas/{diploma.id}/versions", headers=office.auth(ADMIN))
        assert [v["version"] for v in versions.json()] == [1, 2]
        again = http.post(f"{url}/approve", json={}, headers=office.auth(APPROVER))
        assert again.status_code == 409
        files = {"file": ("d.pdf", pdf, "application/pdf")}
        verdict = http.post("/api/v1/verify", files=files).json()
        assert verdict["status"] == "superseded", verdict
    assert service.verify_pdf(pdf).status is VerdictStatus.SUPERSEDED


def test_cli_proposes_the_correction_and_an_approver_applies_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    office_env(env)
    pdf = tmp_path / "zahra.pdf"
    sign_in = ("--password-stdin",)
    out = run(
        env, "issue", "--name", NAME, "--name-en", "Zahra Mohamadinejad", "--issued-on",
        "1405/09/05", "--out", "/dev/null", "--user", PROPOSER, *sign_in, input=PASSWORD + "\n",
    )  # fmt: skip
    out = run(
        env, "proposals", "approve", proposed_id(out), "--user", APPROVER, *sign_in,
        "--out", str(pdf), input=PASSWORD + "\n",
    )  # fmt: skip
    found = re.search(r"issued (TBZMED-\S+)", out)
    assert found, out
    serial = found.group(1)
    assert "VALID" in run(env, "verify", str(pdf))

    out = run(
        env, "correct", serial, "--set", "name_en=Zahra Mohammadinejad", "--yes",
        "--user", PROPOSER, *sign_in, input=PASSWORD + "\n",
    )  # fmt: skip
    proposal = proposed_id(out)
    assert "nothing is signed until an approver of tbzmed" in out
    assert '"Zahra Mohamadinejad" → "Zahra Mohammadinejad"' in out
    assert "VALID" in run(env, "verify", str(pdf))  # nothing signed yet
    shown = run(env, "proposals", "show", proposal)
    assert "(correction): pending" in shown and f"correction of {serial}" in shown
    assert 'name_en: "Zahra Mohamadinejad" → "Zahra Mohammadinejad"' in shown
    refused = run(
        env, "proposals", "approve", proposal, "--user", PROPOSER, *sign_in,
        input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    assert "approve" in refused
    out = run(
        env, "proposals", "approve", proposal, "--user", APPROVER, *sign_in,
        input=PASSWORD + "\n",
    )  # fmt: skip
    assert f"corrected {serial} (id " in out and "now version 2" in out
    assert "superseded" in run(env, "verify", str(pdf), code=1).lower()
    events = json.loads(run(env, "history", serial, "--json"))
    assert [e["what"] for e in events] == [
        "proposal.created",
        "proposal.approved",
        "diploma.issued",
        "proposal.created",
        "proposal.approved",
        "diploma.corrected",
    ]
    assert events[-1]["who"].startswith(f"user:{APPROVER} (cli:")
