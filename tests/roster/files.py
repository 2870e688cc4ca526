"""Roster files written the way spreadsheet programs write them, for the roster tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

ZWNJ = "\u200c"

# Persian names as typed on a Persian keyboard: ی and ک, a ZWNJ, Persian digits.
PEOPLE = [
    {"name": "علی رضایی", "name_en": "Ali Rezaei", "external_id": "S-۰۰۱"},
    {"name": f"زهرا محمدی{ZWNJ}نژاد", "name_en": "Zahra Mohammadinejad", "external_id": "۱۴۰۵"},
    {"name": "کیوان گلچین‌پور", "name_en": "Keyvan Golchinpour", "external_id": "S-3"},
]

# Windows-1256 has no Persian ی (U+06CC) and no Persian digits: Windows writes the
# Arabic ي (U+064A) for ی, which the core's normalisation turns back.
PEOPLE_CP1256 = [
    {"name": "علي رضايي", "name_en": "Ali Rezaei", "external_id": "S-1"},
    {"name": f"زهرا محمدي{ZWNJ}نژاد", "name_en": "Zahra Mohammadinejad", "external_id": "S-2"},
    {"name": "کيوان گلچين‌پور و ژاله", "name_en": "Keyvan Golchinpour", "external_id": "S-3"},
]

HEADERS = {"name": "نام و نام خانوادگی", "name_en": "نام لاتین", "external_id": "شناسه"}
HEADERS_CP1256 = {"name": "نام و نام خانوادگي", "name_en": "نام لاتين", "external_id": "شناسه"}


def csv_text(rows: Sequence[Sequence[object]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue()


def write_csv(
    path: Path,
    rows: Sequence[Sequence[object]],
    encoding: str = "utf-8",
    delimiter: str = ",",
    bom: bytes = b"",
) -> Path:
    """Cells to a CSV file; `bom` is written before text encoded with `encoding`."""
    path.write_bytes(bom + csv_text(rows, delimiter).encode(encoding))
    return path


def people_table(
    people: Sequence[dict[str, str]], headers: dict[str, str] = HEADERS
) -> list[list[str]]:
    fields = list(people[0])
    return [[headers[f] for f in fields], *([p[f] for f in fields] for p in people)]


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], title: str = "Sheet1") -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path
