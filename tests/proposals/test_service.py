"""The service under the two-person rule, on a real database (SQLite, and PostgreSQL
when DIPLOMAS_TEST_DATABASE_URL is set): nothing is signed, numbered or stored as a
diploma until an approver of each institution concerned, not the proposer, approves."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMT, make_instance

from diplomas.core.audit import AuditAction
from diplomas.core.errors import ApprovalRequired, Conflict, Forbidden, InvalidInput, NotFound
from diplomas.core.proposals import Actor, ProposalState
from diplomas.core.verification import VerdictStatus

from .conftest import (
    ADMIN,
    APPROVER,
    PROPOSER,
    SAMT_APPROVER,
    ZAHRA,
    Office,
    staff,
    with_rule,
)


def nothing_issued(office: Office) -> None:
    service = office.service
    assert service.search("", 0, 10)[1] == 0
    assert not list(office.instance.settings.pdf_dir.rglob("*.pdf"))
    assert service.audit is not None
    assert service.audit.entries(action=AuditAction.DIPLOMA_ISSUED) == []


def audit(office: Office, action: str, subject: str) -> list[tuple[str, dict[str, object]]]:
    assert office.service.audit is not None
    return [
        (e.actor, dict(e.details))
        for e in office.service.audit.entries(action=action, subject=subject)
    ]


def test_a_proposal_is_checked_and_stored_and_signs_nothing(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue({**ZAHRA, "national_id": "0013542419"}, office.actor(PROPOSER))
    assert proposal.state is ProposalState.PENDING
    assert proposal.required == ("tbzmed",)
    assert proposal.proposer_email == PROPOSER
    assert proposal.request is not None and proposal.request.name == ZAHRA["name"]
    stored = service.proposal(proposal.id)
    assert stored.request == proposal.request.__class__(
        **{**proposal.request.__dict__, "national_id": ""}
    )  # the national id is kept only as its keyed hash
    assert stored.national_id_hash and "0013542419" not in stored.national_id_hash
    nothing_issued(office)
    [(actor, details)] = audit(office, AuditAction.PROPOSAL_CREATED, proposal.id)
    assert actor == f"user:{PROPOSER} (token laptop)"
    assert details["proposer"] == actor and details["required"] == ["tbzmed"]
    with pytest.raises(ApprovalRequired, match="two-person rule"):
        service.issue(ZAHRA)
    nothing_issued(office)


def test_a_bad_request_is_refused_when_proposed(office: Office) -> None:
    with pytest.raises(InvalidInput) as caught:
        office.service.propose_issue({"name": "Zahra"}, office.actor(PROPOSER))
    assert [p.field for p in caught.value.problems] == ["name"]
    with pytest.raises(InvalidInput) as caught:
        office.service.propose_issue({**ZAHRA, "co_issuers": ["nowhere"]}, office.actor(PROPOSER))
    assert [p.field for p in caught.value.problems] == ["co_issuers"]
    assert office.service.proposals() == []
    assert office.service.audit is not None
    assert office.service.audit.entries(action=AuditAction.PROPOSAL_CREATED) == []


def test_another_approver_approves_and_the_diploma_is_issued_signed_and_verifies(
    office: Office,
) -> None:
    service = office.service
    proposal = service.propose_issue(ZAHRA, office.actor(PROPOSER))
    done = service.approve(proposal.id, office.actor(APPROVER), "checked")
    assert done.state is ProposalState.ISSUED and done.diploma_id
    diploma = service.get(done.diploma_id)
    assert diploma.serial.endswith("-000001")  # no serial was spent before approval
    assert service.verify_pdf(service.pdf(diploma.id)).status is VerdictStatus.VALID
    assert service.verify_id(diploma.id).status is VerdictStatus.VALID
    [(actor, details)] = audit(office, AuditAction.PROPOSAL_APPROVED, proposal.id)
    assert actor == f"user:{APPROVER} (token laptop)"
    assert details["approver"] == APPROVER and details["comment"] == "checked"
    assert details["proposer"] == f"user:{PROPOSER} (token laptop)"
    [(issuer, issued)] = audit(office, AuditAction.DIPLOMA_ISSUED, diploma.id)
    assert issued["proposal"] == proposal.id and issuer == actor
    history = service.history(diploma.id)
    assert [h.what for h in history] == ["proposal.created", "proposal.approved", "diploma.issued"]
    assert PROPOSER in history[0].note and APPROVER in history[1].note
    service.revoke(diploma.id, "a mistake", actor="cli:ops")
    assert service.history(diploma.id)[-1].what == "diploma.revoked"
    with pytest.raises(Conflict, match="issued, not pending"):
        service.approve(proposal.id, office.actor(ADMIN))


def test_the_proposer_cannot_approve_with_any_token_and_nothing_changes(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue(ZAHRA, office.actor(ADMIN))  # an admin proposes
    _, other = service.create_token(["read", "approve"], "phone", user=ADMIN)
    own = service.actor_for_token(service.authenticate(other, "approve"))
    with pytest.raises(Forbidden, match="proposer"):
        service.approve(proposal.id, own)
    with pytest.raises(Forbidden, match="proposer"):
        service.reject(proposal.id, own, "changed my mind")
    assert service.proposal(proposal.id) == proposal
    assert audit(office, AuditAction.PROPOSAL_APPROVED, proposal.id) == []
    nothing_issued(office)


def test_a_token_of_nobody_proposes_but_never_approves(office: Office) -> None:
    service = office.service
    legacy = service.actor_for_token(service.authenticate(office.instance.tokens["all"], "read"))
    assert not legacy.person
    proposal = service.propose_issue(ZAHRA, legacy)
    with pytest.raises(Forbidden, match="belongs to no user"):
        service.approve(proposal.id, Actor(legacy.label, None, frozenset({"approve"})))
    with pytest.raises(InvalidInput, match="approve is for a person"):
        service.create_token(["approve"], "robot")
    assert service.approve(proposal.id, office.actor(APPROVER)).state is ProposalState.ISSUED


def test_an_issuer_or_another_institutions_approver_cannot_approve(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue(ZAHRA, office.actor(ADMIN))
    with pytest.raises(Forbidden, match="belongs to samt"):
        service.approve(proposal.id, office.actor(SAMT_APPROVER))
    with pytest.raises(Forbidden, match="permission"):
        service.approve(proposal.id, office.actor(PROPOSER))
    assert service.proposal(proposal.id).state is ProposalState.PENDING
    nothing_issued(office)


def test_a_rejection_needs_a_comment_and_ends_the_proposal(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue(ZAHRA, office.actor(PROPOSER))
    with pytest.raises(InvalidInput, match="comment"):
        service.reject(proposal.id, office.actor(APPROVER), "  ")
    rejected = service.reject(proposal.id, office.actor(APPROVER), "the date is wrong")
    assert rejected.state is ProposalState.REJECTED
    assert rejected.rejection is not None and rejected.rejection.comment == "the date is wrong"
    [(actor, details)] = audit(office, AuditAction.PROPOSAL_REJECTED, proposal.id)
    assert actor == f"user:{APPROVER} (token laptop)"
    assert details["comment"] == "the date is wrong" and details["approver"] == APPROVER
    with pytest.raises(Conflict, match="rejected"):
        service.approve(proposal.id, office.actor(ADMIN))
    assert [p.id for p in service.proposals("rejected")] == [proposal.id]
    assert service.proposals("pending") == []
    with pytest.raises(InvalidInput, match="state"):
        service.proposals("maybe")
    with pytest.raises(NotFound):
        service.proposal("nothing-like-an-id")
    nothing_issued(office)


def test_a_co_issued_diploma_waits_for_an_approver_of_each_institution(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue({**ZAHRA, "co_issuers": ["samt"]}, office.actor(PROPOSER))
    assert proposal.required == ("tbzmed", "samt")
    half = service.approve(proposal.id, office.actor(APPROVER))
    assert half.state is ProposalState.PENDING and half.missing == ("samt",)
    nothing_issued(office)  # tbzmed approved, samt not: no key has signed
    with pytest.raises(Conflict, match="already"):
        service.approve(proposal.id, office.actor(ADMIN))
    done = service.approve(proposal.id, office.actor(SAMT_APPROVER))
    assert done.state is ProposalState.ISSUED
    diploma = service.get(done.diploma_id)
    assert [i.slug for i in diploma.co_issuers] == ["samt"]
    verdict = service.verify_pdf(service.pdf(diploma.id))
    assert verdict.status is VerdictStatus.VALID
    kinds = [(s.kind, s.ok) for s in verdict.signers]
    assert kinds.count(("pdf", True)) == 2 and kinds.count(("record", True)) == 2


def test_only_the_institutions_whose_rule_applies_must_approve(
    tmp_path: Path, backend: str
) -> None:
    instance = make_instance(tmp_path, backend, co_issuers=[SAMT])
    service = with_rule(instance, "samt")  # development: tbzmed's rule is off
    instance.service = service
    office = Office(instance, service, staff(service))
    assert service.issue(ZAHRA).created  # tbzmed alone: issued at once
    outcome = service.submit_issue(
        {**ZAHRA, "co_issuers": ["samt"], "name_en": "Z M"}, office.actor(PROPOSER)
    )
    assert not hasattr(outcome, "diploma")
    assert outcome.required == ("samt",)  # type: ignore[union-attr]
    with pytest.raises(Forbidden, match="belongs to tbzmed"):
        service.approve(outcome.id, office.actor(APPROVER))  # type: ignore[union-attr]
    done = service.approve(outcome.id, office.actor(SAMT_APPROVER))  # type: ignore[union-attr]
    assert done.state is ProposalState.ISSUED


def test_sign_in_checks_the_password_and_says_nothing_about_which_part_was_wrong(
    office: Office,
) -> None:
    from diplomas.core.errors import Unauthorized

    from .conftest import PASSWORD

    actor = office.service.sign_in(APPROVER.upper(), PASSWORD, where="cli:ops")
    assert actor.label == f"user:{APPROVER} (cli:ops)" and "approve" in actor.scopes
    for email, password in ((APPROVER, "wrong password!"), ("nobody@x.ir", PASSWORD)):
        with pytest.raises(Unauthorized) as caught:
            office.service.sign_in(email, password)
        assert str(caught.value) == "the email or the password is wrong, or the user is disabled"
    office.service.disable_user(APPROVER)
    with pytest.raises(Unauthorized):
        office.service.sign_in(APPROVER, PASSWORD)


def test_an_approved_proposal_whose_issuing_failed_is_issued_by_the_next_approve(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = office.service
    proposal = service.propose_issue(ZAHRA, office.actor(PROPOSER))

    def unavailable() -> None:
        raise RuntimeError("the signing token is unplugged")

    with monkeypatch.context() as patch:
        patch.setattr(service.record_keys, "signer", unavailable)
        with pytest.raises(RuntimeError, match="unplugged"):
            service.approve(proposal.id, office.actor(APPROVER))
    stuck = service.proposal(proposal.id)
    assert stuck.state is ProposalState.APPROVED and not stuck.diploma_id
    nothing_issued(office)
    with pytest.raises(Forbidden, match="permission"):  # a retry is an approver's too
        service.approve(proposal.id, office.actor(PROPOSER))
    done = service.approve(proposal.id, office.actor(APPROVER))
    assert done.state is ProposalState.ISSUED
    assert service.verify_id(done.diploma_id).status is VerdictStatus.VALID
    assert len(audit(office, AuditAction.PROPOSAL_APPROVED, proposal.id)) == 1


def test_a_known_external_id_is_answered_not_proposed_again(office: Office) -> None:
    service = office.service
    first = service.propose_issue({**ZAHRA, "external_id": "S-1"}, office.actor(PROPOSER))
    done = service.approve(first.id, office.actor(APPROVER))
    again = service.submit_issue({**ZAHRA, "external_id": "S-1"}, office.actor(PROPOSER))
    assert not isinstance(again, type(first)) and not again.created
    assert again.diploma.id == done.diploma_id
    with pytest.raises(Conflict, match="S-1 was issued already"):
        service.propose_issue({**ZAHRA, "external_id": "S-1"}, office.actor(PROPOSER))
    assert len(service.proposals()) == 1
