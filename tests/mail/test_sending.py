"""Mail to holders through a real SMTP server (aiosmtpd): what the message says and
carries, and each way a server can answer."""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import Instance
from pypdf import PdfReader

from diplomas.core.audit import AuditAction
from diplomas.core.errors import Conflict, InvalidInput
from diplomas.core.outbox import BACKOFF, MAX_ATTEMPTS, MailState

from .servers import (
    PASSWORD,
    REFUSAL,
    USER,
    Recorder,
    authenticator,
    hanging_up_server,
    self_signed,
    smtp_server,
)
from .support import ZAHRA, holder, sender_for, with_setting


def test_an_issued_diploma_is_mailed_once_in_persian_and_english_with_its_pdf(
    instance: Instance,
) -> None:
    service = instance.service
    # No server runs yet: issuing never waits for mail.
    issued = service.issue(ZAHRA)
    diploma = issued.diploma
    queued = service.mail_state(diploma.id)
    assert queued is not None and queued.state is MailState.QUEUED
    assert queued.purpose == "issued:v1" and queued.recipient == "zahra@example.com"

    handler = Recorder()
    with smtp_server(handler) as port:
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        assert sender.drain().sent == 1
        assert sender.drain().sent == 0  # nothing twice

    [got] = handler.received
    sent = service.mail_state(diploma.id)
    assert sent is not None and sent.state is MailState.SENT and sent.attempts == 1
    assert "queued as Q1" in sent.reply and sent.sent_at is not None
    assert got.rcpt_tos == ["zahra@example.com"] and got.mail_from == "office@example.ac.ir"
    message = got.message
    host = urlsplit(diploma.institution.public_url).hostname
    assert message["Message-ID"] == f"<{sent.id}@{host}>"
    assert "دیپلم" in message["Subject"] and "Your diploma" in message["Subject"]
    html = message.get_body(("html",))
    assert html is not None
    page = html.get_content()
    assert 'lang="fa" dir="rtl"' in page and 'lang="en" dir="ltr"' in page
    holder = service.holder_url(diploma.id)  # her page, beside the attachment
    for words in (ZAHRA["name"], "Zahra Mohamadinejad", diploma.verify_url, diploma.serial):
        assert words in page
    assert holder in page
    text = message.get_body(("plain",))
    assert text is not None and diploma.verify_url in text.get_content()
    assert holder in text.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == f"{diploma.serial}.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-") and pdf == service.pdf(diploma.id) == issued.pdf
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert hashlib.sha256(pdf).hexdigest() == service.get(diploma.id).pdf_sha256


def test_a_diploma_without_an_email_queues_nothing(instance: Instance) -> None:
    issued = instance.service.issue({**ZAHRA, "email": ""})
    assert instance.service.mail_state(issued.diploma.id) is None


def test_link_mode_sends_the_link_and_no_attachment(instance: Instance) -> None:
    service = with_setting(instance, "mail_pdf", "link")
    diploma = service.issue(ZAHRA).diploma
    handler = Recorder()
    with smtp_server(handler) as port:
        assert sender_for(instance, f"smtp://127.0.0.1:{port}", service=service).drain().sent == 1
    message = handler.received[0].message
    assert not list(message.iter_attachments())
    body = message.get_body(("plain",))
    private = service.holder_url(diploma.id)
    assert private != diploma.verify_url and service.mail_link(diploma) == private
    assert body is not None and private in body.get_content()


def test_a_4xx_is_tried_again_after_the_backoff_then_accepted(instance: Instance) -> None:
    diploma = instance.service.issue(ZAHRA).diploma
    handler = Recorder(temporary_rcpt=1)
    with smtp_server(handler) as port:
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        before = datetime.now(UTC)
        assert sender.drain().retried == 1
        waiting = instance.service.mail_state(diploma.id)
        assert waiting is not None and waiting.state is MailState.QUEUED
        assert waiting.attempts == 1 and "451" in waiting.last_error
        assert waiting.next_attempt_at >= before + BACKOFF[0]
        assert sender.drain().handled == 0  # not due yet
        report = sender.send_due(now=waiting.next_attempt_at + timedelta(seconds=1))
        assert report.sent == 1
    done = instance.service.mail_state(diploma.id)
    assert done is not None and done.state is MailState.SENT and done.attempts == 2
    assert len(handler.received) == 1


