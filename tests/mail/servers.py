"""Real SMTP servers for the mail tests: aiosmtpd in a thread, with handlers that accept,
answer 4xx once, refuse with 5xx, ask for STARTTLS and a password, or speak TLS from the
start; and a bare socket server that hangs up in the middle of DATA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "office", "s3cret-Pa55word-never-logged"
REFUSAL = "5.1.1 mailbox zorbulon-unknown does not exist here"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """Accepts every message and keeps it; `temporary_rcpt` first answers 451 that many
    times; `refuse` answers RCPT with 550 and REFUSAL."""

    received: list[Received] = field(default_factory=list)
    temporary_rcpt: int = 0
    refuse: bool = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return f"550 {REFUSAL}"
        if self.temporary_rcpt > 0:
            self.temporary_rcpt -= 1
            return "451 4.3.0 greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return f"250 2.0.0 Ok: queued as Q{len(self.received)}"


@contextmanager
def smtp_server(handler: Recorder, **options: Any) -> Iterator[int]:
    """aiosmtpd with `handler` on a free loopback port (yielded) until the block ends."""
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def self_signed(folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 made now, and its PEM file (which
    the sender is told to trust through DIPLOMAS_SMTP_CA_FILE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@contextmanager
def hanging_up_server(after_the_end: bool = False) -> Iterator[tuple[int, list[bytes]]]:
    """A server that greets, takes MAIL and RCPT, answers DATA with 354 and then closes the
    connection without waiting for the message; or, `after_the_end`, once it has read the
    whole message with its final '.', without answering. Yields its port and what each
    connection said."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    heard: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                conn.sendall(b"220 hangs-up ESMTP\r\n")
                said = b""
                reader = conn.makefile("rb")
                for line in reader:
                    said += line
                    word = line[:4].upper()
                    if word == b"EHLO":
                        conn.sendall(b"250 hangs-up\r\n")
                    elif word in (b"MAIL", b"RCPT"):
                        conn.sendall(b"250 OK\r\n")
                    elif word == b"DATA":
                        conn.sendall(b"354 go ahead\r\n")
                        if not after_the_end:
                            break
                        for body_line in reader:
                            said += body_line
                            if body_line == b".\r\n":
                                break
                        break
                    else:
                        conn.sendall(b"502 no\r\n")
                heard.append(said)
                conn.shutdown(socket.SHUT_RDWR)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, heard
    finally:
        stop.set()
        thread.join(5)
        listener.close()
