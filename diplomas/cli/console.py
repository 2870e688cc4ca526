"""What every command shares: the consoles, the settings, and errors turned into exits."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from ..config import Settings

if TYPE_CHECKING:
    from ..service import DiplomaService
from ..core.errors import (
    ConfigurationError,
    DiplomaError,
    Forbidden,
    InvalidInput,
    KeyStoreError,
    NotFound,
    StorageUnavailable,
    Unauthorized,
)

# No markup: names, serials, certificate subjects, file names and reasons come from
# rosters, PDFs and records made by others, and "[bold green]VALID[/]" in a certificate's
# name must print as those characters, not as a styled verdict. Styles go in as `style=`.
out = Console(markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)  # whole lines, paths uncut


def say(console: Console, label: str, style: str, message: str = "") -> None:
    """`label: message`, the label styled, the message printed as the characters it holds."""
    console.print(Text.assemble((label, style), f": {message}" if message else ""))


def error(message: str) -> None:
    say(err, "error", "red", message)


def warning(message: str) -> None:
    say(err, "warning", "yellow", message)


EXIT_NOT_GENUINE = 1
EXIT_INVALID_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFIG = 4


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn the service's errors into a message on stderr and a distinct exit code."""
    try:
        yield
    except InvalidInput as exc:
        for problem in exc.problems:
            error(f"{problem.field}: {problem.message}")
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    except NotFound as exc:
        error(str(exc))
        raise typer.Exit(EXIT_NOT_FOUND) from None
    except (ConfigurationError, KeyStoreError) as exc:
        error(str(exc))
        raise typer.Exit(EXIT_CONFIG) from None
    except StorageUnavailable as exc:
        error(
            f"the database does not answer ({exc}); nothing was changed. "
            "Check DIPLOMAS_DATABASE_URL and that the database runs, then run the command again"
        )
        raise typer.Exit(EXIT_CONFIG) from None
    except (Unauthorized, Forbidden, DiplomaError) as exc:
        error(str(exc))
        raise typer.Exit(EXIT_INVALID_INPUT) from None


def quiet_pdf_libraries() -> None:
    """pyHanko logs a traceback for each signature it cannot build a path for (a
    co-issuer whose bundle was not given, a forged signer); the verdict already says it
    in words, and a traceback on the terminal reads like a crash."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def load_settings() -> Settings:
    from ..config import load_settings as from_environment

    with errors_to_exit():
        return from_environment()


def load_service() -> DiplomaService:
    from ..bootstrap import build_service

    return build_service(load_settings())
