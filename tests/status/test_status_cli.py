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

    out = run(env, "suspend", diploma_id, "--reason", "در دست بررسی")
    assert f"suspended {serial}" in out and "در دست بررسی" in out
    verdict = json.loads(run(env, "verify", str(pdf), "--json", code=1))
    assert verdict["status"] == "suspended" and verdict["suspension_reason"] == "در دست بررسی"
    assert "SUSPENDED" in run(env, "verify", str(pdf), code=1)
    assert "already suspended" in run(env, "suspend", diploma_id, "--reason", "x", code=2)

    assert f"unsuspended {serial}" in run(env, "unsuspend", diploma_id)
    assert json.loads(run(env, "verify", str(pdf), "--json"))["status"] == "valid"
    assert "not suspended" in run(env, "unsuspend", diploma_id, code=2)

    run(env, "revoke", diploma_id, "--reason", "صدور اشتباه")
    assert "revocation is final" in run(env, "unsuspend", diploma_id, code=2)
    assert "revocation is final" in run(env, "suspend", diploma_id, "--reason", "x", code=2)
    assert json.loads(run(env, "verify", str(pdf), "--json", code=1))["status"] == "revoked"
    assert "reason" in run(env, "suspend", diploma_id, "--reason", " ", code=2)
    run(env, "unsuspend", "Z" * 23, code=3)
