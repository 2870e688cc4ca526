"""Hostile roster files get clear problems, in bounded time and memory (`open_roster`).

Bounds, on this 2-core machine: opening and reading every row takes under 5 s and under
64 MB of Python allocations (tracemalloc peak)."""

from __future__ import annotations

import os
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from diplomas.core.errors import DocumentError
from diplomas.roster import open_roster

SECONDS = 5.0
PEAK_BYTES = 64 * 1024 * 1024

_CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
    'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="roster" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
    'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
_SHEET_HEAD = (
    '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main"><sheetData>'
)


def _workbook(path: Path, rows: Callable[[], bytes] | bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        data = rows() if callable(rows) else rows
        archive.writestr(
            "xl/worksheets/sheet1.xml", _SHEET_HEAD.encode() + data + b"</sheetData></worksheet>"
        )
    return path


def zip_bomb(tmp: Path) -> Path:
    """A workbook whose sheet unpacks to a gigabyte of whitespace."""
    path = tmp / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            chunk = b" " * (1 << 20)
            for _ in range(1024):
                sheet.write(chunk)
    return path


def wide_row(tmp: Path) -> Path:
    cells = b"".join(
        b'<c r="%s1" t="inlineStr"><is><t>x</t></is></c>' % _column(i) for i in range(1, 16_385)
    )
    return _workbook(tmp / "wide.xlsx", b'<row r="1">' + cells + b"</row>")


def far_cell(tmp: Path) -> Path:
    """One cell at the last column and row a sheet can address."""
    return _workbook(
        tmp / "far.xlsx",
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>'
        b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>',
    )


def _column(n: int) -> bytes:
    out = b""
    while n:
        n, rest = divmod(n - 1, 26)
        out = bytes([65 + rest]) + out
    return out


def gigantic_field(tmp: Path) -> Path:
    path = tmp / "field.csv"
    with path.open("wb") as f:
        f.write("نام,نام لاتین\n".encode())
        f.write(b'"')
        for _ in range(50):
            f.write(b"x" * (1 << 20))
        f.write(b'",x\n')
    return path


def million_columns(tmp: Path) -> Path:
    path = tmp / "columns.csv"
    path.write_bytes(b"," * 3_000_000 + b"\n")
    return path


def many_columns_header(tmp: Path) -> Path:
    path = tmp / "header.csv"
    path.write_bytes(",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"x\n")
    return path


def junk(name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(os.urandom(2_000_000))
        return path

    return make


CASES: dict[str, Callable[[Path], Path]] = {
    "xlsx zip bomb": zip_bomb,
    "xlsx row of 16,384 cells": wide_row,
    "xlsx cell at XFD1048576": far_cell,
    "csv field of 50 MB": gigantic_field,
    "csv of 3,000,000 columns": million_columns,
    "csv header of 100,000 columns": many_columns_header,
    "binary junk as .csv": junk("junk.csv"),
    "binary junk as .xlsx": junk("junk.xlsx"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_roster_gets_a_clear_problem(tmp_path: Path, case: str) -> None:
    path = CASES[case](tmp_path)

    def read_through() -> list[str]:
        problems: list[str] = []
        try:
            roster = open_roster(path)
            problems += [p.message for p in roster.problems]
            for row in roster.rows():
                problems += [p.message for p in row.problems]
        except DocumentError as exc:
            problems.append(str(exc))
        return problems

    # Timed on its own: tracemalloc, which measures the memory below, makes every
    # allocation several times slower (4.9 s against 1.1 s for the 16,384-cell row).
    started = time.perf_counter()
    problems = read_through()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        assert read_through() == problems, case
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems and all(p.strip() for p in problems), case
    assert seconds < SECONDS, f"{case}: {seconds:.2f} s"
    assert peak < PEAK_BYTES, f"{case}: {peak / 1e6:.0f} MB"
