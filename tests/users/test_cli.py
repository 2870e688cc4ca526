"""`diplomas users …` and `diplomas tokens …` as an admin runs them."""

from __future__ import annotations

import json

import pytest
from clitools import run

from diplomas.cli import users as users_cli
from diplomas.cli.audit import current_actor

PASSWORD = "a long enough password\n"


@pytest.fixture
def office(env: dict[str, str]) -> str:
    """An initialised instance; its institution's slug (the default one)."""
    run(env, "init", "--no-input")
    assert "tbzmed" in run(env, "institutions", "list")
    return "tbzmed"


def audit(env: dict[str, str], action: str) -> list[dict[str, object]]:
    entries = json.loads(run(env, "audit", "list", "--json", "--limit", "100"))
    return [e for e in entries if e["action"] == action]


def test_add_list_disable_reset(env: dict[str, str], office: str) -> None:
    secret = PASSWORD.strip()
    added = run(
        env,
        "users",
        "add",
        "Zahra@TBZMED.ac.ir",
        "--institution",
        office,
        "--role",
        "issuer",
        "--password-stdin",
        input=PASSWORD,
    )
    assert f"added zahra@tbzmed.ac.ir: issuer of {office}" in added
    listed = run(env, "users", "list")
    assert "zahra@tbzmed.ac.ir" in listed and "issuer" in listed and "active" in listed
    run(
        env,
        "users",
        "reset",
        "zahra@tbzmed.ac.ir",
        "--password-stdin",
        input="another long password\n",
    )
    assert "disabled" in run(env, "users", "disable", "zahra@tbzmed.ac.ir")
    assert "disabled 2" in run(env, "users", "list")
    again = run(env, "users", "disable", "zahra@tbzmed.ac.ir", code=2)
    assert "already disabled" in again
    me = current_actor()
    for action in ("user.added", "user.password_reset", "user.disabled"):
        [entry] = audit(env, action)
        assert entry["actor"] == me
        assert entry["details"]["email"] == "zahra@tbzmed.ac.ir"  # type: ignore[index]
    everything = run(env, "audit", "list", "--json", "--limit", "100")
    assert secret not in everything and "argon2" not in everything


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["--institution", "nowhere", "--role", "viewer"], PASSWORD, "institution: 'nowhere'"),
        (["--role", "dean"], PASSWORD, "role: 'dean' is not a role"),
        (["--role", "viewer"], "short\n", "password: must be at least 12"),
    ],
)
def test_add_refuses_by_field_and_never_echoes_the_password(
    env: dict[str, str], office: str, args: list[str], stdin: str, says: str
) -> None:
    if "--institution" not in args:
        args = ["--institution", office, *args]
    output = run(
        env, "users", "add", "a@tbzmed.ac.ir", *args, "--password-stdin", input=stdin, code=2
    )
    assert says in output
    assert stdin.strip() not in output
    assert "no users yet" in run(env, "users", "list")


def test_without_stdin_or_terminal_no_password_is_guessed(env: dict[str, str], office: str) -> None:
    output = run(
        env, "users", "add", "a@tbzmed.ac.ir", "--institution", office, "--role", "viewer", code=2
    )
    assert "--password-stdin" in output


def test_in_a_terminal_the_password_is_asked_twice_unechoed(
    env: dict[str, str], office: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users_cli, "stdin_is_terminal", lambda: True)
    secret = "typed at the prompt"
    output = run(
        env,
        "users",
        "add",
        "a@tbzmed.ac.ir",
        "--institution",
        office,
        "--role",
        "viewer",
        input=f"{secret}\n{secret}\n",
    )
    assert "Repeat the password" in output and secret not in output
    assert "added a@tbzmed.ac.ir" in output


def test_a_users_token_is_listed_and_revoked(env: dict[str, str], office: str) -> None:
    run(
        env,
        "users",
        "add",
        "reza@tbzmed.ac.ir",
        "--institution",
        office,
        "--role",
        "approver",
        "--password-stdin",
        input=PASSWORD,
    )
    created = run(
        env,
        "token",
        "create",
        "--scope",
        "read,revoke",
        "--name",
        "laptop",
        "--user",
        "reza@tbzmed.ac.ir",
        "--expires-in",
        "30",
    )
    assert "for reza@tbzmed.ac.ir" in created and "expiring" in created
    token_id = created.splitlines()[-1].split("_")[1]
    run(env, "token", "create", "--scope", "read", "--name", "legacy")
    listed = run({**env, "COLUMNS": "200"}, "tokens", "list")  # values, not the layout
    assert token_id in listed and "reza@tbzmed.ac.ir" in listed and "laptop" in listed
    assert "live until 20" in listed and "(none)" in listed
    wider = ["--scope", "issue,read", "--name", "x"]
    nobody = run(env, "token", "create", *wider, "--user", "nobody@x.ir", code=3)
    assert "no user with email nobody@x.ir" in nobody
    run(
        env,
        "users",
        "add",
        "sara@tbzmed.ac.ir",
        "--institution",
        office,
        "--role",
        "viewer",
        "--password-stdin",
        input=PASSWORD,
    )
    viewer = run(env, "token", "create", *wider, "--user", "sara@tbzmed.ac.ir", code=2)
    assert "wider than the viewer role" in viewer
    assert f"revoked token {token_id} (laptop)" in run(env, "tokens", "revoke", token_id)
    assert "revoked 2" in run({**env, "COLUMNS": "200"}, "tokens", "list")
    assert "already revoked" in run(env, "tokens", "revoke", token_id, code=2)
    assert "no API token" in run(env, "tokens", "revoke", "0" * 16, code=3)
    desk = ["--scope", "read", "--name", "desk", "--user", "sara@tbzmed.ac.ir"]
    run(env, "token", "create", *desk)
    run(env, "users", "disable", "sara@tbzmed.ac.ir")
    assert "owner disabled 2" in run({**env, "COLUMNS": "200"}, "tokens", "list")
    [entry] = audit(env, "token.revoked")
    assert entry["actor"] == current_actor() and entry["subject"] == token_id
    assert entry["details"] == {"token": token_id, "name": "laptop", "owner": "reza@tbzmed.ac.ir"}


def test_a_name_with_rich_markup_prints_as_written(env: dict[str, str], office: str) -> None:
    run(env, "token", "create", "--scope", "read", "--name", "[bold red]x[/]")
    assert "[bold red]x[/]" in run(env, "tokens", "list")


def test_a_bad_value_is_said_before_a_password_is_asked_for(
    env: dict[str, str], office: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users_cli, "stdin_is_terminal", lambda: True)
    args = ["users", "add", "a@tbzmed.ac.ir", "--institution", office, "--role", "dean"]
    output = run(env, *args, input="", code=2)
    assert "role: 'dean' is not a role" in output and "Password" not in output
