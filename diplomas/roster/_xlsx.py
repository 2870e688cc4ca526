"""Reading Excel workbooks (.xlsx) one row at a time with openpyxl's read-only mode.

openpyxl is imported when the first workbook is opened, so reading CSV never pays for it.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

from ._files import open_binary
from ._records import ReadStopped, Records
from .headers import header_key

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: encrypted OOXML or .xls
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")

# A roster of 10,000 rows unpacks to a few megabytes; far beyond is a zip bomb.
MAX_UNPACKED_BYTES = 256 * 1024 * 1024

# Sheets read in preference to the first one, compared as headers are.
ROSTER_SHEETS = ("roster", "فهرست")


def workbook_problem(path: Path, head: bytes) -> str | None:
    """Why the file at `path`, starting with `head`, cannot be a readable workbook; or None."""
    if head.startswith(OLE_MAGIC):
        if _ENCRYPTED in head:
            return (
                "This workbook is protected with a password; open it in Excel, remove the "
                "password, save it and upload it again."
            )
        return (
            "This file is a password-protected workbook or an old Excel 97-2003 file; open it "
            "in Excel, remove any password and save it as an Excel Workbook (.xlsx)."
        )
    damaged = (
        "This file is not a readable Excel workbook (.xlsx): it may be damaged, or another "
        "kind of file renamed to .xlsx."
    )
    if not head.startswith(ZIP_MAGIC):
        return damaged
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return damaged
    if unpacked > MAX_UNPACKED_BYTES:
        return (
            f"This workbook unpacks to {unpacked // 2**20} MB; a roster workbook is at most "
            f"{MAX_UNPACKED_BYTES // 2**20} MB."
        )
    return None


def _choose_sheet(workbook: Any) -> Any:
    sheets = list(workbook.worksheets)
    if not sheets:
        raise ReadStopped("This workbook has no worksheet.", whole_file=True)
    wanted = {header_key(name) for name in ROSTER_SHEETS}
    return next((ws for ws in sheets if header_key(ws.title) in wanted), sheets[0])


def _reason(error: Exception) -> str:
    text = str(error)
    return type(error).__name__ + (f": {text[:200]}" if text else "")


def xlsx_records(path: Path) -> Records:
    """Every row of the roster sheet (the one named roster or «فهرست», else the first),
    blank ones included, as raw cell values (str, int, float, datetime, None, ...)."""
    from openpyxl import load_workbook  # type: ignore[import-untyped, unused-ignore]

    with open_binary(path) as file:
        # openpyxl parses untrusted XML and fails in many ways on a damaged file
        # (KeyError, XML syntax errors, ValueError, ...): all of them mean "damaged".
        try:
            with warnings.catch_warnings():
                # Warnings about parts openpyxl drops (styles, extensions, validation)
                # do not concern the cell values.
                warnings.simplefilter("ignore")
                workbook = load_workbook(file, read_only=True, data_only=True)
        except Exception as error:
            raise ReadStopped(
                f"This workbook could not be opened; it may be damaged ({_reason(error)}).",
                whole_file=True,
            ) from error
        try:
            sheet = _choose_sheet(workbook)
            # The size a sheet declares may be wrong; read whatever rows it holds.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            number = 0
            while True:
                try:
                    values = next(rows, None)
                except Exception as error:
                    raise ReadStopped(
                        f"The rest of the worksheet could not be read; it may be damaged "
                        f"({_reason(error)}). Reading stopped here."
                    ) from error
                if values is None:
                    return
                number += 1
                yield number, values
        finally:
            workbook.close()
