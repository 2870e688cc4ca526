"""`diplomas correct` as an admin runs it; the old copy checked offline with a fresh
`keys export`; an external id sent again from the command line and in a roster."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from clitools import invoke, run

from diplomas.cli import corrections

ISSUE = [
    "issue",
    "--name",
    "زهرا محمدی‌نژاد",
    "--name-en",
    "Zahra Mohamadinejad",
    "--issued-on",
    "1405/09/05",
    "--external-id",
    "student-42",
]


def issue(env: dict[str, str], out: Path) -> dict[str, str]:
    issued: dict[str, str] = json.loads(run(env, *ISSUE, "--out", str(out), "--json"))
    return issued


def test_correct_asks_shows_old_and_new_and_the_old_copy_is_superseded_offline(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(env, "init")
    old_pdf = tmp_path / "old.pdf"
    issued = issue(env, old_pdf)
    before = tmp_path / "before.json"
    run(env, "keys", "export", "--out", str(before))
    assert json.loads(before.read_text())["superseded_records"] == []

    fix = ["correct", issued["serial"], "--set", "name_en=Zahra Mohammadinejad"]
    # Not in a terminal and no --yes: shown, then refused, nothing changed.
    refused = run(env, *fix, code=2)
    assert '"Zahra Mohamadinejad" → "Zahra Mohammadinejad"' in refused
    assert "--yes" in refused and "not corrected" in refused
    # In a terminal: asked; "n" changes nothing, "y" corrects.
    monkeypatch.setattr(corrections, "stdin_is_terminal", lambda: True)
    assert "not corrected" in run(env, *fix, code=2, input="n\n")
    new_pdf = tmp_path / "new.pdf"
    done = run(env, *fix, "--out", str(new_pdf), input="y\n")
    assert "Correct it?" in done
    assert f"corrected: {issued['serial']}, now version 2" in done
    assert new_pdf.read_bytes()[:5] == b"%PDF-"

    # Correcting again to the same value: nothing to correct.
    again = run(env, "correct", issued["id"], "--set", "name_en=Zahra Mohammadinejad", code=2)
    assert "nothing to correct" in again
    bad = run(env, "correct", issued["id"], "--set", "oops", code=2)
    assert "'oops' is not FIELD=VALUE" in bad
    fixed = run(
        env, "correct", issued["id"], "--set", "external_id=x", "--set", "name_en=Ali", code=2
    )
    assert "external_id: cannot be corrected" in fixed

    # Online: the old copy is superseded, exit code 1 (not genuine), with its date.
    online = run(env, "verify", str(old_pdf), code=1)
    assert online.splitlines()[0] == "SUPERSEDED"
    assert "superseded by a corrected version on" in online
    assert json.loads(run(env, "verify", str(new_pdf), "--json"))["status"] == "valid"

    # Offline, with a bundle exported after the correction: superseded.
    after = tmp_path / "after.json"
    run(env, "keys", "export", "--out", str(after))
    offline_env = {
        "DIPLOMAS_HOME": str(tmp_path / "nowhere"),
        "DIPLOMAS_KEYS_DIR": str(tmp_path / "nokeys"),
    }
    verdict = json.loads(
        run(offline_env, "verify", str(old_pdf), "--trust", str(after), "--json", code=1)
    )
    assert verdict["status"] == "superseded" and verdict["superseded_at"]
    assert "Zahra Mohamadinejad" not in after.read_text()
    ok = json.loads(run(offline_env, "verify", str(new_pdf), "--trust", str(after), "--json"))
    assert ok["status"] == "valid"
    # With the bundle exported before it: judged on its signatures alone (valid), and the
    # verdict says that a later correction would not show.
    stale = json.loads(run(offline_env, "verify", str(old_pdf), "--trust", str(before), "--json"))
    assert stale["status"] == "valid"
    assert any("export a fresh one" in r for r in stale["reasons"])


def test_correct_with_yes_and_json(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    issued = issue(env, tmp_path / "d.pdf")
    result = json.loads(
        invoke(
            env,
            "correct",
            issued["id"],
            "--set",
            "field=مهندسی پزشکی",
            "--set",
            "email=z@example.com",
            "--yes",
            "--json",
        ).stdout
    )
    assert result["version"] == 2 and result["fields"] == ["field", "email"]
    assert result["serial"] == issued["serial"] and result["verify_url"] == issued["verify_url"]


def test_issue_again_with_other_details_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    issued = issue(env, tmp_path / "d.pdf")
    same = json.loads(run(env, *ISSUE, "--out", str(tmp_path / "again.pdf"), "--json"))
    assert same["id"] == issued["id"] and same["created"] is False
    changed = [*ISSUE[:4], "Zahra Mohammadinejad", *ISSUE[5:]]
    said = run(env, *changed, "--out", str(tmp_path / "x.pdf"), code=2)
    assert "already exists with other details (name_en)" in said
    assert f"diplomas correct {issued['serial']}" in said
    assert not (tmp_path / "x.pdf").exists()


def test_a_roster_row_with_other_details_is_a_problem(env: dict[str, str], tmp_path: Path) -> None:
    from batch.rosters import person, write_roster

    run(env, "init")
    rows = [person(i) for i in range(3)]
    roster = write_roster(tmp_path / "r.csv", rows)
    run(env, "issue-batch", str(roster), "--out", str(tmp_path / "a"), "--workers", "1")

    rows[1] = {**rows[1], "name_en": "Ali Rezaie"}
    write_roster(tmp_path / "r.csv", rows)
    out = tmp_path / "b"
    said = run(env, "issue-batch", str(roster), "--out", str(out), "--workers", "1", code=2)
    assert "nothing was issued" in said
    with open(out / "errors.csv", encoding="utf-8-sig", newline="") as fh:
        errors = list(csv.DictReader(fh))
    assert len(errors) == 1
    [e] = errors
    assert (e["row"], e["column"], e["value"]) == ("3", "external_id", "S-00001")
    assert "other details (name_en)" in e["message"] and "diplomas correct" in e["message"]

    # With --skip-invalid, the unchanged rows come back as already issued; the changed
    # one is refused and counted, never skipped in silence.
    said = run(
        env,
        "issue-batch",
        str(roster),
        "--out",
        str(out),
        "--workers",
        "1",
        "--skip-invalid",
    )
    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        manifest = list(csv.DictReader(fh))
    assert [m["row"] for m in manifest] == ["2", "4"]
    assert {m["status"] for m in manifest} == {"already issued"}
    assert re.search(r"skipped \(already issued\)\s+2\b", said), said
    assert re.search(r"refused \(invalid rows\)\s+1\b", said), said
