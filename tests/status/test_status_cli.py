"""`diplomas suspend` and `diplomas unsuspend`, next to `revoke`, as an admin runs them."""

from __future__ import annotations

import json
from pathlib import Path

from clitools import run


def test_suspend_unsuspend_and_revoke_from_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    run(env, "init")
    pdf = tmp_path / "d.pdf"
    issued = json.loads(run(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(pdf), "--json"))
    diploma_id, serial = issued["id"], issued["serial"]

    out = run(env, "suspend", diploma_id, "--reason", "under_review", "--note", "نامهٔ ۱۲")
    assert f"suspended {serial}: Under review (در دست بررسی), published" in out
    assert "private note: نامهٔ ۱۲" in out
    verdict = json.loads(run(env, "verify", str(pdf), "--json", code=1))
    assert verdict["status"] == "suspended" and verdict["suspension_reason"] == "Under review"
    assert "نامهٔ ۱۲" not in json.dumps(verdict, ensure_ascii=False)
    assert "SUSPENDED" in run(env, "verify", str(pdf), code=1)
    assert "already suspended" in run(env, "suspend", diploma_id, "--reason", "x", code=2)

    assert f"unsuspended {serial}" in run(env, "unsuspend", diploma_id)
    assert json.loads(run(env, "verify", str(pdf), "--json"))["status"] == "valid"
    assert "not suspended" in run(env, "unsuspend", diploma_id, code=2)

    run(env, "revoke", diploma_id, "--reason", "issued_in_error")
    assert "revocation is final" in run(env, "unsuspend", diploma_id, code=2)
    assert "revocation is final" in run(env, "suspend", diploma_id, "--reason", "x", code=2)
    assert json.loads(run(env, "verify", str(pdf), "--json", code=1))["status"] == "revoked"
    assert "reason" in run(env, "suspend", diploma_id, "--reason", " ", code=2)
    run(env, "unsuspend", "Z" * 23, code=3)


def test_commands_take_the_serial_printed_on_the_diploma(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The office has serials, not ids: `diplomas revoke TBZMED-1405-000011` works (the
    review saw it fail), in either script's digits and any case."""
    run(env, "init")
    pdf = tmp_path / "d.pdf"
    issued = json.loads(run(env, "issue", "--name", "زهرا محمدی‌نژاد", "--out", str(pdf), "--json"))
    serial = issued["serial"]
    persian = serial.lower().translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert f"suspended {serial}" in run(env, "suspend", persian, "--reason", "در دست بررسی")
    assert f"unsuspended {serial}" in run(env, "unsuspend", serial)
    assert f"revoked {serial}" in run(env, "revoke", serial, "--reason", "صدور اشتباه")
    assert json.loads(run(env, "verify", str(pdf), "--json", code=1))["status"] == "revoked"
    assert "no diploma with serial TBZMED-1405-999999" in run(
        env, "revoke", "TBZMED-1405-999999", "--reason", "x", code=3
    )
