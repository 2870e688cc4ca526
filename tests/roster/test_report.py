from __future__ import annotations

import codecs
import csv
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from diplomas.roster import RosterProblem, open_roster, safe_cell, write_problems_csv

from .files import write_csv


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example")', '\'=HYPERLINK("http://evil.example")'),
        ("+98 912", "'+98 912"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("علی رضایی", "علی رضایی"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_safe_cell(value: str, escaped: str) -> None:
    assert safe_cell(value) == escaped


def test_problems_csv_opens_in_excel_with_persian_and_no_formulas(tmp_path: Path) -> None:
    problems = [
        RosterProblem(0, "", "", "The file is empty."),
        RosterProblem(1, "نام پدر", "", "«نام پدر» is not a roster column."),
        RosterProblem(7, "ایمیل", "email", "is not an email address", "=HYPERLINK(1)"),
        RosterProblem(9, "نام", "name", "-looks like a formula", "@x"),
    ]
    path = tmp_path / "errors.csv"
    assert write_problems_csv(path, iter(problems)) == 4
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["row", "column", "field", "value", "message"]
    assert rows[2] == ["1", "نام پدر", "", "", "«نام پدر» is not a roster column."]
    assert rows[3] == ["7", "ایمیل", "email", "'=HYPERLINK(1)", "is not an email address"]
    assert rows[4][3:] == ["'@x", "'-looks like a formula"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_problems_csv_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "errors.csv"
    path.write_text("old", encoding="utf-8")

    def failing() -> Iterator[RosterProblem]:
        yield RosterProblem(2, "نام", "name", "is required")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_problems_csv(path, failing())
    assert path.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [path]
    assert write_problems_csv(path, []) == 0
    assert path.read_bytes() == codecs.BOM_UTF8 + b"row,column,field,value,message\r\n"


def test_a_roster_report_round_trips(tmp_path: Path) -> None:
    table = [["نام", "رنگ"], ["علی رضایی", "قرمز", "=1+1"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    problems = [*roster.problems, *(p for row in roster.rows() for p in row.problems)]
    out = tmp_path / "out" / "errors.csv"
    out.parent.mkdir()
    assert write_problems_csv(out, problems) == 2
    with out.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["row"], r["column"], r["value"]) for r in rows] == [
        ("1", "رنگ", ""),
        ("2", "", "'=1+1"),
    ]