def test_a_5xx_fails_the_message_with_the_servers_words(instance: Instance) -> None:
    diploma = instance.service.issue(ZAHRA).diploma
    with smtp_server(Recorder(refuse=True)) as port:
        assert sender_for(instance, f"smtp://127.0.0.1:{port}").drain().failed == 1
    failed = instance.service.mail_state(diploma.id)
    assert failed is not None and failed.state is MailState.FAILED
    assert REFUSAL in failed.last_error and failed.last_error.startswith("550")


def test_a_server_that_hangs_up_during_data_is_tried_again(instance: Instance) -> None:
    diploma = instance.service.issue(ZAHRA).diploma
    with hanging_up_server() as (port, heard):
        assert sender_for(instance, f"smtp://127.0.0.1:{port}").drain().retried == 1
    assert heard and b"DATA" in heard[0]
    waiting = instance.service.mail_state(diploma.id)
    assert waiting is not None and waiting.state is MailState.QUEUED
    assert "closed the connection" in waiting.last_error or "Connection" in waiting.last_error


def test_a_server_that_hangs_up_after_the_whole_message_is_not_sent_to_again(
    instance: Instance,
) -> None:
    """It may have kept the message: counted as sent (and said so), never sent twice."""
    diploma = instance.service.issue(ZAHRA).diploma
    with hanging_up_server(after_the_end=True) as (port, heard):
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        assert sender.drain().sent == 1
        assert sender.drain().handled == 0
    assert len(heard) == 1 and heard[0].endswith(b"\r\n.\r\n")
    state = instance.service.mail_state(diploma.id)
    assert state is not None and state.state is MailState.SENT
    assert "before the server's reply" in state.reply


def test_an_unreachable_server_is_tried_with_growing_waits_then_failed(
    instance: Instance,
) -> None:
    from conftest import free_port

    diploma = instance.service.issue(ZAHRA).diploma
    sender = sender_for(instance, f"smtp://127.0.0.1:{free_port()}")
    now = datetime.now(UTC)
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        sender.send_due(now=now)
        state = instance.service.mail_state(diploma.id)
        assert state is not None and state.state is MailState.QUEUED
        waits.append(state.next_attempt_at - now)
        now = state.next_attempt_at
    assert [round(w.total_seconds() / 60) for w in waits] == [
        round(b.total_seconds() / 60) for b in BACKOFF
    ]
    sender.send_due(now=now)
    failed = instance.service.mail_state(diploma.id)
    assert failed is not None and failed.state is MailState.FAILED
    assert failed.attempts == MAX_ATTEMPTS and "cannot reach" in failed.last_error


