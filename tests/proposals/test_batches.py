"""A roster under the two-person rule: validated when proposed, kept with its batch and
pinned by its digest, never run (nor resumed) until approved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from batch.rosters import cohort, person, write_roster
from procrastinate.testing import InMemoryConnector

from diplomas.batches import BatchOptions, BatchService
from diplomas.bootstrap import build_batches
from diplomas.core.audit import AuditAction
from diplomas.core.batch import BatchStatus
from diplomas.core.errors import ApprovalRequired, Forbidden, InvalidInput
from diplomas.core.proposals import Actor, ProposalKind, ProposalState
from diplomas.core.verification import VerdictStatus
from diplomas.tasks import Tasks

from .conftest import APPROVER, PROPOSER, Office


def runner(office: Office) -> BatchService:
    return build_batches(office.service, office.instance.settings)


def options(out: Path) -> BatchOptions:
    return BatchOptions(out_dir=out, workers=1)


def test_a_proposed_batch_does_not_run_until_approved(office: Office, tmp_path: Path) -> None:
    service = office.service
    roster = cohort(tmp_path / "cohort.csv", 3)
    run = runner(office)
    proposal = run.propose(roster, options(tmp_path / "out"), office.actor(PROPOSER))
    assert proposal is not None and proposal.kind is ProposalKind.BATCH
    assert proposal.batch is not None and len(proposal.batch.requests) == 3
    batch = service.batch(proposal.batch_id)
    assert batch.status is BatchStatus.PROPOSED and batch.valid_rows == 3
    stored = service.batches.roster(batch.id)
    assert stored is not None and stored.content == roster.read_bytes()
    kept = tmp_path / "kept.csv"
    kept.write_bytes(stored.content)
    # Nothing runs it: a restart's resume skips it, and running it is refused.
    assert service.batches.unfinished() == []
    connector = InMemoryConnector()
    assert asyncio.run(Tasks(connector, lambda: run).resume()) == 0
    assert connector.jobs == {}
    with pytest.raises(ApprovalRequired, match="proposed"):
        run.run(kept, options(tmp_path / "out"), batch=batch)
    assert service.search("", 0, 10)[1] == 0

    approved = service.approve(proposal.id, office.actor(APPROVER))
    assert approved.state is ProposalState.APPROVED
    queued = service.batch(batch.id)
    assert queued.status is BatchStatus.QUEUED
    assert [b.id for b in service.batches.unfinished()] == [batch.id]
    report = run.run(kept, options(tmp_path / "out"), batch=queued)
    assert report.batch.status is BatchStatus.DONE and report.batch.issued == 3
    diplomas, total = service.search("", 0, 10)
    assert total == 3
    assert all(service.verify_id(d.id).status is VerdictStatus.VALID for d in diplomas)
    history = service.history(diplomas[0].id)
    assert [h.what for h in history] == ["proposal.created", "proposal.approved", "diplomas.issued"]
    assert history[-1].who == f"batch:{batch.id}" and APPROVER in history[1].note
    assert office.service.audit is not None
    [entry] = office.service.audit.entries(action=AuditAction.PROPOSAL_CREATED)
    assert entry.details["batch"] == batch.id and entry.details["diplomas"] == 3


def test_a_roster_changed_after_approval_is_not_run(office: Office, tmp_path: Path) -> None:
    service = office.service
    run = runner(office)
    proposal = run.propose(cohort(tmp_path / "c.csv", 2), options(tmp_path), office.actor(PROPOSER))
    assert proposal is not None
    service.approve(proposal.id, office.actor(APPROVER))
    kept = write_roster(tmp_path / "kept.csv", [person(i) for i in range(3)])
    with pytest.raises(Forbidden, match="not the one approved"):
        run.run(kept, options(tmp_path / "out"), batch=service.batch(proposal.batch_id))
    assert service.search("", 0, 10)[1] == 0


def test_a_roster_never_proposed_is_refused_before_anything_is_signed(
    office: Office, tmp_path: Path
) -> None:
    with pytest.raises(ApprovalRequired, match="two-person rule"):
        runner(office).run(cohort(tmp_path / "c.csv", 2), options(tmp_path / "out"))
    assert office.service.search("", 0, 10)[1] == 0
    assert not list((tmp_path / "out").glob("*.pdf"))


def test_a_roster_with_problems_is_refused_when_proposed(office: Office, tmp_path: Path) -> None:
    roster = write_roster(tmp_path / "bad.csv", [person(0), {**person(1), "name": "Ali"}])
    with pytest.raises(InvalidInput, match="row 3"):
        runner(office).propose(roster, options(tmp_path), Actor("cli:ops"))
    assert office.service.proposals() == []


def test_a_rejected_batch_is_final(office: Office, tmp_path: Path) -> None:
    service = office.service
    proposal = runner(office).propose(
        cohort(tmp_path / "c.csv", 2), options(tmp_path), Actor("cli:ops")
    )
    assert proposal is not None
    service.reject(proposal.id, office.actor(APPROVER), "wrong cohort")
    batch = service.batch(proposal.batch_id)
    assert batch.status is BatchStatus.REJECTED and "wrong cohort" in batch.message
    assert service.batches.unfinished() == []
