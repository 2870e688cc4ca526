from __future__ import annotations

from pathlib import Path

import pytest

from diplomas.core.model import REQUEST_FIELDS
from diplomas.roster import (
    HEADER_ALIASES,
    IGNORED_HEADERS,
    MAX_COLUMNS,
    PREFERRED_HEADERS,
    ROSTER_FIELDS,
    field_for_header,
    header_key,
    open_roster,
)

from .files import write_csv, write_xlsx


def test_roster_fields_are_the_request_fields_but_template() -> None:
    assert tuple(f for f in REQUEST_FIELDS if f != "template") == ROSTER_FIELDS
    assert set(HEADER_ALIASES.values()) == set(ROSTER_FIELDS) == set(PREFERRED_HEADERS)


def test_no_spelling_is_claimed_twice() -> None:
    keys = [header_key(spelling) for spelling in HEADER_ALIASES]
    assert len(keys) == len(set(keys))
    ignored = {header_key(h) for h in IGNORED_HEADERS}
    assert not ignored & set(keys)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("نام", "name"),
        ("نام و نام خانوادگی", "name"),
        (" نام  و نام خانوادگي ", "name"),  # Arabic ي, extra spaces
        ("name", "name"),
        ("Full Name", "name"),
        ("نام لاتین", "name_en"),
        ("نام‌لاتین", "name_en"),  # ZWNJ
        ("نام انگلیسی", "name_en"),
        ("Name EN", "name_en"),
        ("name-en", "name_en"),
        ("NAME_EN", "name_en"),
        ("عنوان", "award"),
        ("عنوان دیپلم", "award"),
        ("عنوان انگلیسی", "award_en"),
        ("Award En", "award_en"),
        ("به پاس", "citation"),
        ("شرح", "citation"),
        ("دستاورد", "citation"),
        ("رشته", "field"),
        ("حوزه", "field"),
        ("زمینه", "field"),
        ("تاریخ", "issued_on"),
        ("تاریخ صدور", "issued_on"),
        ("تاریخ اعطا", "issued_on"),
        ("Issued On", "issued_on"),
        ("ایمیل", "email"),
        ("پست الکترونیک", "email"),
        ("E-Mail", "email"),
        ("کد ملی", "national_id"),
        ("کد ملي", "national_id"),
        ("National ID", "national_id"),
        ("شناسه", "external_id"),
        ("کد", "external_id"),
        ("كد", "external_id"),  # Arabic ك
        ("external_id", "external_id"),
        ("\ufeffنام", "name"),
        ("نام:", "name"),
        ("نام *", "name"),
    ],
)
def test_header_spellings(header: str, field: str) -> None:
    assert field_for_header(header) == field


@pytest.mark.parametrize("header", ["نام خانوادگی", "template", "colour", "", "ردیف", "#"])
def test_headers_that_name_no_field(header: str) -> None:
    assert field_for_header(header) is None


def test_columns_are_found_in_file_order(tmp_path: Path) -> None:
    table = [
        ["ردیف", "Name EN", "نام", "پست الکترونیک", "#یادداشت", "کد ملی", "تاریخ صدور"],
        ["1", "Ali Rezaei", "علی رضایی", "ali@example.org", "تماس گرفته شد", "0012345679", ""],
    ]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    assert roster.problems == ()
    assert roster.columns == (
        ("Name EN", "name_en"),
        ("نام", "name"),
        ("پست الکترونیک", "email"),
        ("کد ملی", "national_id"),
        ("تاریخ صدور", "issued_on"),
    )
    assert roster.header_for("email") == "پست الکترونیک"
    assert roster.header_for("citation") == "citation"
    [row] = roster.rows()
    assert row.values == {
        "name_en": "Ali Rezaei",
        "name": "علی رضایی",
        "email": "ali@example.org",
        "national_id": "0012345679",
        "issued_on": "",
    }


