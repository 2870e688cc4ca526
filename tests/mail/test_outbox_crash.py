"""The sender SIGKILLed while an outbox of 500 messages drains, then started again: every
message reaches the SMTP server once, none twice, none lost. The server runs in a process
of its own and makes each accepted Message-ID durable before it answers.

The one message that may not arrive is one whose sender died in the microseconds between
recording it `handed` and writing the final '.': it is counted as sent and said so
(`core.outbox`), never sent twice. The test allows that one, and nothing else."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import free_port
from sqlalchemy.orm import Session

from diplomas.core.outbox import STOPPED_BEFORE_REPLY, MailState, message_id
from diplomas.settings_file import set_institution_setting
from diplomas.storage.engine import make_engine
from diplomas.storage.outbox import enqueue
from tests.faults.support import kill, make_site, spawn

from .support import holder

pytestmark = pytest.mark.slow

MESSAGES = 500
SEEDS = (20261202, 7, 4242)
SINK = Path(__file__).with_name("smtp_sink.py")


def received(path: Path) -> Counter[str]:
    if not path.exists():
        return Counter()
    return Counter(path.read_text().split())


def test_a_killed_sender_sends_every_message_once(tmp_path: Path, backend: str) -> None:
    site = make_site(tmp_path, backend)
    # The private link, not the PDF: what is tested is the outbox, and 1500 attachments
    # would only make the test slower.
    set_institution_setting(site.instance.settings, "mail_pdf", "link")
    service = site.instance.service
    diplomas = [service.issue(holder(i)).diploma for i in range(5)]
    host = urlsplit(service.institution.public_url).hostname or ""
    engine = make_engine(site.instance.settings.effective_database_url)
    log = tmp_path / "mail.log"
    got = tmp_path / "received.txt"
    smtp_port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(SINK), str(smtp_port), str(got)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == b"ready"
        env = {
            **site.env,
            "DIPLOMAS_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "DIPLOMAS_SMTP_FROM": "office@example.ac.ir",
            "DIPLOMAS_SMTP_TIMEOUT_SECONDS": "2",
            # A killed sender's messages are taken up again after this: short, for the test.
            "DIPLOMAS_MAIL_LEASE_SECONDS": "3",
        }
        for seed in SEEDS:
            chance = random.Random(seed)
            at = datetime.now(UTC)
            with Session(engine) as session, session.begin():
                for n in range(MESSAGES):
                    d = diplomas[n % len(diplomas)]
                    enqueue(session, d.id, f"crash-{seed}:{n}", d.request.email, at)
            before = sum(received(got).values())
            sender = spawn(env, "mail", "send", "--forever", "--idle", "0.1", log=log)
            # Kill somewhere in the drain: after a seeded number of messages arrived, and
            # a seeded fraction of a message later.
            kill_after = before + chance.randrange(10, MESSAGES - 50)
            deadline = time.monotonic() + 60
            while sum(received(got).values()) < kill_after:
                assert time.monotonic() < deadline, log.read_text()
                assert sender.poll() is None, log.read_text()
                time.sleep(0.002)
            time.sleep(chance.random() * 0.01)
            kill(sender)
            # The kill caught the sender holding claims: the restart has to take them up.
            held = [
                m
                for m in service.outbox.messages(limit=10_000)  # type: ignore[union-attr]
                if m.purpose.startswith(f"crash-{seed}:")
                and m.state in (MailState.SENDING, MailState.HANDED)
            ]
            assert held, f"seed {seed}: the sender held no message when it was killed"
            sender = spawn(env, "mail", "send", "--forever", "--idle", "0.1", log=log)
            try:
                deadline = time.monotonic() + 60
                while True:
                    pending = [
                        m
                        for m in service.outbox.messages(limit=10_000)  # type: ignore[union-attr]
                        if m.purpose.startswith(f"crash-{seed}:") and m.state is not MailState.SENT
                    ]
                    if not pending:
                        break
                    assert time.monotonic() < deadline, (pending[:3], log.read_text())
                    time.sleep(0.2)
            finally:
                kill(sender)
            ours = [
                m
                for m in service.outbox.messages(limit=10_000)  # type: ignore[union-attr]
                if m.purpose.startswith(f"crash-{seed}:")
            ]
            assert len(ours) == MESSAGES
            counts = received(got)
            twice = [m.id for m in ours if counts[message_id(m.id, host)] > 1]
            assert not twice, f"seed {seed}: sent twice: {twice}"
            missing = [m for m in ours if counts[message_id(m.id, host)] == 0]
            # Only a message cut between `handed` and its '.' may be missing, said so.
            assert all(m.reply == STOPPED_BEFORE_REPLY for m in missing), missing
            assert len(missing) <= 1, missing
    finally:
        kill(sink)  # type: ignore[arg-type]
        engine.dispose()
