"""`diplomas issue-batch` as an admin runs it, against a real instance."""

from __future__ import annotations

import csv
import json
import stat
import zipfile
from pathlib import Path

import pytest
from clitools import run

from diplomas.bootstrap import build_service
from diplomas.config import Settings

from .rosters import cohort, person, write_roster


def service(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return build_service(
        Settings(
            home=Path(env["DIPLOMAS_HOME"]),
            keys_dir=Path(env["DIPLOMAS_KEYS_DIR"]),
            key_passphrase=env["DIPLOMAS_KEY_PASSPHRASE"],
        )  # type: ignore[arg-type]
    )


def manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def count_diplomas(env: dict[str, str]) -> int:
    return service(env).search("", 0, 1)[1]


def test_batch_issues_every_row_once_and_each_verifies(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(cli_env, "init")
    roster = cohort(tmp_path / "cohort.csv", 12)
    out = tmp_path / "out"
    output = run(cli_env, "issue-batch", str(roster), "--out", str(out), "--workers", "2", "--zip")
    assert "issued" in output

    entries = manifest(out)
    assert [e["row"] for e in entries] == [str(i) for i in range(2, 14)]
    assert [e["serial"] for e in entries] == [f"TBZMED-1405-{i:06d}" for i in range(1, 13)]
    assert json.loads((out / "manifest.json").read_text())[0]["serial"] == "TBZMED-1405-000001"
    svc = service(cli_env)
    for e in entries:
        pdf = (out / e["file"]).read_bytes()
        verdict = svc.verify_pdf(pdf)
        assert verdict.genuine, verdict.reasons
        assert verdict.claims and verdict.claims.serial == e["serial"]
    with zipfile.ZipFile(out / "diplomas.zip") as zf:
        names = set(zf.namelist())
    assert {e["file"] for e in entries} | {"manifest.csv", "manifest.json"} == names
    # Names, serials and links to people's diplomas: the owner's alone (the review saw 0644).
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("manifest.csv", "manifest.json", "diplomas.zip"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    for written in out.iterdir():  # PDFs are hard links to the store's files (0640)
        assert stat.S_IMODE(written.stat().st_mode) & 0o007 == 0, written

    # Run it again: one set of diplomas, the same ids, nothing issued.
    again = run(cli_env, "issue-batch", str(roster), "--out", str(out), "--workers", "1")
    assert [e["id"] for e in manifest(out)] == [e["id"] for e in entries]
    assert {e["status"] for e in manifest(out)} == {"already issued"}
    assert "skipped (already issued)" in again
    assert count_diplomas(cli_env) == 12


def test_rows_without_external_id_are_identified_by_content(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(cli_env, "init")
    rows = [{k: v for k, v in person(i).items() if k != "external_id"} for i in range(5)]
    roster = write_roster(tmp_path / "r.csv", rows)
    run(cli_env, "issue-batch", str(roster), "--out", str(tmp_path / "a"), "--workers", "1")
    run(cli_env, "issue-batch", str(roster), "--out", str(tmp_path / "b"), "--workers", "1")
    assert count_diplomas(cli_env) == 5
    # The second run writes the already-issued PDFs into its own folder too.
    assert len(list((tmp_path / "b").glob("TBZMED-*.pdf"))) == 5


BAD_ROWS = [
    ({"name": ""}, "name", "required"),
    ({"name": "Ali Rezaei"}, "name", "Persian"),
    ({"issued_on": "1405/13/40"}, "issued_on", "Solar Hijri"),
    ({"email": "not-an-email"}, "email", "email"),
    ({"name_en": "علی"}, "name_en", "Latin"),
    ({"citation": "ب" * 300}, "citation", "at most"),
    ({"national_id": "1234567890"}, "national_id", "national code"),
    ({"citation": "کارآفرین 🚀"}, "citation", ""),
]


def test_every_bad_row_is_named_and_nothing_is_issued(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(cli_env, "init")
    rows = [person(0)]
    for i, (change, _, _) in enumerate(BAD_ROWS, start=1):
        rows.append({**person(i), **change})
    rows.append(person(0) | {"name": "سارا کریمی"})  # repeats S-00000
    out = tmp_path / "out"
    output = run(
        cli_env,
        "issue-batch",
        str(write_roster(tmp_path / "r.csv", rows)),
        "--out",
        str(out),
        code=2,
    )
    assert "nothing was issued" in output
    assert count_diplomas(cli_env) == 0
    with open(out / "errors.csv", encoding="utf-8-sig", newline="") as fh:
        errors = list(csv.DictReader(fh))
    found = {(int(e["row"]), e["column"]) for e in errors}
    for i, (_, column, words) in enumerate(BAD_ROWS, start=1):
        assert (i + 2, column) in found, (i, column)
        message = next(e["message"] for e in errors if int(e["row"]) == i + 2)
        assert words in message
    assert any(int(e["row"]) == len(rows) + 1 and "repeats row 2" in e["message"] for e in errors)
    assert not list(out.glob("*.pdf"))
    # A refused national id is kept in reports by its last two digits only.
    refused_id = next(e for e in errors if e["column"] == "national_id")
    assert refused_id["value"] == "…90"
    assert "1234567890" not in (out / "errors.csv").read_text(encoding="utf-8-sig")

    # With --skip-invalid only the good row is issued, and the refused ones are counted.
    output = run(
        cli_env,
        "issue-batch",
        str(tmp_path / "r.csv"),
        "--out",
        str(out),
        "--skip-invalid",
        "--workers",
        "1",
    )
    assert count_diplomas(cli_env) == 1
    assert len(manifest(out)) == 1


def test_header_problems_refuse_even_with_skip_invalid(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(cli_env, "init")
    roster = write_roster(tmp_path / "r.csv", [person(1) | {"colour": "red"}])
    output = run(
        cli_env, "issue-batch", str(roster), "--out", str(tmp_path / "o"), "--skip-invalid", code=2
    )
    assert "colour" in output
    assert count_diplomas(cli_env) == 0


def test_formula_cells_never_reach_a_csv_unescaped(cli_env: dict[str, str], tmp_path: Path) -> None:
    run(cli_env, "init")
    evil = '=HYPERLINK("http://evil.example","click")'
    roster = write_roster(tmp_path / "r.csv", [person(1) | {"email": evil}])
    run(cli_env, "issue-batch", str(roster), "--out", str(tmp_path / "o"), code=2)
    text = (tmp_path / "o" / "errors.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text
    for line in text.splitlines():
        for cell in next(csv.reader([line])):
            assert not cell.startswith(("=", "+", "-", "@")), cell


def test_dry_run_renders_a_sample_and_issues_nothing(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(cli_env, "init")
    out = tmp_path / "o"
    run(cli_env, "issue-batch", str(cohort(tmp_path / "r.csv", 3)), "--out", str(out), "--dry-run")
    assert count_diplomas(cli_env) == 0
    [sample] = out.glob("sample-row-2.pdf")
    assert sample.read_bytes().startswith(b"%PDF-")


def test_unknown_template_is_refused(cli_env: dict[str, str], tmp_path: Path) -> None:
    run(cli_env, "init")
    output = run(
        cli_env,
        "issue-batch",
        str(cohort(tmp_path / "r.csv", 2)),
        "--out",
        str(tmp_path / "o"),
        "--template",
        "nope",
        code=2,
    )
    assert "nope" in output
    assert count_diplomas(cli_env) == 0


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1256"])
def test_encodings_round_trip_persian_names(
    cli_env: dict[str, str], tmp_path: Path, encoding: str
) -> None:
    run(cli_env, "init")
    rows = [person(i) for i in range(3)]
    written = rows
    if encoding == "cp1256":
        # Windows-1256 has no Persian yeh: such files carry the Arabic one, and issuing
        # normalises it to the Persian letter.
        written = [{k: v.replace("ی", "ي") for k, v in r.items()} for r in rows]
        assert "ي" in written[0]["name"]
    roster = write_roster(tmp_path / "r.csv", written, encoding=encoding)
    run(cli_env, "issue-batch", str(roster), "--out", str(tmp_path / "o"), "--workers", "1")
    names = sorted(d.request.name for d in service(cli_env).search("", 0, 10)[0])
    assert names == sorted(r["name"] for r in rows)


def test_rows_awarded_jointly_are_signed_by_each_institution(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A «صادرکنندگان همکار» column: those rows get the co-issuer's proof and PDF
    signature too, from the worker processes; an unknown institution is a row problem."""
    run(cli_env, "init")
    run(
        cli_env, "institutions", "add", "--slug", "samt",
        "--name", "سازمان صنعت، معدن و تجارت", "--name-en", "Industry, Mine and Trade",
    )  # fmt: skip
    rows = [{**person(i), "co_issuers": "samt" if i % 2 else ""} for i in range(6)]
    roster = write_roster(tmp_path / "joint.csv", rows)
    text = roster.read_text(encoding="utf-8").replace("co_issuers", "صادرکنندگان همکار", 1)
    roster.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    run(cli_env, "issue-batch", str(roster), "--out", str(out), "--workers", "2")
    svc = service(cli_env)
    for e in manifest(out):
        verdict = svc.verify_pdf((out / e["file"]).read_bytes())
        assert verdict.genuine, verdict.reasons
        assert verdict.claims is not None
        joint = (int(e["row"]) - 2) % 2 == 1
        assert len(verdict.claims.issuers) == (2 if joint else 1)
        assert sum(s.kind == "pdf" for s in verdict.signers) == (2 if joint else 1)
        assert sum(s.kind == "record" for s in verdict.signers) == (2 if joint else 1)

    bad = write_roster(tmp_path / "bad.csv", [{**person(9), "co_issuers": "nobody"}])
    output = run(cli_env, "issue-batch", str(bad), "--out", str(tmp_path / "o2"), code=2)
    assert "'nobody' is not a co-issuing institution" in output
    assert "co_issuers" in output
