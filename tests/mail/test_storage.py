"""The outbox on SQLite and PostgreSQL: claims, and what a dead sender's messages become."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import Instance

from diplomas.core.outbox import STOPPED_BEFORE_REPLY, MailState

from .support import ZAHRA

LEASE = timedelta(minutes=10)


def test_a_dead_senders_messages_are_sent_again_only_before_they_were_handed(
    instance: Instance,
) -> None:
    service = instance.service
    first = service.issue(ZAHRA).diploma
    second = service.issue({**ZAHRA, "name_en": "Someone Else", "email": "s@example.com"}).diploma
    outbox = service.outbox
    assert outbox is not None
    now = datetime.now(UTC)
    claimed = outbox.claim("dead", now, LEASE, 10)
    assert {m.diploma_id for m in claimed} == {first.id, second.id}
    assert all(m.state is MailState.SENDING and m.claimed_by.startswith("dead:") for m in claimed)
    assert outbox.claim("other", now, LEASE, 10) == []  # held: nobody else takes them
    handed = next(m for m in claimed if m.diploma_id == first.id)
    assert outbox.mark_handed(handed, now, LEASE)

    assert outbox.recover(now + LEASE / 2) == 0  # the leases still run
    assert outbox.recover(now + LEASE + timedelta(seconds=1)) == 2
    after = {m.diploma_id: m for m in outbox.messages()}
    assert after[first.id].state is MailState.SENT
    assert after[first.id].reply == STOPPED_BEFORE_REPLY
    assert after[second.id].state is MailState.QUEUED and after[second.id].attempts == 0
    # The dead sender's claim is gone: nothing it would still do lands.
    assert not outbox.mark_handed(next(m for m in claimed if m.diploma_id == second.id), now, LEASE)
    [again] = outbox.claim("alive", now + LEASE + timedelta(seconds=2), LEASE, 10)
    assert again.diploma_id == second.id and again.claimed_by.startswith("alive:")
