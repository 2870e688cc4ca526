"""`diplomas list` and `diplomas show`: searching what was issued from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clitools import invoke
from rich.cells import cell_len

PEOPLE = [
    ("زهرا محمدی\u200cنژاد", "Zahra Mohammadinejad", "۱۴۰۵/۰۹/۰۵", ["--email", "z@example.ir"]),
    ("علي كريمي", "Ali Karimi", "1405/09/06", ["--external-id", "crm-2"]),
    (
        "عبدالله حسین\u200cزاده صدرالدینی اردبیلی",
        "Abdollah Hosseinzadeh Sadroddini Ardabili",
        "1404/12/20",
        ["--national-id", "0499370899"],
    ),
]


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    return invoke(env, *args, code=code).output


@pytest.fixture
def issued(env: dict[str, str], tmp_path: Path) -> list[dict[str, str]]:
    run(env, "init")
    out = []
    for n, (name, name_en, day, extra) in enumerate(PEOPLE):
        args = ["--name", name, "--name-en", name_en, "--issued-on", day, *extra]
        pdf = str(tmp_path / f"{n}.pdf")
        out.append(json.loads(run(env, "issue", *args, "--out", pdf, "--json")))
    run(env, "suspend", out[1]["serial"], "--reason", "under_review", "--note", "در دست بررسی")
    return out


def test_list_prints_a_table_within_80_columns(
    env: dict[str, str], issued: list[dict[str, str]]
) -> None:
    printed = run(env, "list")
    assert all(cell_len(line) <= 80 for line in printed.splitlines()), printed
    for header in ("serial", "name", "English name", "issued on", "status"):
        assert header in printed
    assert issued[0]["serial"] in printed and "1405/09/05" in printed
    assert "suspended" in printed and "1-3 of 3" in printed
    assert printed.index(issued[1]["serial"]) < printed.index(issued[0]["serial"])  # newest first


@pytest.mark.parametrize("spelling", ["محمدی نژاد", "محمدینژاد", "محمدي\u200cنژاد"])
def test_list_finds_a_name_however_it_is_spelt(
    env: dict[str, str], issued: list[dict[str, str]], spelling: str
) -> None:
    found = json.loads(run(env, "list", spelling, "--json"))
    assert [d["serial"] for d in found["items"]] == [issued[0]["serial"]]
    assert (found["total"], found["total_is_exact"]) == (1, True)


def test_list_filters_and_pages(env: dict[str, str], issued: list[dict[str, str]]) -> None:
    def serials(*args: str) -> list[str]:
        return [d["serial"] for d in json.loads(run(env, "list", *args, "--json"))["items"]]

    assert serials("--status", "suspended") == [issued[1]["serial"]]
    assert serials("--to", "1404/12/29") == [issued[2]["serial"]]
    assert serials("--from", "2026-11-26", "--sort", "oldest") == [
        issued[0]["serial"],
        issued[1]["serial"],
    ]
    assert serials("--template", "classic", "--sort", "serial")[0] == issued[2]["serial"]
    assert serials("--co-issuer", "sut") == []
    assert serials("--batch", "b" * 23) == []
    assert serials("0499370899") == [issued[2]["serial"]]
    assert serials("TBZMED-۱۴۰۵-۰۰۰۰۰۲") == [issued[1]["serial"]]
    assert serials("--limit", "1", "--offset", "1") == [issued[0]["serial"]]  # newest by date
    assert "2-2 of 3; next: --offset 2" in run(env, "list", "--limit", "1", "--offset", "1")
    assert "no diplomas match" in run(env, "list", "nobody")


def test_bad_options_are_named_as_options(
    env: dict[str, str], issued: list[dict[str, str]]
) -> None:
    printed = run(env, "list", "--status", "lost", "--from", "1405/13/01", "--limit", "0", code=2)
    assert "--status" in printed and "--from" in printed and "--limit" in printed


def test_show_prints_every_detail(env: dict[str, str], issued: list[dict[str, str]]) -> None:
    printed = run(env, "show", issued[1]["serial"].lower())
    assert all(cell_len(line) <= 80 for line in printed.splitlines()), printed
    for expected in (
        issued[1]["serial"],
        issued[1]["id"],
        "علی کریمی",
        "Ali Karimi",
        "1405/09/06 (2026-11-27)",
        "suspended since",
        "Under review",
        "private note: در دست بررسی",
        "crm-2",
        "classic",
        "none (issued on its own)",
        issued[1]["verify_url"],
    ):
        assert expected in printed, expected
    details = json.loads(run(env, "show", issued[0]["id"], "--json"))
    assert details["email"] == "z@example.ir" and details["status"] == "issued"
    assert details["verify_url"] == issued[0]["verify_url"]
    assert "no diploma with serial TBZMED-1405-000099" in run(
        env, "show", "TBZMED-1405-000099", code=3
    )


def test_markup_in_a_name_prints_as_written(env: dict[str, str], tmp_path: Path) -> None:
    run(env, "init")
    pdf = str(tmp_path / "x.pdf")
    issued = run(env, "issue", "--name", "علی", "--citation", "[bold]شرکت[/bold]", "--out", pdf)
    assert "[bold]شرکت[/bold]" in run(env, "show", issued.split()[1])
