"""The command line as an admin runs it, in-process: an instance's environment and a runner."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from diplomas.cli.main import app

_runner = CliRunner()


def cli_environment(tmp: Path) -> dict[str, str]:
    """The variables of a fresh instance under `tmp` (SQLite, keys, passphrase)."""
    return {
        "DIPLOMAS_HOME": str(tmp / "var"),
        "DIPLOMAS_KEYS_DIR": str(tmp / "keys"),
        "DIPLOMAS_KEY_PASSPHRASE": "a long test passphrase",
        "DIPLOMAS_DATABASE_URL": "",
    }


def invoke(env: dict[str, str], *args: str, code: int = 0, input: str | None = None) -> Result:
    """Run the command in-process; `input` is what it reads on stdin."""
    result = _runner.invoke(app, list(args), env=env, input=input)
    assert result.exit_code == code, result.output
    return result


def run(env: dict[str, str], *args: str, code: int = 0, input: str | None = None) -> str:
    """What the command printed, on stdout and stderr together."""
    return invoke(env, *args, code=code, input=input).output
