"""What every command shares: the consoles, the settings, and errors turned into exits."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

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
    Unauthorized,
)

out = Console()
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines, paths uncut

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
            err.print(f"[red]error[/red]: {problem.field}: {problem.message}", highlight=False)
        raise typer.Exit(EXIT_INVALID_INPUT) from None
    except NotFound as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(EXIT_NOT_FOUND) from None
    except (ConfigurationError, KeyStoreError) as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    except (Unauthorized, Forbidden, DiplomaError) as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(EXIT_INVALID_INPUT) from None


def quiet_pdf_libraries() -> None:
    """pyHanko logs a traceback for each signature it cannot build a path for (a
    co-issuer whose bundle was not given, a forged signer); the verdict already says it
    in words, and a traceback on the terminal reads like a crash."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def load_settings() -> Settings:
    return Settings()


def load_service() -> DiplomaService:
    from ..bootstrap import build_service

    return build_service(load_settings())
