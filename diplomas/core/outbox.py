"""Mail to holders, kept in an outbox: the states of a message and the rules between them.

Pure: no SMTP, no database. The storage adapter (`storage.outbox`) keeps the rows; the
sender (`diplomas.mail.sender`) moves them from state to state by these rules.

A message's life::

    queued --claim--> sending --body sent, terminator not yet--> handed --2xx--> sent
       ^                 |                                          |
       |                 +-- 4xx, dropped, timeout --> queued       +-- 4xx --> queued
       |                 +-- 5xx, or out of attempts --> failed     +-- 5xx --> failed
       +-- a `sending` lease ran out (the sender died) ------------------------+
           a `handed` lease ran out: counted as sent, never sent again

Why `handed`: SMTP cannot be made exactly-once in general. The one moment that decides
whether the server keeps a message is its reading of the final ".". A message is
recorded `handed` in the database just before that terminator is written; a sender that
dies before recording it never sent the terminator, and RFC 5321 (section 4.1.1.4) makes
the server discard such a partial message, so sending it again makes no second copy. A
sender that dies after recording it may or may not have reached the server: we count it
as sent and say so, since a second copy is the worse mistake for a diploma.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal


class MailState(StrEnum):
    QUEUED = "queued"
    """Waiting for its next attempt (`next_attempt_at`)."""
    SENDING = "sending"
    """Claimed by a sender until `lease_until`; the server has not got the final '.'."""
    HANDED = "handed"
    """The whole message but its final '.' was given to the server; the '.' goes next."""
    SENT = "sent"
    FAILED = "failed"
    """Refused for good (a 5xx answer) or out of attempts: sent again only by a resend."""


PENDING_STATES = frozenset({MailState.QUEUED, MailState.SENDING, MailState.HANDED})

BACKOFF: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=15),
)
"""The wait after each temporary failure in turn: about a day in all (24 h 36 min), long
enough for a mail server's outage of a night. After the last, the message is failed."""

MAX_ATTEMPTS = len(BACKOFF) + 1

STOPPED_BEFORE_REPLY = "sent; the sender stopped before the server's reply"
"""What a `handed` message whose sender died is recorded with (see the module)."""

LINK_BATCH_ROWS = 200
"""A batch with more diplomas than this sends each holder her private link, not the PDF:
a few thousand attachments at once would fill the mail server's queue and the holders'
providers' limits."""

MAX_ATTACHED_BYTES = 5 * 1024 * 1024
"""A PDF larger than this goes as the private link: many providers refuse messages past
10 MB, and base64 makes an attachment a third larger."""

PdfDelivery = Literal["attach", "link"]
PDF_DELIVERIES: tuple[PdfDelivery, ...] = ("attach", "link")


@dataclass(frozen=True)
class OutboxMessage:
    """One message to one holder about one diploma."""

    id: str
    """Random and unguessable; the Message-ID is made from it (`message_id`)."""
    diploma_id: str
    purpose: str
    """Why it is sent, unique per diploma: `issued:v1`, `corrected:v2`, `resend:3`."""
    recipient: str
    state: MailState
    attempts: int
    """Attempts that ended in a temporary failure or a reply (not the ones a crash cut)."""
    next_attempt_at: datetime
    created_at: datetime
    lease_until: datetime | None = None
    claimed_by: str = ""
    last_error: str = ""
    """The server's words on the last failure (or what went wrong on the way)."""
    reply: str = ""
    """The server's words on acceptance (its queue id, usually)."""
    sent_at: datetime | None = None


def issued_purpose() -> str:
    return "issued:v1"


def corrected_purpose(version: int, count: int) -> str:
    """A correction's message: its version, and the number of the correction that sent mail
    (a correction of the email alone keeps the version)."""
    return f"corrected:v{version}:{count}"


def resend_purpose(count: int) -> str:
    """The `count`th resend of a diploma's message."""
    return f"resend:{count}"


def message_id(outbox_id: str, public_url_host: str) -> str:
    """The Message-ID of a message: the same on every attempt, so a holder's mail program
    shows a copy sent twice (if it ever is) as one message."""
    return f"<{outbox_id}@{public_url_host or 'diplomas.invalid'}>"


def pdf_delivery(setting: PdfDelivery, batch_size: int, pdf_size: int) -> PdfDelivery:
    """How the PDF goes: as the institution's `mail_pdf` setting says, except that a
    diploma of a batch larger than `LINK_BATCH_ROWS`, or a PDF larger than
    `MAX_ATTACHED_BYTES`, goes as the private link."""
    if setting == "link" or batch_size > LINK_BATCH_ROWS or pdf_size > MAX_ATTACHED_BYTES:
        return "link"
    return "attach"


def after_temporary_failure(attempts: int, now: datetime) -> tuple[MailState, datetime]:
    """The state and next attempt of a message whose attempt number `attempts` (counting
    this one, from 1) failed for now: queued again after its wait, or failed once the
    waits are spent."""
    if attempts >= MAX_ATTEMPTS:
        return MailState.FAILED, now
    return MailState.QUEUED, now + BACKOFF[max(0, attempts - 1)]


def after_lease(state: MailState) -> MailState:
    """What a claimed message becomes when its sender's lease ran out (the sender died or
    hung): see the module for why `sending` is sent again and `handed` is not."""
    if state is MailState.SENDING:
        return MailState.QUEUED
    if state is MailState.HANDED:
        return MailState.SENT
    return state


def reply_kind(code: int) -> Literal["sent", "temporary", "permanent"]:
    """An SMTP reply code's meaning for the message (RFC 5321 section 4.2.1)."""
    if 200 <= code < 300:
        return "sent"
    if 400 <= code < 500:
        return "temporary"
    return "permanent"


def dot_stuffed(body: bytes) -> bytes:
    """The DATA phase's text of a message: CRLF line ends, each line starting with '.'
    given one more, ending with CRLF; without the final '.' line, which the sender writes
    itself once the message is recorded as handed (RFC 5321 section 4.5.2)."""
    lines = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


TERMINATOR = b".\r\n"
