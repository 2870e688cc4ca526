from __future__ import annotations

import zipfile
from datetime import date, datetime, time
from pathlib import Path

import pytest
from openpyxl import Workbook

from diplomas.core.errors import DocumentError
from diplomas.roster import MAX_CELL_CHARS, RosterRow, cell_text, open_roster

from .files import PEOPLE, people_table, write_csv, write_xlsx


def values(rows: list[RosterRow]) -> list[tuple[int, dict[str, str]]]:
    return [(row.number, dict(row.values)) for row in rows]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"")
    roster = open_roster(path)
    [problem] = roster.problems
    assert (problem.row, problem.column, "empty" in problem.message) == (0, "", True)
    assert list(roster.rows()) == []
    assert roster.count() == 0


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\r\n\r\n , ,\r\n", b"\xff\xfe"])
def test_blank_file_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    [problem] = open_roster(path).problems
    assert problem.row == 0
    assert "empty" in problem.message


def test_header_only(tmp_path: Path) -> None:
    roster = open_roster(write_csv(tmp_path / "r.csv", [["نام", "ایمیل"]]))
    assert roster.problems == ()
    assert list(roster.rows()) == []
    assert roster.count() == 0


def test_blank_rows_are_skipped_and_numbers_stay_true(tmp_path: Path) -> None:
    table = [
        ["ردیف", "نام", "ایمیل"],
        ["1", "علی رضایی", ""],
        [],
        ["", "  ", "\t"],
        ["4", "", ""],  # a pre-numbered row of an unfilled template
        ["5", "", "z@example.org"],
    ]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    assert values(list(roster.rows())) == [
        (2, {"name": "علی رضایی", "email": ""}),
        (6, {"name": "", "email": "z@example.org"}),
    ]
    assert roster.count() == 2


def test_rows_can_be_read_again(tmp_path: Path) -> None:
    roster = open_roster(write_csv(tmp_path / "r.csv", people_table(PEOPLE)))
    first = list(roster.rows())
    assert len(first) == 3
    assert list(roster.rows()) == first
    assert roster.count() == 3


def test_cells_are_stripped_only(tmp_path: Path) -> None:
    table = [["نام", "به پاس"], ["  علي   رضايي\u200c ", " خط اول\nخط دوم "]]
    [row] = open_roster(write_csv(tmp_path / "r.csv", table)).rows()
    assert row.values == {"name": "علي   رضايي\u200c", "citation": "خط اول\nخط دوم"}


def test_row_with_too_many_cells(tmp_path: Path) -> None:
    table = [
        ["نام", "ایمیل"],
        ["علی رضایی", "a@example.org"],
        ["زهرا محمدی", "z@example.org", "", ""],  # empty extra cells are harmless
        ["مریم", "کاظمی", "m@example.org"],
    ]
    rows = list(open_roster(write_csv(tmp_path / "r.csv", table)).rows())
    assert [row.problems for row in rows[:2]] == [(), ()]
    [problem] = rows[2].problems
    assert (problem.row, problem.column, problem.value) == (4, "", "m@example.org")
    assert "3 cells" in problem.message
    assert "2 columns" in problem.message


def test_value_under_a_blank_header(tmp_path: Path) -> None:
    table = [["نام", "", "ایمیل"], ["علی رضایی", "??", "a@example.org"]]
    roster = open_roster(write_csv(tmp_path / "r.csv", table))
    assert roster.problems == ()
    [row] = roster.rows()
    [problem] = row.problems
    assert "2 (B)" in problem.message
    assert problem.value == "??"


def test_overlong_cell_is_a_row_problem(tmp_path: Path) -> None:
    long = "ب" * (MAX_CELL_CHARS + 1)
    table = [["نام", "به پاس"], ["علی رضایی", long], ["زهرا محمدی", "کوتاه"]]
    rows = list(open_roster(write_csv(tmp_path / "r.csv", table)).rows())
    [problem] = rows[0].problems
    assert (problem.row, problem.column, problem.field) == (2, "به پاس", "citation")
    assert str(MAX_CELL_CHARS) in problem.message
    assert len(problem.value) <= 80
    assert rows[1].problems == ()


