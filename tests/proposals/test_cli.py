"""The two-person rule on the command line: `issue` and `issue-batch` propose, `proposals
approve|reject` sign a person in (never nobody), `settings check|show|set` say and change
the rule, and `history` shows who proposed, approved and issued."""

from __future__ import annotations

import json
import re
from pathlib import Path

from batch.rosters import cohort
from clitools import invoke, run

from .conftest import APPROVER, PASSWORD, PROPOSER, ZAHRA

NAME = ZAHRA["name"]


def office_env(env: dict[str, str]) -> dict[str, str]:
    """An instance with the rule on for its institution, a proposer and an approver."""
    invoke(env, "init", "--no-input")
    run(env, "settings", "set", "two_person_rule", "true")
    for email, role in ((PROPOSER, "issuer"), (APPROVER, "approver")):
        run(
            env, "users", "add", email, "--institution", "tbzmed", "--role", role,
            "--password-stdin", input=PASSWORD + "\n",
        )  # fmt: skip
    return env


def proposed_id(output: str) -> str:
    found = re.search(r"proposed ([\w-]+):", output)
    assert found, output
    return found.group(1)


def test_settings_say_where_the_rule_comes_from(env: dict[str, str]) -> None:
    invoke(env, "init", "--no-input")
    assert "tbzmed: two-person rule off (unset: the development default)" in run(
        env, "settings", "check"
    )
    [row] = [
        r for r in json.loads(run(env, "settings", "show", "--json"))
        if r["setting"] == "two_person_rule"
    ]  # fmt: skip
    assert (row["value"], row["source"]) == ("false", "the development default")
    production = {
        **env,
        "DIPLOMAS_ENVIRONMENT": "production",
        "DIPLOMAS_PUBLIC_URL": "https://diplomas.example.ac.ir",
    }
    assert "two-person rule on (unset: the production default)" in run(
        production, "settings", "check"
    )
    out = run(env, "settings", "set", "two_person_rule", "off")
    assert "two_person_rule set to false" in out
    out = run(production, "settings", "check")
    assert "two-person rule off (two_person_rule = false)" in out
    assert "two_person_rule = false in production" in out  # a warning
    [row] = [
        r for r in json.loads(run(env, "settings", "show", "--json"))
        if r["setting"] == "two_person_rule"
    ]  # fmt: skip
    assert row["value"] == "false" and row["source"].endswith("institution.toml")
    assert "must be true or false" in run(
        env, "settings", "set", "two_person_rule", "maybe", code=4
    )


def test_issue_proposes_and_an_approver_issues_it(env: dict[str, str], tmp_path: Path) -> None:
    office_env(env)
    pdf = tmp_path / "zahra.pdf"
    out = run(
        env, "issue", "--name", NAME, "--issued-on", "1405/09/05", "--out", str(pdf),
        "--user", PROPOSER, "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    proposal = proposed_id(out)
    assert "nothing is signed until an approver of tbzmed" in out
    assert not pdf.exists()
    assert proposal in run(env, "proposals", "list", "--state", "pending")
    shown = run(env, "proposals", "show", proposal)
    assert f"proposed by user:{PROPOSER}" in shown and NAME in shown

    # The proposer cannot approve; nor can anyone without a password.
    refused = run(
        env, "proposals", "approve", proposal, "--user", PROPOSER, "--password-stdin",
        input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    assert "approve" in refused
    assert "no password" in run(env, "proposals", "approve", proposal, "--user", APPROVER, code=2)
    wrong = run(
        env, "proposals", "approve", proposal, "--user", APPROVER, "--password-stdin",
        input="not the password\n", code=2,
    )  # fmt: skip
    assert "the email or the password is wrong" in wrong
    assert "Missing option" in run(env, "proposals", "approve", proposal, code=2)
    assert '"state": "pending"' in run(env, "proposals", "show", proposal, "--json")

    out = run(
        env, "proposals", "approve", proposal, "--user", APPROVER, "--password-stdin",
        "--comment", "checked", "--out", str(pdf), input=PASSWORD + "\n",
    )  # fmt: skip
    serial = re.search(r"issued (TBZMED-\S+)", out)
    assert serial, out
    assert "VALID" in run(env, "verify", str(pdf))
    history = run(env, "history", serial.group(1), "--json")
    events = json.loads(history)
    assert [e["what"] for e in events] == [
        "proposal.created",
        "proposal.approved",
        "diploma.issued",
    ]
    assert events[0]["who"].startswith(f"user:{PROPOSER} (cli:")
    assert events[1]["who"].startswith(f"user:{APPROVER} (cli:")


def test_the_login_that_proposed_naming_nobody_cannot_approve(env: dict[str, str]) -> None:
    office_env(env)
    proposal = proposed_id(run(env, "issue", "--name", NAME, "--out", "/dev/null"))
    out = run(
        env, "proposals", "approve", proposal, "--user", APPROVER, "--password-stdin",
        input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    assert "propose with --user" in out
    out = run(
        env, "proposals", "reject", proposal, "--user", APPROVER, "--password-stdin",
        "--comment", "no", input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    assert "proposer" in out


def test_a_rejection_says_why(env: dict[str, str]) -> None:
    office_env(env)
    out = run(
        env, "issue", "--name", NAME, "--out", "/dev/null", "--user", PROPOSER,
        "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    proposal = proposed_id(out)
    out = run(
        env, "proposals", "reject", proposal, "--user", APPROVER, "--password-stdin",
        "--comment", " ", input=PASSWORD + "\n", code=2,
    )  # fmt: skip
    assert "comment: is required" in out
    out = run(
        env, "proposals", "reject", proposal, "--user", APPROVER, "--password-stdin",
        "--comment", "[bold]wrong date[/]", input=PASSWORD + "\n",
    )  # fmt: skip
    assert "rejected" in out and "[bold]wrong date[/]" in out  # printed as typed
    assert "rejected by" in run(env, "proposals", "show", proposal)


def test_issue_batch_proposes_and_the_approval_runs_it(env: dict[str, str], tmp_path: Path) -> None:
    office_env(env)
    roster = cohort(tmp_path / "cohort.csv", 2)
    out = run(
        env, "issue-batch", str(roster), "--out", str(tmp_path / "out"), "--workers", "1",
        "--user", PROPOSER, "--password-stdin", input=PASSWORD + "\n",
    )  # fmt: skip
    proposal = proposed_id(out)
    assert "batch" in out and not (tmp_path / "out").exists()
    out = run(
        env, "proposals", "approve", proposal, "--user", APPROVER, "--password-stdin",
        "--out", str(tmp_path / "out"), "--workers", "1", input=PASSWORD + "\n",
    )  # fmt: skip
    assert "done, 2 issued" in out, out
    assert len(list((tmp_path / "out").glob("*.pdf"))) == 2
