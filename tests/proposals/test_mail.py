"""Under the two-person rule the holder's message is queued by the approval that issues or
corrects her diploma, and not before."""

from __future__ import annotations

from .conftest import APPROVER, PROPOSER, ZAHRA, Office


def test_the_approval_that_issues_or_corrects_queues_the_message(office: Office) -> None:
    service = office.service
    proposal = service.propose_issue(
        {**ZAHRA, "email": "zahra@example.com"}, office.actor(PROPOSER)
    )
    assert not service.outbox.messages()  # type: ignore[union-attr]
    issued = service.approve(proposal.id, office.actor(APPROVER))
    diploma_id = issued.diploma_id
    assert diploma_id
    queued = service.mail_state(diploma_id)
    assert queued is not None and queued.purpose == "issued:v1"
    assert queued.recipient == "zahra@example.com"

    correction = service.propose_correction(
        diploma_id, {"name_en": "Zahra Mohammadi"}, office.actor(PROPOSER)
    )
    assert service.mail_state(diploma_id) == queued  # nothing until approved
    service.approve(correction.id, office.actor(APPROVER))
    corrected = service.mail_state(diploma_id)
    assert corrected is not None and corrected.purpose == "corrected:v2:1"
