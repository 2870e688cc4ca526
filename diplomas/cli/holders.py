"""`diplomas holder-link`: a holder's private link, shown or renewed."""

from __future__ import annotations

from typing import Annotated

import typer

from . import corrections
from .audit import current_actor
from .console import EXIT_INVALID_INPUT, err, error, errors_to_exit, load_service, out


def holder_link(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="ID-OR-SERIAL", help="The diploma's id, or the serial printed on it."
        ),
    ],
    renew: Annotated[
        bool,
        typer.Option(
            "--renew",
            help="End every copy of the link given so far and make a new one (asks first).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Do not ask for confirmation (for scripts).")
    ] = False,
) -> None:
    """Print the holder's private link (her page, PDF and credential); with --renew, end
    the old link (a forwarded email, a lost manifest) and print the new one."""
    with errors_to_exit():
        service = load_service()
        diploma = service.find_reference(reference)
        if not renew:
            out.print(service.holder_url(diploma.id), highlight=False, soft_wrap=True)
            return
    if not yes:
        if not corrections.stdin_is_terminal():
            error("not renewed: confirm in a terminal, or give --yes to renew without asking")
            raise typer.Exit(EXIT_INVALID_INPUT)
        err.print(
            f"Renewing ends the link that {diploma.serial}'s holder has now; "
            "you send her the new one.",
            highlight=False,
        )
        if not typer.confirm("Renew it?", default=False):
            error("not renewed")
            raise typer.Exit(EXIT_INVALID_INPUT)
    with errors_to_exit():
        url = service.renew_holder_link(diploma.id, actor=current_actor())
    err.print(f"renewed: the old link of {diploma.serial} opens nothing now", highlight=False)
    out.print(url, highlight=False, soft_wrap=True)
