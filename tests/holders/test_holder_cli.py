"""`diplomas holder-link`: print the holder's private link, renew it after asking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clitools import run

from diplomas.cli import corrections


def test_print_and_renew_the_link(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(env, "init")
    issued = json.loads(
        run(
            env,
            "issue",
            "--name",
            "زهرا محمدی‌نژاد",
            "--email",
            "zahra@example.org",
            "--out",
            str(tmp_path / "d.pdf"),
            "--json",
        )
    )
    first = run(env, "holder-link", issued["serial"]).strip()
    assert first.startswith("http") and f"/h/{issued['id']}/" in first
    assert run(env, "holder-link", issued["id"]).strip() == first

    # Not in a terminal and no --yes: refused, nothing renewed.
    refused = run(env, "holder-link", issued["serial"], "--renew", code=2)
    assert "--yes" in refused and "not renewed" in refused
    assert run(env, "holder-link", issued["serial"]).strip() == first
    # In a terminal: asked; "n" keeps the link, "y" renews it.
    monkeypatch.setattr(corrections, "stdin_is_terminal", lambda: True)
    assert "not renewed" in run(
        env, "holder-link", issued["serial"], "--renew", code=2, input="n\n"
    )
    done = run(env, "holder-link", issued["serial"], "--renew", input="y\n")
    assert "Renew it?" in done and "opens nothing now" in done
    second = run(env, "holder-link", issued["serial"]).strip()
    assert second != first and second in done
    scripted = run(env, "holder-link", issued["serial"], "--renew", "--yes")
    assert run(env, "holder-link", issued["serial"]).strip() in scripted
    assert "holder_link.renewed" in run(env, "audit", "list")
    unknown = run(env, "holder-link", "TBZMED-1405-999999", code=3)
    assert "no diploma with serial" in unknown
