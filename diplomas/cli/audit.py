"""`diplomas audit ...`: the append-only audit log.

    list [--limit N] [--json]    the newest entries, newest first
    verify [--json]              check the hash chain; exit code 0 only if it is intact

Neither needs the key passphrase: whoever may read the database may check the log.
"""

from __future__ import annotations

import getpass
import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ..core.audit import AuditEntry, cli_actor, utc_text
from .console import EXIT_NOT_GENUINE, err, errors_to_exit, load_settings, out, say

if TYPE_CHECKING:
    from ..core.audit import AuditAction

audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


def current_actor() -> str:
    """`cli:<user>` for the person running the command."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    return cli_actor(user)


def record_event(action: AuditAction, details: dict[str, Any], subject: str = "") -> None:
    """Record a command's event that has no database change of its own (key events)."""
    from ..bootstrap import record_audit_event

    record_audit_event(load_settings(), current_actor(), action, details, subject)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": utc_text(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": dict(entry.details),
        "prev_hash": entry.prev_hash,
        "hash": entry.recorded_hash or entry.digest(),
    }


def _summary(entry: AuditEntry) -> str:
    d = entry.details
    if "diplomas" in d:
        listed = d["diplomas"]
        return f"{len(listed)} diploma(s) of batch {d.get('batch') or '-'}"
    parts = [f"{k}={v}" for k, v in d.items() if not isinstance(v, list | dict)]
    return ", ".join(parts)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=0, help="How many of the newest entries.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array).")] = False,
) -> None:
    """Show the newest entries of the audit log, newest first."""
    from ..bootstrap import open_audit_log

    with errors_to_exit():
        log, engine = open_audit_log(load_settings())
        try:
            entries = log.entries(limit)
        finally:
            engine.dispose()
    if as_json:
        out.print_json(json.dumps([entry_json(e) for e in entries], ensure_ascii=False))
        return
    table = Table()
    table.add_column("#", no_wrap=True)
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("what", no_wrap=True)
    for title in ("who", "about", "details"):
        table.add_column(title, overflow="fold")
    for e in entries:
        when = utc_text(e.at)[:19].replace("T", " ")
        table.add_row(str(e.seq), when, e.action, e.actor, e.subject, _summary(e))
    out.print(table)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the hash chain of the whole log: exit code 0 only if no entry was edited,
    deleted, reordered or cut off; otherwise name the first broken entry and why."""
    from ..bootstrap import open_audit_log

    with errors_to_exit():
        log, engine = open_audit_log(load_settings())
        try:
            verdict = log.verify()
        finally:
            engine.dispose()
    if as_json:
        result = {
            "intact": verdict.intact,
            "checked": verdict.checked,
            "head": {"seq": verdict.head.seq, "hash": verdict.head.hash},
            "broken_at": verdict.broken_at,
            "reasons": list(verdict.reasons),
        }
        out.print_json(json.dumps(result))
    elif verdict.intact:
        say(
            out,
            "INTACT",
            "bold green",
            f"{verdict.checked} entries, head {verdict.head.seq} {verdict.head.hash}",
        )
    else:
        where = f"entry {verdict.broken_at}" if verdict.broken_at is not None else "the log"
        err.print(Text.assemble(("BROKEN", "bold red"), f" at {where}"))
        for reason in verdict.reasons:
            err.print(f"- {reason}", highlight=False)
        err.print(f"{verdict.checked} entries before it are intact", highlight=False)
    if not verdict.intact:
        raise typer.Exit(EXIT_NOT_GENUINE)
