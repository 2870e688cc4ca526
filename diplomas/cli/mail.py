"""`diplomas mail`: send what the outbox holds, see each message's state, resend."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from ..core.errors import ConfigurationError
from ..core.outbox import OutboxMessage
from .audit import current_actor
from .console import errors_to_exit, load_service, load_settings, out, warning

mail_app = typer.Typer(help="Mail to holders: send, see and resend.", no_args_is_help=True)


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def mail_line(message: OutboxMessage | None) -> str:
    """A diploma's mail state in a few words, as `diplomas show` prints it."""
    if message is None:
        return "none (no email)"
    state = message.state.value
    if message.sent_at is not None and message.state.value == "sent":
        return f"sent {_moment(message.sent_at)} to {message.recipient}"
    line = f"{state} to {message.recipient}, {message.attempts} attempt(s)"
    if message.state.value == "queued" and message.attempts:
        line += f", next {_moment(message.next_attempt_at)}"
    if message.last_error:
        line += f"; last answer: {message.last_error}"
    return line


def mail_json(message: OutboxMessage | None) -> dict[str, Any] | None:
    if message is None:
        return None
    return {
        "state": message.state.value,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "sent_at": None if message.sent_at is None else message.sent_at.isoformat(),
    }


@mail_app.command("send")
def send(
    forever: Annotated[
        bool, typer.Option("--forever", help="Keep sending as messages fall due (Ctrl-C stops).")
    ] = False,
    idle: Annotated[
        float, typer.Option(help="With --forever: seconds to wait when nothing is due.")
    ] = 5.0,
) -> None:
    """Send the messages that are due now (for cron, or a process of its own with
    --forever). Any number of senders may run at once; each message goes once."""
    from ..mail.sender import MailSender, mail_configured

    with errors_to_exit():
        settings = load_settings()
        if not mail_configured(settings):
            raise ConfigurationError(
                "mail is not set up: set DIPLOMAS_SMTP_URL (smtp://host or smtps://host) "
                "and DIPLOMAS_SMTP_FROM; until then messages wait in the outbox"
            )
        service = load_service()
        sender = MailSender.from_settings(settings, service)
        if forever:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            sender.run_forever(stop, idle_seconds=idle)
            return
        report = sender.drain()
    out.print(
        f"sent {report.sent}, to try again later {report.retried}, failed {report.failed}"
        + (f", waiting for their PDF {report.deferred}" if report.deferred else ""),
        highlight=False,
    )


@mail_app.command("status")
def status(
    reference: Annotated[
        str,
        typer.Argument(metavar="[ID-OR-SERIAL]", help="One diploma's messages (all by default)."),
    ] = "",
    limit: Annotated[int, typer.Option(help="At most this many messages.")] = 50,
) -> None:
    """Messages to holders, newest first, with their state: queued, sending, handed
    (given to the server, its answer not yet heard), sent, failed."""
    from ..mail.sender import mail_configured

    with errors_to_exit():
        settings = load_settings()
        service = load_service()
        messages = service.mail_messages(reference.strip(), max(1, min(limit, 1000)))
        counts = service.mail_counts() if not reference else {}
    if not mail_configured(settings):
        warning("mail is not set up (DIPLOMAS_SMTP_URL): messages wait in the outbox")
    if counts:
        out.print(
            ", ".join(f"{state} {n}" for state, n in sorted(counts.items())),
            highlight=False,
        )
    if not messages:
        out.print("no messages", highlight=False)
        return
    table = Table("diploma", "purpose", "to", "state", "attempts", "when", "server's answer")
    for m in messages:
        when = _moment(m.sent_at) if m.sent_at else _moment(m.next_attempt_at)
        table.add_row(
            m.diploma_id,
            m.purpose,
            m.recipient,
            m.state.value,
            str(m.attempts),
            when,
            m.last_error or m.reply,
        )
    out.print(table)


@mail_app.command("resend")
def resend(
    reference: Annotated[
        str,
        typer.Argument(metavar="[ID-OR-SERIAL]", help="The diploma whose message to send again."),
    ] = "",
    batch: Annotated[
        str, typer.Option("--batch", metavar="BATCH_ID", help="Every diploma of this batch.")
    ] = "",
) -> None:
    """Queue a new message to a holder (or to every holder of a batch): sent by the next
    `diplomas mail send` or by the server's sender."""
    from ..mail.sender import mail_configured

    if bool(reference.strip()) == bool(batch.strip()):
        out.print("give a diploma's ID-OR-SERIAL, or --batch BATCH_ID (one of them)")
        raise typer.Exit(2)
    with errors_to_exit():
        settings = load_settings()
        service = load_service()
        if batch:
            count = service.resend_batch_mail(batch.strip(), actor=current_actor())
            out.print(f"queued {count} message(s) to the holders of batch {batch}")
        else:
            message = service.resend_mail(reference, actor=current_actor())
            out.print(f"queued a message to {message.recipient}", highlight=False)
    if not mail_configured(settings):
        warning("mail is not set up (DIPLOMAS_SMTP_URL): the messages wait in the outbox")
