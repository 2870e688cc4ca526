"""The two-person rule through the console over HTTP: an issuer proposes, an approver who
is not the proposer approves (or rejects, saying why), the partner institution's officer
approves a co-issued diploma with their own account, and a roster waits as a proposal
until it is approved, then runs to its archive."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import LiveServer

from diplomas.core.verification import VerdictStatus

from .support import PEOPLE, Browser, signed_in
from .test_rosters import upload, write_csv

ISSUER, APPROVER, ADMIN, PARTNER = (
    PEOPLE[r][0] for r in ("issuer", "approver", "admin", "partner")
)


@pytest.fixture
def ruled(console: LiveServer) -> LiveServer:
    """The instance as production runs it: the two-person rule on by default."""
    console.instance.service.production = True
    return console


def propose(browser: Browser, **fields: str) -> str:
    answer = browser.post("/admin/issue", {"name": "زهرا محمدی‌نژاد", **fields})
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/admin/proposals/([\w-]+)", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def test_an_issuer_proposes_and_another_person_approves(ruled: LiveServer) -> None:
    service = ruled.instance.service
    with signed_in(ruled.base_url, ISSUER) as issuer:
        proposal_id = propose(issuer, name_en="Zahra Mohammadinejad")
        assert service.search("", 0, 10)[1] == 0  # nothing signed, no serial spent
        shown = issuer.client.get(f"/admin/proposals/{proposal_id}").text
        assert "Zahra Mohammadinejad" in shown and 'formaction="' not in shown
        assert issuer.post(f"/admin/proposals/{proposal_id}/approve").status_code == 403
    with signed_in(ruled.base_url, APPROVER) as approver:
        listed = approver.client.get("/admin/proposals").text
        assert proposal_id in listed
        done = approver.post(f"/admin/proposals/{proposal_id}/approve", {"comment": "checked"})
        assert done.status_code == 303
        diploma_id = done.headers["location"].rsplit("/", 1)[-1]
        page = approver.client.get(f"/admin/diplomas/{diploma_id}").text
    assert service.verify_id(diploma_id).status is VerdictStatus.VALID
    history = [e.what for e in service.history(diploma_id)]
    assert history[:3] == ["proposal.created", "proposal.approved", "diploma.issued"]
    assert "پیشنهاد شد" in page and "checked" in page


def test_the_proposer_cannot_approve_their_own_even_as_an_approver(ruled: LiveServer) -> None:
    with signed_in(ruled.base_url, APPROVER) as approver:
        proposal_id = propose(approver)
        refused = approver.post(f"/admin/proposals/{proposal_id}/approve")
        assert refused.status_code == 403
        assert "the proposer cannot approve" in refused.text
    with signed_in(ruled.base_url, ADMIN) as admin:
        assert admin.post(f"/admin/proposals/{proposal_id}/approve").status_code == 303


def test_a_rejection_needs_a_reason_and_issues_nothing(ruled: LiveServer) -> None:
    service = ruled.instance.service
    with signed_in(ruled.base_url, ISSUER) as issuer:
        proposal_id = propose(issuer)
    with signed_in(ruled.base_url, APPROVER) as approver:
        bare = approver.post(f"/admin/proposals/{proposal_id}/reject")
        assert bare.status_code == 422
        assert (
            approver.post(
                f"/admin/proposals/{proposal_id}/reject", {"comment": "the name is misspelt"}
            ).status_code
            == 303
        )
    assert service.proposal(proposal_id).state.value == "rejected"
    assert service.search("", 0, 10)[1] == 0


def test_a_co_issued_diploma_waits_for_the_partners_officer(ruled: LiveServer) -> None:
    service = ruled.instance.service
    with signed_in(ruled.base_url, ISSUER) as issuer:
        proposal_id = propose(issuer, co_issuers="samt")
    with signed_in(ruled.base_url, APPROVER) as approver:
        first = approver.post(f"/admin/proposals/{proposal_id}/approve")
        assert first.headers["location"] == f"/admin/proposals/{proposal_id}"
    assert service.proposal(proposal_id).missing == ("samt",)
    with signed_in(ruled.base_url, PARTNER) as partner:
        assert proposal_id in partner.client.get("/admin/proposals").text
        done = partner.post(f"/admin/proposals/{proposal_id}/approve", {"comment": "ok"})
        assert done.status_code == 303
    diploma = service.get(service.proposal(proposal_id).diploma_id)
    assert [i.slug for i in diploma.co_issuers] == ["samt"]
    verdict = service.verify_pdf(service.pdf(diploma.id))
    assert verdict.status is VerdictStatus.VALID
    assert sum(s.kind == "pdf" and s.ok for s in verdict.signers) == 2


def test_a_roster_is_proposed_then_approved_then_issued(ruled: LiveServer, tmp_path: Path) -> None:
    with signed_in(ruled.base_url, ISSUER) as issuer:
        draft = upload(issuer, write_csv(tmp_path / "cohort.csv"))
        issuer.post(f"/admin/rosters/{draft}/columns", {"column-5": ""})
        proposed = issuer.post(f"/admin/rosters/{draft}/issue", {"skip_invalid": "true"})
        assert proposed.status_code == 303
        proposal_url = proposed.headers["location"]
        assert proposal_url.startswith("/admin/proposals/")
        shown = issuer.client.get(proposal_url).text
        assert "Zahra Mohammadinejad" in shown and "cohort.csv" in shown
    with signed_in(ruled.base_url, APPROVER) as approver:
        done = approver.post(proposal_url + "/approve", {"comment": "cohort 1405"})
        assert done.status_code == 303
        batch_url = done.headers["location"]
        assert batch_url.startswith("/admin/batches/")
        deadline = time.monotonic() + 120
        while "/archive" not in (text := approver.client.get(batch_url).text):
            assert time.monotonic() < deadline, text
            time.sleep(0.5)
        assert approver.client.get(batch_url + "/archive").status_code == 200