@pytest.mark.parametrize("ignored", ["ردیف", "row", "#", "No", "No.", "#note", "# یادداشت"])
def test_ignored_columns_pass_silently(tmp_path: Path, ignored: str) -> None:
    table = [[ignored, "نام"], ["7", "علی رضایی"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    assert roster.problems == ()
    assert [dict(r.values) for r in roster.rows()] == [{"name": "علی رضایی"}]


def test_unknown_column_is_reported_with_its_header(tmp_path: Path) -> None:
    table = [["نام", "نام پدر", "ایمیل"], ["علی رضایی", "حسن", "a@example.org"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    [problem] = roster.problems
    assert (problem.row, problem.column, problem.field) == (1, "نام پدر", "")
    assert "«نام پدر»" in problem.message
    assert "«کد ملی» (national_id)" in problem.message  # lists the known columns
    assert "#" in problem.message  # says how to ignore it
    # The rows are still readable, so one report can list every problem.
    assert [dict(r.values) for r in roster.rows()] == [
        {"name": "علی رضایی", "email": "a@example.org"}
    ]


def test_separate_surname_column_gets_a_specific_explanation(tmp_path: Path) -> None:
    table = [["نام", "نام خانوادگی"], ["علی", "رضایی"]]
    [problem] = open_roster(write_csv(tmp_path / "r.csv", table)).problems
    assert problem.column == "نام خانوادگی"
    assert "«نام و نام خانوادگی»" in problem.message


def test_duplicate_columns(tmp_path: Path) -> None:
    table = [["نام", "ایمیل", "نام و نام خانوادگی"], ["علی", "a@example.org", "علی رضایی"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    [problem] = roster.problems
    assert (problem.row, problem.column, problem.field) == (1, "نام و نام خانوادگی", "name")
    assert "«نام»" in problem.message
    assert roster.columns == (("نام", "name"), ("ایمیل", "email"))


def test_missing_name_column(tmp_path: Path) -> None:
    table = [["نام لاتین", "ایمیل"], ["Ali Rezaei", "a@example.org"]]
    [problem] = open_roster(write_csv(tmp_path / "r.csv", table)).problems
    assert (problem.row, problem.column, problem.field) == (1, "", "name")
    assert "name" in problem.message


def test_problems_come_in_column_order(tmp_path: Path) -> None:
    table = [["colour", "ایمیل", "ایمیل", "size"], ["قرمز", "a@b.ir", "c@d.ir", "L"]]
    problems = open_roster(write_csv(tmp_path / "r.csv", table)).problems
    assert [(p.column, p.field) for p in problems] == [
        ("colour", ""),
        ("ایمیل", "email"),
        ("size", ""),
        ("", "name"),
    ]


def test_data_in_the_first_row_is_not_taken_for_a_header(tmp_path: Path) -> None:
    table = [["علی رضایی", "a@example.org"], ["زهرا محمدی", "z@example.org"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    [problem] = roster.problems
    assert problem.row == 1
    assert "first row" in problem.message
    assert list(roster.rows()) == []


def test_headers_must_be_in_row_1(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", [[], [], ["نام"], ["علی رضایی"]])
    roster = open_roster(path)
    [problem] = roster.problems
    assert problem.row == 1
    assert "row 3" in problem.message
    assert list(roster.rows()) == []


def test_too_many_columns(tmp_path: Path) -> None:
    table = [["نام", *(f"#c{i}" for i in range(MAX_COLUMNS))], ["علی رضایی"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    [problem] = roster.problems
    assert problem.row == 1
    assert str(MAX_COLUMNS + 1) in problem.message
    assert list(roster.rows()) == []


def test_xlsx_headers(tmp_path: Path) -> None:
    table = [["ردیف", "نام‌ و نام خانوادگی", "Name-EN", None, 2026], [1, "علی رضایی", "Ali"]]
    roster = open_roster(write_xlsx(tmp_path / "r.xlsx", table))
    assert roster.columns == (("نام‌ و نام خانوادگی", "name"), ("Name-EN", "name_en"))
    [problem] = roster.problems
    assert (problem.row, problem.column) == (1, "2026")
