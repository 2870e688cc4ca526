"""The sender: takes due messages from the outbox and gives them to the SMTP server.

`diplomas serve` runs one in a thread when DIPLOMAS_SMTP_URL is set; `diplomas mail send`
runs one in the foreground (once, or `--forever`). Any number may run at once: each
message is claimed by one of them (`storage.outbox`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import parseaddr
from urllib.parse import urlsplit

from ..config import Settings
from ..core.errors import ConfigurationError
from ..core.model import Diploma, DiplomaStatus
from ..core.outbox import (
    MailState,
    OutboxMessage,
    after_temporary_failure,
    message_id,
    pdf_delivery,
)
from ..service import DiplomaService
from ..storage.outbox import SqlOutbox
from .compose import Letter, compose
from .smtp import ClaimLost, PermanentFailure, SmtpTransport, TemporaryFailure, smtp_server

log = logging.getLogger("diplomas.mail")

PDF_WAIT = timedelta(minutes=10)
"""How long a message waits for its diploma's PDF to be made (a batch still printing)
before the sender makes it itself."""
DEFERRED = timedelta(seconds=30)
CLAIMED_AT_ONCE = 20


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0
    recovered: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.deferred


def mail_configured(settings: Settings) -> bool:
    return settings.smtp_url is not None


def transport_for(settings: Settings) -> SmtpTransport:
    """The SMTP transport the settings name; ConfigurationError if none is set."""
    if settings.smtp_url is None:
        raise ConfigurationError(
            "mail is not set up: set DIPLOMAS_SMTP_URL (and DIPLOMAS_SMTP_FROM); until then "
            "messages wait in the outbox"
        )
    server = smtp_server(
        settings.smtp_url.get_secret_value(), settings.smtp_user, settings.smtp_password
    )
    return SmtpTransport(
        server, timeout=settings.smtp_timeout_seconds, ca_file=settings.smtp_ca_file
    )


class MailSender:
    def __init__(
        self,
        service: Callable[[], DiplomaService],
        outbox: SqlOutbox,
        transport: SmtpTransport,
        *,
        sender_address: str,
        lease: timedelta,
        secrets: tuple[str, ...] = (),
        name: str = "",
    ) -> None:
        self._service = service
        self.outbox = outbox
        self.transport = transport
        self.sender_address = sender_address
        self.lease = lease
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._secrets = tuple(s for s in secrets if s)
        self._stop = threading.Event()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        current: DiplomaService,
        follow: Callable[[], DiplomaService] | None = None,
    ) -> MailSender:
        """A sender as the settings say, sending with `current`, or with what `follow`
        returns at each message (a server's service, rebuilt when its settings change)."""
        if not isinstance(current.outbox, SqlOutbox):
            raise ConfigurationError("this service was built without an outbox")
        transport = transport_for(settings)
        host = urlsplit(current.institution.public_url).hostname or "localhost"
        sender = settings.smtp_from or f"{current.institution.name_en} <no-reply@{host}>"
        password = transport.server.password
        return cls(
            follow or (lambda: current),
            current.outbox,
            transport,
            sender_address=sender,
            lease=timedelta(seconds=settings.mail_lease_seconds),
            secrets=(password.get_secret_value(),) if password else (),
        )

    def _clean(self, words: str) -> str:
        """The server's words as stored and logged: never with the password in them (a
        server that echoes what it was sent, say)."""
        for secret in self._secrets:
            words = words.replace(secret, "********")
        return words

    def send_due(self, now: datetime | None = None, limit: int = CLAIMED_AT_ONCE) -> SendReport:
        """Settle the messages of senders that died, then send up to `limit` due ones."""
        report = SendReport()
        at = now or datetime.now(UTC)
        report.recovered = self.outbox.recover(at)
        claimed = self.outbox.claim(self.name, at, self.lease, limit)
        for index, message in enumerate(claimed):
            if datetime.now(UTC) > at + self.lease / 2 or self._stop.is_set():
                # A slow server: hand the rest back before their lease runs out, rather
                # than have another sender take them up while this one still holds them;
                # or stopping: hand them back for the next sender at once.
                for rest in claimed[index:]:
                    self.outbox.release(rest)
                break
            self._send(message, report, at)
        return report

    def drain(self) -> SendReport:
        """Send every message due now (until a round sends nothing)."""
        total = SendReport()
        while True:
            report = self.send_due()
            for name in ("sent", "retried", "failed", "deferred", "recovered"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if report.handled == 0 or report.handled == report.deferred:
                return total

    def run_forever(self, stop: threading.Event, idle_seconds: float = 5.0) -> None:
        """Send what is due until `stop` is set, waiting `idle_seconds` when nothing is."""
        self._stop = stop
        while not stop.is_set():
            try:
                report = self.send_due()
            except Exception:  # the database away, say: try again after a pause
                log.exception("the mail sender could not read the outbox")
                stop.wait(idle_seconds)
                continue
            if report.handled == 0:
                stop.wait(idle_seconds)

    def _send(self, message: OutboxMessage, report: SendReport, now: datetime) -> None:
        """Send one claimed message; `now` is the moment of this round (the times it
        records are counted from it)."""
        service = self._service()
        try:
            diploma = service.repository.get(message.diploma_id)
            if diploma is None or diploma.status is DiplomaStatus.REVOKED:
                why = "not sent: the diploma was revoked"
                self.outbox.mark_failed_attempt(message, MailState.FAILED, now, why)
                report.failed += 1
                return
            attachment = self._attachment(service, diploma, message, now)
            if attachment is False:
                self.outbox.defer(message, now + DEFERRED, "waiting for the PDF to be made")
                report.deferred += 1
                return
            pdf = attachment if isinstance(attachment, bytes) else None
            host = urlsplit(diploma.institution.public_url).hostname or ""
            email = compose(
                Letter.of(diploma, corrected=message.purpose.startswith("corrected:")),
                sender=self.sender_address,
                recipient=message.recipient,
                message_id=message_id(message.id, host),
                date=now,
                pdf=pdf,
                link=service.mail_link(diploma),
            )
            body = email.as_bytes(policy=policy.SMTP)
        except Exception as exc:
            self._retry(
                message, f"the message could not be made: {type(exc).__name__}", report, now
            )
            log.exception("mail %s: the message could not be made", message.id)
            return
        envelope_from = parseaddr(self.sender_address)[1] or self.sender_address
        try:
            reply = self.transport.deliver(
                envelope_from,
                message.recipient,
                body,
                # The lease from the real moment of handing (a round's `now` may be old).
                lambda: self.outbox.mark_handed(message, max(now, datetime.now(UTC)), self.lease),
            )
        except ClaimLost:
            log.warning("mail %s: taken over by another sender; left to it", message.id)
        except TemporaryFailure as exc:
            self._retry(message, str(exc), report, now)
        except PermanentFailure as exc:
            words = self._clean(str(exc))
            self.outbox.mark_failed_attempt(message, MailState.FAILED, now, words)
            log.warning("mail %s (diploma %s): refused: %s", message.id, diploma.id, words)
            report.failed += 1
        else:
            self.outbox.mark_sent(message, now, self._clean(reply))
            log.info("mail %s (diploma %s): sent", message.id, diploma.id)
            report.sent += 1

    def _retry(self, message: OutboxMessage, error: str, report: SendReport, now: datetime) -> None:
        words = self._clean(error)
        state, at = after_temporary_failure(message.attempts + 1, now)
        self.outbox.mark_failed_attempt(message, state, at, words)
        if state is MailState.FAILED:
            log.warning(
                "mail %s: failed after %d attempts: %s", message.id, message.attempts + 1, words
            )
            report.failed += 1
        else:
            log.info("mail %s: will try again at %s: %s", message.id, at.isoformat(), words)
            report.retried += 1

    def _attachment(
        self, service: DiplomaService, diploma: Diploma, message: OutboxMessage, now: datetime
    ) -> bytes | bool:
        """The PDF to attach; True when the link goes instead; False when the PDF is not
        made yet (a batch prints after it stores) and the message should wait for it."""
        setting = diploma.institution.mail_pdf
        batch_id = service.repository.batch_of(diploma.id)
        batch = service.batches.get(batch_id) if batch_id else None
        size = batch.valid_rows if batch is not None else 1
        if pdf_delivery(setting, size, 0) == "link":
            return True
        if not diploma.pdf_sha256 and now - message.created_at < PDF_WAIT:
            return False
        pdf = service.pdf(diploma.id)
        return True if pdf_delivery(setting, size, len(pdf)) == "link" else pdf


class SenderThread:
    """The sender `diplomas serve` runs beside the app (as `BatchQueue` runs batches):
    started with the app, stopped with it, always sending with the app's current
    service."""

    def __init__(self, sender: MailSender, idle_seconds: float = 5.0) -> None:
        self.sender = sender
        self.idle_seconds = idle_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mail-sender", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        self.sender.run_forever(self._stop, self.idle_seconds)

    def stop(self) -> None:
        """Stop after the message being sent, if any (at most the SMTP timeout)."""
        self._stop.set()
        # One SMTP step at most; a message cut short is safe (see `core.outbox`).
        self._thread.join(self.sender.transport.timeout + 5)