def test_unclosed_quote_swallowing_the_file_stops_reading(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    text = 'نام,ایمیل\r\nعلی رضایی,a@example.org\r\n"زهرا,z@example.org\r\n'
    path.write_text(text + "مریم کاظمی,m@example.org\r\n" * 20_000, encoding="utf-8")
    rows = list(open_roster(path).rows())
    assert rows[0].problems == ()
    [problem] = rows[-1].problems
    assert problem.row == 3
    assert "stopped" in problem.message
    assert problem.fatal


def test_excel_unicode_text_export_is_read(tmp_path: Path) -> None:
    """Excel's "Unicode text" saves UTF-16 with tabs, named .txt."""
    path = tmp_path / "roster.txt"
    path.write_bytes("نام\tنام لاتین\nزهرا محمدی\u200cنژاد\tZahra\n".encode("utf-16"))
    roster = open_roster(path)
    assert roster.kind == "csv" and roster.problems == ()
    [row] = list(roster.rows())
    assert row.values == {"name": "زهرا محمدی\u200cنژاد", "name_en": "Zahra"}


@pytest.mark.parametrize("name", ["r.pdf", "r.xls", "r.ods", "roster"])
def test_unsupported_file_types(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.7\n")
    roster = open_roster(path)
    assert roster.kind is None
    [problem] = roster.problems
    assert problem.row == 0
    assert "not" in problem.message
    assert ".xlsx" in problem.message
    assert list(roster.rows()) == []


def test_unreadable_files_raise(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="no such file"):
        open_roster(tmp_path / "missing.csv")
    with pytest.raises(DocumentError, match="folder"):
        open_roster(tmp_path)


def test_workbook_named_csv(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", people_table(PEOPLE))
    renamed = tmp_path / "r.csv"
    path.rename(renamed)
    [problem] = open_roster(renamed).problems
    assert ".xlsx" in problem.message


def test_xlsx_values_become_text(tmp_path: Path) -> None:
    table = [
        ["نام", "تاریخ صدور", "کد ملی", "شناسه", "به پاس", "رشته"],
        ["علی رضایی", date(2026, 11, 26), 12345679, 1234.0, None, 3.5],
        ["زهرا محمدی", datetime(2026, 11, 26), "0012345679", 7, True, "متن"],
        ["مریم کاظمی", datetime(2026, 11, 26, 14, 30), 1234567890, -2, time(9, 5), 0],
    ]
    rows = list(open_roster(write_xlsx(tmp_path / "r.xlsx", table)).rows())
    assert [dict(r.values) for r in rows] == [
        {
            "name": "علی رضایی",
            "issued_on": "2026-11-26",
            "national_id": "0012345679",  # leading zeros Excel dropped
            "external_id": "1234",
            "citation": "",
            "field": "3.5",
        },
        {
            "name": "زهرا محمدی",
            "issued_on": "2026-11-26",
            "national_id": "0012345679",
            "external_id": "7",
            "citation": "TRUE",
            "field": "متن",
        },
        {
            "name": "مریم کاظمی",
            "issued_on": "2026-11-26 14:30",
            "national_id": "1234567890",
            "external_id": "-2",
            "citation": "09:05:00",
            "field": "0",
        },
    ]


def test_cell_text() -> None:
    assert cell_text(None) == ""
    assert cell_text("  ۱۲۳ ") == "۱۲۳"
    assert cell_text(123) == "123"
    assert cell_text(123.0) == "123"
    assert cell_text(1e20) == "100000000000000000000"
    assert cell_text(12345678, "national_id") == "0012345678"
    assert cell_text(12345678, "external_id") == "12345678"
    assert cell_text(date(2026, 1, 2)) == "2026-01-02"


def test_xlsx_blank_rows_and_stray_cells(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"], sheet["B1"] = "نام", "ایمیل"
    sheet["A2"] = "علی رضایی"
    sheet["A5"], sheet["D5"] = "زهرا محمدی", "اضافه"
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    rows = list(open_roster(path).rows())
    assert values(rows) == [
        (2, {"name": "علی رضایی", "email": ""}),
        (5, {"name": "زهرا محمدی", "email": ""}),
    ]
    [problem] = rows[1].problems
    assert "4 (D)" in problem.message
    assert problem.value == "اضافه"


def test_xlsx_reads_the_roster_sheet_else_the_first(tmp_path: Path) -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "راهنما"
    first.append(["این برگه را پر نکنید"])
    roster = workbook.create_sheet("فهرست")
    roster.append(["نام"])
    roster.append(["علی رضایی"])
    path = tmp_path / "r.xlsx"
    workbook.save(path)
    assert values(list(open_roster(path).rows())) == [(2, {"name": "علی رضایی"})]

    workbook.remove(roster)
    workbook.create_sheet("Other").append(["نام"])
    workbook.move_sheet("Other", offset=-1)
    workbook.active = 0
    workbook["Other"].append(["زهرا محمدی"])
    workbook.save(path)
    assert values(list(open_roster(path).rows())) == [(2, {"name": "زهرا محمدی"})]


@pytest.mark.parametrize(
    "content",
    [
        b"",  # empty is reported as such
        b"not a workbook at all",
        b"PK\x03\x04 truncated",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512,  # an old .xls (compound file)
    ],
)
def test_damaged_xlsx_is_a_problem(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "r.xlsx"
    path.write_bytes(content)
    roster = open_roster(path)
    [problem] = roster.problems
    assert problem.row == 0
    assert list(roster.rows()) == []


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "سلام")
    [problem] = open_roster(path).problems
    assert problem.row == 0
    assert "damaged" in problem.message


def test_truncated_workbook(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", people_table(PEOPLE)).read_bytes()
    path = tmp_path / "r.xlsx"
    path.write_bytes(good[: len(good) // 2])
    [problem] = open_roster(path).problems
    assert problem.row == 0


def test_encrypted_workbook(tmp_path: Path) -> None:
    # The compound-file container Excel writes for a password-protected workbook.
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    path = tmp_path / "r.xlsx"
    path.write_bytes(header + "EncryptedPackage".encode("utf-16-le") + b"\0" * 4096)
    [problem] = open_roster(path).problems
    assert problem.row == 0
    assert "password" in problem.message


def test_file_changed_after_opening(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE))
    roster = open_roster(path)
    write_csv(path, [["ایمیل", "نام"], ["a@example.org", "علی"]])
    [row] = roster.rows()
    assert row.number == 1
    assert "changed" in row.problems[0].message