def test_starttls_with_a_password_and_the_password_is_never_shown(
    instance: Instance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    context, ca_file = self_signed(tmp_path)
    handler = Recorder()
    diploma = instance.service.issue(ZAHRA).diploma
    with smtp_server(
        handler,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    ) as port:
        caplog.set_level(logging.DEBUG)
        wrong = sender_for(
            instance, f"smtp://{USER}:wrong-{PASSWORD}@127.0.0.1:{port}", ca_file=ca_file
        )
        assert wrong.drain().retried == 1
        refused = instance.service.mail_state(diploma.id)
        assert refused is not None and "refused the user and password" in refused.last_error
        assert PASSWORD not in refused.last_error and PASSWORD not in caplog.text
        assert PASSWORD not in repr(wrong.transport.server)

        right = sender_for(
            instance,
            f"smtp://127.0.0.1:{port}",
            ca_file=ca_file,
            smtp_user=USER,
            smtp_password=PASSWORD,
        )
        assert right.send_due(now=refused.next_attempt_at).sent == 1
    assert len(handler.received) == 1
    assert PASSWORD not in caplog.text


def test_a_password_is_never_sent_without_tls(instance: Instance) -> None:
    handler = Recorder()
    diploma = instance.service.issue(ZAHRA).diploma
    with smtp_server(handler, authenticator=authenticator, auth_require_tls=False) as port:
        sender = sender_for(instance, f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}")
        assert sender.drain().retried == 1
    state = instance.service.mail_state(diploma.id)
    assert state is not None and "does not offer STARTTLS" in state.last_error
    assert PASSWORD not in state.last_error and not handler.received


def test_a_server_without_a_trusted_certificate_is_not_given_the_message(
    instance: Instance, tmp_path: Path
) -> None:
    context, _ = self_signed(tmp_path)
    handler = Recorder()
    diploma = instance.service.issue(ZAHRA).diploma
    with smtp_server(handler, tls_context=context, require_starttls=True) as port:
        assert sender_for(instance, f"smtp://127.0.0.1:{port}").drain().retried == 1
    state = instance.service.mail_state(diploma.id)
    assert state is not None and "CERTIFICATE_VERIFY_FAILED" in state.last_error
    assert not handler.received


def test_implicit_tls(instance: Instance, tmp_path: Path) -> None:
    context, ca_file = self_signed(tmp_path)
    handler = Recorder()
    instance.service.issue(ZAHRA)
    with smtp_server(handler, ssl_context=context) as port:
        sender = sender_for(instance, f"smtps://127.0.0.1:{port}", ca_file=ca_file)
        assert sender.drain().sent == 1
    assert len(handler.received) == 1


def test_resend_one_queues_a_new_message_with_an_audit_entry(instance: Instance) -> None:
    service = instance.service
    diploma = service.issue(ZAHRA).diploma
    handler = Recorder()
    with smtp_server(handler) as port:
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        sender.drain()
        again = service.resend_mail(diploma.serial, actor="cli:office")
        assert again.purpose == "resend:1" and again.state is MailState.QUEUED
        assert service.resend_mail(diploma.id).purpose == "resend:2"
        assert sender.drain().sent == 2
    ids = {r.message["Message-ID"] for r in handler.received}
    assert len(handler.received) == 3 and len(ids) == 3
    [entry, _] = service.audit_trail(action=AuditAction.MAIL_RESENT)[::-1]
    assert entry.actor == "cli:office" and entry.details["diplomas"] == [diploma.id]

    no_email = service.issue({**ZAHRA, "email": "", "name_en": "Someone Else"}).diploma
    with pytest.raises(InvalidInput, match="no email"):
        service.resend_mail(no_email.id)
    service.revoke(diploma.id, "issued_in_error")
    with pytest.raises(Conflict, match="revoked"):
        service.resend_mail(diploma.id)


def test_a_correction_is_mailed(instance: Instance) -> None:
    service = instance.service
    diploma = service.issue(ZAHRA).diploma
    service.correct(diploma.id, {"name_en": "Zahra Mohammadinejad"})
    latest = service.mail_state(diploma.id)
    assert latest is not None and latest.purpose == "corrected:v2:1"
    service.correct(diploma.id, {"email": "zahra.m@example.com"})
    moved = service.mail_state(diploma.id)
    assert moved is not None and moved.purpose == "corrected:v2:2"
    assert moved.recipient == "zahra.m@example.com"
    handler = Recorder()
    with smtp_server(handler) as port:
        assert sender_for(instance, f"smtp://127.0.0.1:{port}").drain().sent == 3
    subjects = [r.message["Subject"] for r in handler.received]
    assert sum("corrected" in s for s in subjects) == 2


def test_settings_never_show_the_password(instance: Instance) -> None:
    from pydantic import SecretStr

    settings = instance.settings.model_copy(
        update={
            "smtp_url": SecretStr(f"smtp://{USER}:{PASSWORD}@mail.example.ac.ir"),
            "smtp_password": SecretStr(PASSWORD),
        }
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


def test_a_batch_is_mailed_and_resent(instance: Instance, tmp_path: Path) -> None:
    import csv

    from diplomas.batches import BatchOptions
    from diplomas.bootstrap import build_batches

    roster = tmp_path / "cohort.csv"
    with roster.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["name", "name_en", "email"])
        writer.writeheader()
        for i in range(3):
            row = holder(i)
            writer.writerow({k: row[k] for k in ("name", "name_en", "email")})
    report = build_batches(instance.service, instance.settings).run(
        roster, BatchOptions(out_dir=tmp_path / "out", workers=1)
    )
    assert report.batch.issued == 3
    handler = Recorder()
    with smtp_server(handler) as port:
        sender = sender_for(instance, f"smtp://127.0.0.1:{port}")
        assert sender.drain().sent == 3
        assert instance.service.resend_batch_mail(report.batch.id, actor="cli:office") == 3
        assert sender.drain().sent == 3
    assert sorted(r.rcpt_tos[0] for r in handler.received) == sorted(
        [f"holder{i}@example.com" for i in range(3)] * 2
    )
