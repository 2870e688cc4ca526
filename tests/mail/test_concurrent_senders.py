"""Two senders drain one outbox at once: each message is claimed by one of them and
arrives once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from conftest import Instance
from sqlalchemy.orm import Session

from diplomas.core.outbox import MailState
from diplomas.storage.engine import make_engine
from diplomas.storage.outbox import enqueue

from .servers import Recorder, smtp_server
from .support import holder, sender_for, with_setting

MESSAGES = 120


def test_two_senders_never_send_one_message_twice(instance: Instance) -> None:
    service = with_setting(instance, "mail_pdf", "link")
    diploma = service.issue(holder(1)).diploma
    engine = make_engine(instance.settings.effective_database_url)
    with Session(engine) as session, session.begin():
        for n in range(MESSAGES):
            enqueue(session, diploma.id, f"load:{n}", "a@example.com", datetime.now(UTC))
    engine.dispose()
    handler = Recorder()
    errors: list[BaseException] = []
    with smtp_server(handler) as port:
        senders = [
            sender_for(instance, f"smtp://127.0.0.1:{port}", service=service) for _ in range(2)
        ]
        for i, sender in enumerate(senders):
            sender.name = f"sender-{i}"

        def drain(sender: object) -> None:
            try:
                sender.drain()  # type: ignore[attr-defined]
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert not errors
    ids = Counter(r.message["Message-ID"] for r in handler.received)
    assert len(ids) == MESSAGES + 1 and set(ids.values()) == {1}
    assert service.outbox is not None
    assert service.outbox.counts() == {MailState.SENT: MESSAGES + 1}


def test_a_slow_round_hands_back_what_it_cannot_send_within_its_lease(
    instance: Instance,
) -> None:
    import time
    from datetime import timedelta

    service = instance.service
    for i in range(3):
        service.issue(holder(i))
    with smtp_server(Recorder()) as port:
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        sender.lease = timedelta(seconds=1)
        deliver = sender.transport.deliver

        def slowly(*args: object, **kwargs: object) -> str:
            time.sleep(0.6)
            return deliver(*args, **kwargs)  # type: ignore[arg-type]

        sender.transport.deliver = slowly  # type: ignore[method-assign]
        report = sender.send_due()
    assert report.sent == 1
    assert service.outbox is not None
    waiting = service.outbox.messages(state=MailState.QUEUED)
    assert len(waiting) == 2 and all(m.attempts == 0 and not m.claimed_by for m in waiting)
