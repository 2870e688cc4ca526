"""The outbox's rules (`core.outbox`) and the SMTP address, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diplomas.core.errors import ConfigurationError
from diplomas.core.outbox import (
    BACKOFF,
    MAX_ATTEMPTS,
    MailState,
    after_lease,
    after_temporary_failure,
    dot_stuffed,
    pdf_delivery,
    reply_kind,
)
from diplomas.mail.smtp import smtp_server

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def test_the_waits_grow_and_the_message_fails_after_about_a_day() -> None:
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        state, at = after_temporary_failure(attempt, NOW)
        assert state is MailState.QUEUED
        waits.append(at - NOW)
    assert waits == list(BACKOFF) and waits == sorted(waits)
    assert timedelta(hours=20) < sum(waits, timedelta()) < timedelta(hours=30)
    assert after_temporary_failure(MAX_ATTEMPTS, NOW) == (MailState.FAILED, NOW)


def test_a_dead_senders_messages() -> None:
    assert after_lease(MailState.SENDING) is MailState.QUEUED  # the '.' never went
    assert after_lease(MailState.HANDED) is MailState.SENT  # never sent twice


def test_reply_codes() -> None:
    assert [reply_kind(c) for c in (250, 451, 550)] == ["sent", "temporary", "permanent"]


def test_the_pdf_goes_as_a_link_for_large_batches_and_files() -> None:
    assert pdf_delivery("attach", 1, 100_000) == "attach"
    assert pdf_delivery("link", 1, 100_000) == "link"
    assert pdf_delivery("attach", 201, 100_000) == "link"
    assert pdf_delivery("attach", 200, 6 * 1024 * 1024) == "link"


@given(st.lists(st.text(alphabet=".ab", max_size=6), max_size=8), st.booleans())
def test_dot_stuffing_round_trips(lines: list[str], crlf: bool) -> None:
    body = ("\r\n" if crlf else "\n").join(lines).encode()
    stuffed = dot_stuffed(body)
    sent = stuffed.split(b"\r\n")
    assert sent.pop() == b""  # every line ends in CRLF
    assert b"." not in sent  # so the terminator is never inside
    unstuffed = [line[1:] if line.startswith(b".") else line for line in sent]
    expected = [line.encode() for line in lines]
    if expected and expected[-1] == b"":
        expected.pop()  # a body ending in a line break has no empty last line
    assert unstuffed == expected


def test_smtp_addresses() -> None:
    plain = smtp_server("smtp://office:pa%24%24@mail.example.ac.ir")
    assert (plain.host, plain.port, plain.implicit_tls, plain.user) == (
        "mail.example.ac.ir",
        587,
        False,
        "office",
    )
    assert plain.password is not None and plain.password.get_secret_value() == "pa$$"
    assert "pa$$" not in repr(plain) and "pa$$" not in plain.shown
    tls = smtp_server("smtps://mail.example.ac.ir")
    assert (tls.port, tls.implicit_tls, tls.user) == (465, True, "")
    for wrong in ("http://office:hunter2@x", "smtp://office:hunter2@", "smtp://h:99999"):
        with pytest.raises(ConfigurationError) as caught:
            smtp_server(wrong)
        assert "hunter2" not in str(caught.value)


def test_the_message_is_seven_bit_and_names_everything_in_both_languages() -> None:
    from email import message_from_bytes, policy

    from diplomas.core.outbox import dot_stuffed
    from diplomas.mail.compose import Letter, compose

    letter = Letter(
        name="زهرا محمدی‌نژاد",
        name_en="Zahra Mohamadinejad",
        award="دیپلم کارآفرینی",
        award_en="Entrepreneurship Diploma",
        serial="TBZMED-1405-000001",
        institution="دانشگاه علوم پزشکی تبریز",
        institution_en="Tabriz University of Medical Sciences",
        verify_url="https://diplomas.example.ac.ir/v/abc",
    )
    message = compose(
        letter,
        sender="Office <office@example.ac.ir>",
        recipient="zahra@example.com",
        message_id="<m1@diplomas.example.ac.ir>",
        date=NOW,
        pdf=b"%PDF-1.7\n.\n%%EOF\n",
    )
    raw = message.as_bytes(policy=policy.SMTP)
    assert max(raw) < 128  # 7-bit: no server needs 8BITMIME
    parsed = message_from_bytes(raw, policy=policy.default)
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for words in ("زهرا محمدی‌نژاد", "دیپلم کارآفرینی", "Entrepreneurship Diploma", "/v/abc"):
        assert words in html
    [pdf] = list(parsed.iter_attachments())  # type: ignore[attr-defined]
    assert pdf.get_content() == b"%PDF-1.7\n.\n%%EOF\n"
    assert b"\r\n.\r\n" not in dot_stuffed(raw)


def test_a_resend_leaves_the_verdict_cache_alone() -> None:
    from diplomas.core.audit import AuditAction, Change
    from diplomas.verdicts import affected

    assert affected([Change(1, AuditAction.MAIL_RESENT, "some-diploma")]) == (set(), False)
