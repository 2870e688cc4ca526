"""The institution's SMTP server, through the standard library's `smtplib`.

`deliver` walks the SMTP dialogue itself for the DATA phase (smtplib's public `putcmd`,
`getreply` and `send`), because it must stop between the message's body and its final
'.' to let the caller record the message as handed (see `core.outbox`).

The password is kept in a `SecretStr` and given to `login` only: it is in no error, log
line or `repr`.
"""

from __future__ import annotations

import select
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from ..core.errors import ConfigurationError
from ..core.outbox import TERMINATOR, dot_stuffed, reply_kind


class DeliveryError(Exception):
    """An attempt that did not end in the server's acceptance; `str()` is the server's
    words (or what went wrong on the way)."""


class TemporaryFailure(DeliveryError):
    """Try again later: a 4xx reply, a dropped connection, a timeout, a refused TLS."""


class PermanentFailure(DeliveryError):
    """A 5xx reply to the message: sending it again would be refused again."""


class ClaimLost(DeliveryError):
    """The message was no longer the sender's when it came to hand it over (its lease ran
    out): the final '.' was not sent, so the server discards what it got."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    """smtps://: TLS from the first byte; smtp://: STARTTLS when offered (or required)."""
    user: str = ""
    password: SecretStr | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """The server as logs and messages name it (never with the password)."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        who = f"{self.user}@" if self.user else ""
        return f"{scheme}://{who}{self.host}:{self.port}"


def smtp_server(url: str, user: str | None = None, password: SecretStr | None = None) -> SmtpServer:
    """The server a `DIPLOMAS_SMTP_URL` names; user and password from the URL, unless
    DIPLOMAS_SMTP_USER / _PASSWORD (`user`, `password`) give them. ConfigurationError
    says what is wrong without repeating the URL (it may hold the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigurationError(
            "DIPLOMAS_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (TLS)"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError("DIPLOMAS_SMTP_URL has a port that is not a number") from None
    if not parts.hostname:
        raise ConfigurationError("DIPLOMAS_SMTP_URL names no host: smtp://mail.example.ac.ir")
    implicit = parts.scheme == "smtps"
    secret = password
    if secret is None and parts.password:
        secret = SecretStr(unquote(parts.password))
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        user=user or unquote(parts.username or ""),
        password=secret,
    )


def _words(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(said.split())}".strip()


class SmtpTransport:
    """One connection per message: a sender sends a few hundred an hour at most, and a
    fresh connection leaves no half-state behind a failure."""

    def __init__(
        self,
        server: SmtpServer,
        *,
        timeout: float,
        ca_file: Path | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self.local_hostname = local_hostname

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        if s.implicit_tls:
            return smtplib.SMTP_SSL(
                s.host,
                s.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self.context,
            )
        return smtplib.SMTP(
            s.host, s.port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def deliver(
        self, mail_from: str, recipient: str, message: bytes, handed: Callable[[], bool]
    ) -> str:
        """Send `message` (CRLF or LF lines) to `recipient`; the server's words when it
        accepts it. `handed` is called once the body is with the server and before its
        final '.': it records the message as handed and says whether the message is
        still ours (False: ClaimLost, nothing more is sent).

        TemporaryFailure or PermanentFailure otherwise. A connection that drops after
        `handed` returned True is not a failure: the server may have the message, and
        sending it again could make a second copy (see `core.outbox`); the words say so."""
        try:
            connection = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"cannot reach {self.server.shown}: {_reason(exc)}") from None
        handed_over = False
        try:
            if connection.sock is not None:
                # The final '.' goes in a write of its own, after the body: without this,
                # Nagle's algorithm holds it back until the server's delayed ACK (40 ms).
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._greet(connection)
            self._expect(connection.mail(mail_from), "MAIL FROM", permanent=False)
            self._expect(connection.rcpt(recipient), "RCPT TO")
            code, text = connection.docmd("DATA")
            if code != 354:
                self._expect((code, text), "DATA")
            connection.send(dot_stuffed(message))
            self._no_early_word(connection)
            if not handed():
                raise ClaimLost("the message was taken over by another sender")
            handed_over = True
            connection.send(TERMINATOR)
            code, text = connection.getreply()
            if code == -1:  # smtplib's "connection closed": nothing was said
                raise smtplib.SMTPServerDisconnected("connection closed")
            self._expect((code, text), "the message")
            return _words(code, text)
        except DeliveryError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            if handed_over:
                return f"handed; the connection ended before the server's reply ({_reason(exc)})"
            raise TemporaryFailure(f"{self.server.shown}: {_reason(exc)}") from None
        finally:
            try:
                if handed_over:
                    connection.quit()
                else:
                    connection.close()  # never QUIT before the '.': nothing must be kept
            except (OSError, smtplib.SMTPException):
                connection.close()

    def _greet(self, connection: smtplib.SMTP) -> None:
        s = self.server
        self._expect(connection.ehlo(), "EHLO", permanent=False)
        if not s.implicit_tls:
            if connection.has_extn("starttls"):
                self._expect(connection.starttls(context=self.context), "STARTTLS", False)
                self._expect(connection.ehlo(), "EHLO", permanent=False)
            elif s.user:
                # Credentials never cross the network in the clear.
                raise TemporaryFailure(
                    f"{s.shown} does not offer STARTTLS, and a password is never sent "
                    "without it: use smtps://, or a server that offers STARTTLS"
                )
        if s.user:
            password = s.password.get_secret_value() if s.password else ""
            try:
                connection.login(s.user, password)
            except smtplib.SMTPAuthenticationError as exc:
                # Temporary, though the server says 535: it is the settings that are wrong,
                # and every holder's message would be failed for good otherwise.
                said = _words(exc.smtp_code, exc.smtp_error)
                raise TemporaryFailure(f"{s.shown} refused the user and password: {said}") from None

    def _no_early_word(self, connection: smtplib.SMTP) -> None:
        """TemporaryFailure if the server spoke or hung up before the end of the message
        (it owes no reply until the final '.'): then it surely has not kept it, and the
        message is not recorded as handed."""
        sock = connection.sock
        if sock is None:
            raise TemporaryFailure(f"{self.server.shown} closed the connection during DATA")
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if pending or select.select([sock], [], [], 0)[0]:
            try:
                code, text = connection.getreply()
            except smtplib.SMTPServerDisconnected:
                code, text = -1, b""
            if code == -1:
                raise TemporaryFailure(f"{self.server.shown} closed the connection during DATA")
            self._expect((code, text), "the message, before its end")

    @staticmethod
    def _expect(reply: tuple[int, bytes], step: str, permanent: bool = True) -> None:
        """Nothing for a 2xx (or 3xx) reply to `step`; else the failure it means. A 5xx
        fails the message for good only where it is about the message (`permanent`: the
        recipient, the data): one to the greeting or to our own address is about the
        server or our settings, and is tried again."""
        code, text = reply
        kind = reply_kind(code)
        if kind == "sent" or 300 <= code < 400:
            return
        words = _words(code, text)
        if kind == "temporary" or not permanent:
            raise TemporaryFailure(f"{words} (to {step})")
        raise PermanentFailure(words)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return _words(exc.smtp_code, exc.smtp_error)
    return str(exc) or type(exc).__name__
