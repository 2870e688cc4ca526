from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from diplomas.core.text import normalize
from diplomas.roster import detect_encoding, open_roster, sniff_delimiter

from .files import HEADERS_CP1256, PEOPLE, PEOPLE_CP1256, ZWNJ, people_table, write_csv, write_xlsx


def names(path: Path, **kwargs: str) -> list[dict[str, str]]:
    roster = open_roster(path, **kwargs)
    assert roster.problems == ()
    rows = list(roster.rows())
    assert all(row.problems == () for row in rows)
    return [dict(row.values) for row in rows]


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter", "detected"),
    [
        ("utf-8", b"", ",", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, ",", "utf-8-sig"),  # Excel "CSV UTF-8"
        ("utf-16-le", codecs.BOM_UTF16_LE, "\t", "utf-16"),  # Excel "Unicode text"
        ("utf-16-be", codecs.BOM_UTF16_BE, ",", "utf-16"),
        ("utf-16-le", b"", "\t", "utf-16-le"),
        ("utf-16-be", b"", ",", "utf-16-be"),
    ],
)
def test_persian_names_round_trip_exactly(
    tmp_path: Path, encoding: str, bom: bytes, delimiter: str, detected: str
) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE), encoding, delimiter, bom)
    assert open_roster(path).encoding == detected
    values = names(path)
    assert values == PEOPLE
    assert ZWNJ in values[1]["name"]
    assert values[1]["external_id"] == "۱۴۰۵"


def test_windows_1256_round_trips_what_it_can_hold(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE_CP1256, HEADERS_CP1256), "cp1256")
    assert open_roster(path).encoding == "cp1256"
    values = names(path)
    assert values == PEOPLE_CP1256
    assert ZWNJ in values[1]["name"]
    assert normalize(values[0]["name"]) == "علی رضایی"


def test_xlsx_round_trips_exactly(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "r.xlsx", people_table(PEOPLE))
    roster = open_roster(path)
    assert (roster.kind, roster.encoding) == ("xlsx", None)
    assert names(path) == PEOPLE


def test_encoding_override(tmp_path: Path) -> None:
    # Pure-ASCII head, so detection says UTF-8; the caller knows better.
    rows = [["name", "external_id"], *([p["name"], p["external_id"]] for p in PEOPLE_CP1256)]
    path = write_csv(tmp_path / "r.csv", rows, "cp1256")
    assert open_roster(path).encoding == "cp1256"
    assert open_roster(path, encoding="cp1256").encoding == "cp1256"
    assert [v["name"] for v in names(path, encoding="cp1256")] == [p["name"] for p in PEOPLE_CP1256]
    utf8 = write_csv(tmp_path / "u.csv", people_table(PEOPLE), "utf-8", bom=codecs.BOM_UTF8)
    assert names(utf8, encoding="utf-8") == PEOPLE  # the BOM is not part of the header


def test_unknown_encoding_override_is_a_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE))
    roster = open_roster(path, encoding="klingon")
    assert [(p.row, "klingon" in p.message) for p in roster.problems] == [(0, True)]
    assert list(roster.rows()) == []


def test_undecodable_header_names_the_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE_CP1256, HEADERS_CP1256), "cp1256")
    roster = open_roster(path, encoding="utf-8")
    [problem] = roster.problems
    assert problem.row == 1
    assert "UTF-8" in problem.message
    assert "\ufffd" in problem.value
    assert list(roster.rows()) == []


def test_undecodable_row_mid_file_is_reported_and_reading_stops(tmp_path: Path) -> None:
    # Enough UTF-8 rows that the detector's sample never sees the Windows-1256 one.
    rows: list[list[str]] = [["نام", "ایمیل"]]
    rows += [[f"علی رضایی {i}", f"a{i}@example.org"] for i in range(2000)]
    good = write_csv(tmp_path / "good.csv", rows).read_bytes()
    bad_line = "زهرا,".encode() + "محمدي".encode("cp1256") + b"\r\n"
    path = tmp_path / "r.csv"
    path.write_bytes(good + bad_line + "مریم,m@example.org\r\n".encode())
    roster = open_roster(path)
    assert roster.encoding == "utf-8"
    assert roster.problems == ()
    rows_read = list(roster.rows())
    last = rows_read[-1]
    assert len(rows_read) == 2001
    assert last.number == 2002
    [problem] = last.problems
    assert (problem.row, problem.column, problem.field) == (2002, "ایمیل", "email")
    assert "UTF-8" in problem.message
    assert "stopped" in problem.message
    assert "\ufffd" in problem.value
    assert all(row.problems == () for row in rows_read[:-1])


def test_detect_encoding() -> None:
    text = "نام\tایمیل\r\nعلی رضایی\ta@b.ir\r\n"
    assert detect_encoding(codecs.BOM_UTF8 + text.encode()) == "utf-8-sig"
    assert detect_encoding(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == "utf-16"
    assert detect_encoding(codecs.BOM_UTF16_BE + text.encode("utf-16-be")) == "utf-16"
    assert detect_encoding(text.encode("utf-16-le")) == "utf-16-le"
    assert detect_encoding(text.encode("utf-16-be")) == "utf-16-be"
    assert detect_encoding("نام فقط\r\nعلی\r\n".encode("utf-16-le")) == "utf-16-le"
    assert detect_encoding(text.encode()) == "utf-8"
    assert detect_encoding(b"name,email\r\n") == "utf-8"
    assert detect_encoding(b"") == "utf-8"
    # A sample may end in the middle of a two-byte letter.
    assert detect_encoding(text.encode()[:-3] + "ن".encode()[:1]) == "utf-8"
    assert detect_encoding("نام,ايميل\r\nعلي\r\n".encode("cp1256")) == "cp1256"


def test_sniff_delimiter() -> None:
    assert sniff_delimiter("نام,ایمیل,کد ملی\r\n") == ","
    assert sniff_delimiter("نام\tایمیل\r\n") == "\t"
    assert sniff_delimiter("نام;ایمیل;کد ملی\r\n") == ";"
    assert sniff_delimiter("نام؛ایمیل\r\n") == "؛"
    assert sniff_delimiter('"نام, کامل";ایمیل\r\n') == ";"
    assert sniff_delimiter("\r\nنام\r\n") == ","


@pytest.mark.parametrize("delimiter", [";", "\t", "؛"])
def test_other_delimiters_are_read(tmp_path: Path, delimiter: str) -> None:
    table = people_table(PEOPLE)
    table[1][0] = "علی, رضایی; \tدوم"  # quoted, so delimiters inside are text
    path = write_csv(tmp_path / "r.csv", table, delimiter=delimiter)
    assert next(open_roster(path).rows()).values["name"] == "علی, رضایی; \tدوم"


def test_tsv_extension_means_tabs(tmp_path: Path) -> None:
    table = [["نام", "به پاس"], ["علی رضایی", "بنیان‌گذار، مدیر, مربی"]]
    path = write_csv(tmp_path / "r.tsv", table, "utf-16-le", "\t", codecs.BOM_UTF16_LE)
    roster = open_roster(path)
    assert roster.kind == "csv"
    assert [dict(r.values) for r in roster.rows()] == [
        {"name": "علی رضایی", "citation": "بنیان‌گذار، مدیر, مربی"}
    ]
