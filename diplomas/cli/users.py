"""`diplomas users add|list|disable|reset` and `diplomas tokens list|revoke`.

A password is read from stdin (`--password-stdin`, one line) or, in a terminal, asked for
twice without echo; never taken as an option (shell history, `ps`), never printed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from ..core.errors import FieldProblem, InvalidInput
from ..core.ports import TokenRecord
from ..core.users import MIN_PASSWORD_LENGTH, User
from .audit import current_actor
from .console import EXIT_INVALID_INPUT, error, errors_to_exit, load_service, out

users_app = typer.Typer(
    help="The office's people: who may sign in, and as what.", no_args_is_help=True
)
tokens_app = typer.Typer(help="API tokens: list and revoke.", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
]


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or asked twice in a terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not stdin_is_terminal():
        error("no password: pipe it with --password-stdin, or run the command in a terminal")
        raise typer.Exit(EXIT_INVALID_INPUT)
    password: str = typer.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
        hide_input=True,
        confirmation_prompt="Repeat the password",
    )
    return password


def _day(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="The user's email; they sign in with it.")],
    institution: Annotated[
        str, typer.Option(metavar="SLUG", help="The institution the user belongs to.")
    ],
    role: Annotated[str, typer.Option(help="viewer, issuer, approver or admin.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user of an institution with a role and a password (hashed with argon2id)."""
    with errors_to_exit():
        service = load_service()
        service.check_new_user(email, institution, role)  # said before a password is asked
    password = read_password(password_stdin)
    with errors_to_exit():
        user = service.add_user(email, institution, role, password, actor=current_actor())
    out.print(f"added {user.email}: {user.role.value} of {user.institution}", highlight=False)


@users_app.command("list")
def users_list() -> None:
    """Every user, disabled ones included."""
    with errors_to_exit():
        users = load_service().list_users()
    if not users:
        out.print("no users yet: add one with 'diplomas users add'", highlight=False)
        return
    table = Table("email", "institution", "role")
    table.add_column("status", no_wrap=True)
    table.add_column("added (UTC)", no_wrap=True)
    for user in users:
        table.add_row(
            user.email, user.institution, user.role.value, _user_status(user), _day(user.created_at)
        )
    out.print(table)


def _user_status(user: User) -> str:
    return "active" if user.disabled_at is None else f"disabled {_day(user.disabled_at)}"


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Disable a user: their API tokens stop working at once. Nothing is deleted."""
    with errors_to_exit():
        user = load_service().disable_user(email, actor=current_actor())
    out.print(f"disabled {user.email}; their tokens no longer work", highlight=False)


@users_app.command("reset")
def users_reset(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password for a user (their tokens keep working)."""
    with errors_to_exit():
        service = load_service()
        service.user(email)  # an unknown user is said before a password is asked for
    password = read_password(password_stdin)
    with errors_to_exit():
        user = service.reset_password(email, password, actor=current_actor())
    out.print(f"set a new password for {user.email}", highlight=False)


def token_status(token: TokenRecord, now: datetime, owner: User | None = None) -> str:
    """What `authenticate` would make of the token: live, revoked, expired, or refused
    because its owner is disabled."""
    if token.revoked_at is not None:
        return f"revoked {_day(token.revoked_at)}"
    if token.expires_at is not None and now >= token.expires_at:
        return f"expired {_day(token.expires_at)}"
    if owner is not None and owner.disabled_at is not None:
        return f"owner disabled {_day(owner.disabled_at)}"
    return "live" if token.expires_at is None else f"live until {_day(token.expires_at)}"


@tokens_app.command("list")
def tokens_list() -> None:
    """Every API token (never its secret): name, owner, scopes, and whether it works."""
    with errors_to_exit():
        service = load_service()
        tokens = service.list_tokens()
        owners = {user.id: user for user in service.list_users()}
        now = service.clock.now()
    if not tokens:
        out.print("no tokens yet: create one with 'diplomas token create'", highlight=False)
        return
    table = Table()
    table.add_column("id", no_wrap=True)
    for title in ("name", "owner", "scopes"):
        table.add_column(title, overflow="fold")
    table.add_column("status (UTC)", no_wrap=True)
    for t in tokens:
        table.add_row(
            t.token_id,
            t.name,
            t.owner_email or "(none)",
            ",".join(sorted(t.scopes)),
            token_status(t, now, owners.get(t.owner_id or "")),
        )
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (tokens list).")],
) -> None:
    """Revoke a token: it is refused from now on. Final."""
    with errors_to_exit():
        if not token_id.strip():
            raise InvalidInput(FieldProblem("id", "is required"))
        token = load_service().revoke_token(token_id.strip(), actor=current_actor())
    out.print(f"revoked token {token.token_id} ({token.name or 'unnamed'})", highlight=False)
