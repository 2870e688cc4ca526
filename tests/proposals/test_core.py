"""The two-person rule's pure core: when it applies, who may approve what, and how a
proposal moves from pending to approved or rejected."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from diplomas.core.errors import Conflict, Forbidden, InvalidInput
from diplomas.core.model import DiplomaRequest, Institution
from diplomas.core.proposals import (
    Actor,
    Proposal,
    ProposalKind,
    ProposalState,
    approve,
    decision_refusal,
    issued,
    reject,
    required_institutions,
    rule_applies,
    rule_source,
)
from diplomas.core.users import ROLE_SCOPES, Role, User

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TBZ = Institution("tbzmed", "تبریز", "Tabriz", "https://d.tbzmed.ac.ir", "TBZMED")
SAMT = Institution("samt", "صمت", "SAMT", "https://d.tbzmed.ac.ir/i/samt", "SAMT")


def user(uid: str, institution: str = "tbzmed", role: Role = Role.APPROVER) -> User:
    return User(uid, f"{uid}@x.ir", institution, role, NOW, password_hash="-")


def acting(u: User, token: str = "laptop") -> Actor:
    return Actor(f"user:{u.email} (token {token})", u, ROLE_SCOPES[u.role])


IRIS = user("iris", role=Role.ISSUER)
ARASH = user("arash")
AVA = user("ava", role=Role.ADMIN)
SINA = user("sina", "samt")


def proposal(required: tuple[str, ...] = ("tbzmed",), proposer: User | None = IRIS) -> Proposal:
    return Proposal(
        id="p" * 21,
        kind=ProposalKind.DIPLOMA,
        state=ProposalState.PENDING,
        institution="tbzmed",
        required=required,
        proposer=acting(proposer).label if proposer else "token:abc",
        proposer_id=proposer.id if proposer else None,
        proposer_email=proposer.email if proposer else "",
        created_at=NOW,
        request=DiplomaRequest("زهرا", date(2026, 11, 26)),
    )


@pytest.mark.parametrize(
    ("setting", "production", "applies"),
    [(None, True, True), (None, False, False), (True, False, True), (False, True, False)],
)
def test_the_rule_is_the_setting_or_else_on_in_production(
    setting: bool | None, production: bool, applies: bool
) -> None:
    institution = replace(TBZ, two_person_rule=setting)
    assert rule_applies(institution, production) is applies
    assert rule_source(institution, production).startswith("on" if applies else "off")
    assert ("unset" in rule_source(institution, production)) is (setting is None)


def test_each_institution_whose_rule_applies_must_approve_in_signing_order() -> None:
    on, off = replace(SAMT, two_person_rule=True), replace(SAMT, two_person_rule=False)
    assert required_institutions(TBZ, [on], production=False) == ("samt",)
    assert required_institutions(TBZ, [on], production=True) == ("tbzmed", "samt")
    assert required_institutions(TBZ, [off], production=True) == ("tbzmed",)
    assert required_institutions(TBZ, [], production=False) == ()


def test_an_approver_of_the_institution_approves_and_the_last_approval_completes_it() -> None:
    pending = proposal(("tbzmed", "samt"))
    half = approve(pending, acting(ARASH), NOW, "checked against the register")
    assert half.state is ProposalState.PENDING and half.missing == ("samt",)
    assert half.approvals[0].email == ARASH.email
    assert half.approvals[0].comment == "checked against the register"
    later = NOW + timedelta(minutes=5)
    done = approve(half, acting(SINA), later)
    assert done.state is ProposalState.APPROVED and done.missing == ()
    assert done.decided_at == later
    assert issued(done, "d" * 21).state is ProposalState.ISSUED


def test_the_proposer_never_approves_with_any_of_their_tokens() -> None:
    mine = proposal(proposer=AVA)
    with pytest.raises(Forbidden, match="proposer"):
        approve(mine, acting(AVA, token="another"), NOW)
    with pytest.raises(Forbidden, match="proposer"):
        reject(mine, acting(AVA, token="phone"), NOW, "no")


def test_a_token_of_nobody_never_approves_and_its_proposal_is_anothers_to_approve() -> None:
    nobody = Actor("token:abc", None, frozenset({"read", "issue", "approve"}))
    with pytest.raises(Forbidden, match="belongs to no user"):
        approve(proposal(), nobody, NOW)
    by_nobody = proposal(proposer=None)
    assert approve(by_nobody, acting(ARASH), NOW).state is ProposalState.APPROVED
    with pytest.raises(Forbidden, match="proposer"):  # the same token
        approve(by_nobody, Actor("token:abc", ARASH, ROLE_SCOPES[Role.APPROVER]), NOW)
    at_the_terminal = replace(by_nobody, proposer="cli:iris")
    signed_in = Actor(f"user:{ARASH.email} (cli:iris)", ARASH, ROLE_SCOPES[Role.APPROVER])
    with pytest.raises(Forbidden, match="proposer"):  # the login that proposed
        approve(at_the_terminal, signed_in, NOW)


def test_another_institutions_approver_or_an_issuer_cannot_approve() -> None:
    with pytest.raises(Forbidden, match="belongs to samt"):
        approve(proposal(("tbzmed",)), acting(SINA), NOW)
    with pytest.raises(Forbidden, match="'approve' permission"):
        approve(proposal(proposer=AVA), acting(user("ivan", role=Role.ISSUER)), NOW)
    disabled = replace(ARASH, disabled_at=NOW)
    assert decision_refusal(proposal(), acting(disabled)) == f"{disabled.email} is disabled"


def test_one_approval_per_institution_and_only_while_pending() -> None:
    half = approve(proposal(("tbzmed", "samt")), acting(ARASH), NOW)
    with pytest.raises(Conflict, match=r"approved proposal .* already"):
        approve(half, acting(AVA), NOW)
    rejected = reject(half, acting(SINA), NOW, "the name is misspelt")
    assert rejected.state is ProposalState.REJECTED
    assert rejected.rejection is not None and rejected.rejection.email == SINA.email
    with pytest.raises(Conflict, match="rejected, not pending"):
        approve(rejected, acting(AVA), NOW)
    with pytest.raises(Conflict):
        issued(rejected, "d" * 21)


@pytest.mark.parametrize("comment", ["", "   ", "x" * 501])
def test_a_rejection_says_why_in_a_few_words(comment: str) -> None:
    with pytest.raises(InvalidInput, match="comment"):
        reject(proposal(), acting(ARASH), NOW, comment)
