"""`open_roster`: a roster file's columns and problems, and its rows, streamed.

Opening reads only as far as the header row. `Roster.rows()` re-opens the file on each
call and yields one row at a time, so memory stays flat however long the roster is.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ._csv import csv_records
from ._files import read_head
from ._records import ReadStopped, Records, limited
from ._xlsx import OLE_MAGIC, ZIP_MAGIC, workbook_problem, xlsx_records
from .cells import cell_text
from .encoding import (
    UNDECODABLE,
    detect_encoding,
    has_undecodable,
    readable,
    register_handler,
    sniff_delimiter,
)
from .headers import HeaderLayout, read_header, written_header
from .model import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    STOPPED,
    RosterKind,
    RosterProblem,
    RosterRow,
    shorten,
)

HEAD_BYTES = 64 * 1024

# Excel's "Unicode text" export is tab-separated UTF-16 saved as .txt.
_KINDS: dict[str, RosterKind] = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx"}

_ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "cp1256": "Windows-1256",
}


@dataclass(frozen=True)
class Roster:
    """An opened roster: its recognised columns and file-level problems; rows on demand.

    The column headers are row 1 (header problems have row 1, file problems row 0).

    When a problem makes the rows unreadable (unsupported or damaged file, no header row,
    undecodable header) `rows()` yields nothing; otherwise it yields every non-blank row,
    also when the header has problems, so that one report can list them all.
    """

    path: Path
    kind: RosterKind | None
    """"csv" (also for .tsv), "xlsx", or None for a file type that is not read."""
    encoding: str | None
    """The text encoding read with (CSV only)."""
    columns: tuple[tuple[str, str], ...]
    """(header as written, field) of each recognised column, in file order."""
    problems: tuple[RosterProblem, ...]
    """Problems of the file and its header row."""
    _layout: HeaderLayout | None = field(default=None, repr=False, compare=False)
    _records: Callable[[], Records] | None = field(default=None, repr=False, compare=False)

    def header_for(self, field: str) -> str:
        """The header this file gives `field` (for messages); the field name if none."""
        return next((header for header, f in self.columns if f == field), field)

    def rows(self) -> Iterator[RosterRow]:
        """The non-blank data rows, read afresh from the file on every call.

        A row counts as blank when it has nothing outside ignored columns (such as a
        pre-numbered «ردیف»). A row with bytes that do not decode, or one the CSV or XLSX
        reader cannot parse, ends the iteration with a row carrying that problem.
        """
        layout, records = self._layout, self._records
        if layout is None or records is None or not layout.readable:
            return
        fields = {index: (header, f) for index, header, f in layout.columns}
        number = 0
        with closing(records()) as source:
            try:
                for number, cells in source:
                    if number < layout.row:
                        continue
                    if number == layout.row:
                        if written_header(cells) != layout.cells:
                            yield _stop_row(
                                number,
                                "The header row changed after the roster was opened; open "
                                "it again.",
                            )
                            return
                        continue
                    row, stop = self._row(number, cells, layout, fields)
                    if row is not None:
                        yield row
                    if stop:
                        return
            except ReadStopped as stopped:
                yield _stop_row(number + 1, stopped.message)

    def count(self) -> int:
        """The number of rows `rows()` yields, counted by reading the file."""
        return sum(1 for _ in self.rows())

    def _has_header_row(self) -> bool:
        """A header row was found, known headers or not (a row of only unknown ones makes
        the rows unreadable as they stand, and readable once a person names the
        columns: `write_with_header`)."""
        layout = self._layout
        return (
            layout is not None
            and self._records is not None
            and bool(layout.cells)
            and layout.width <= MAX_COLUMNS
        )

    @property
    def header(self) -> tuple[str, ...]:
        """The header row's cells as written ('' where a cell is blank); () if none."""
        return self._layout.cells if self._layout is not None else ()

    def samples(self, count: int) -> list[tuple[str, ...]]:
        """The first `count` data rows' cells as text, in column order, for showing which
        column holds what (blank rows skipped; nothing read past them)."""
        layout, records = self._layout, self._records
        if not self._has_header_row():
            return []
        assert layout is not None and records is not None
        found: list[tuple[str, ...]] = []
        with closing(records()) as source:
            try:
                for number, cells in source:
                    if number <= layout.row:
                        continue
                    texts = tuple(
                        shorten(readable(cell_text(cell)), 60)
                        for cell in list(cells)[: layout.width]
                    )
                    if any(texts):
                        found.append(texts + ("",) * (layout.width - len(texts)))
                    if len(found) >= count:
                        break
            except ReadStopped:
                pass
        return found

    def write_with_header(self, header: Sequence[str], out: Path) -> None:
        """A UTF-8 CSV copy of this roster with `header` in place of its header row:
        every cell of every row as the reader reads it, none dropped (a column to leave
        out is headed with `#`, which the reader skips). ValueError if `header` does not
        have one name per column."""
        layout, records = self._layout, self._records
        if not self._has_header_row():
            raise ValueError("this roster has no readable header row")
        assert layout is not None and records is not None
        if len(header) != layout.width:
            raise ValueError(f"the header needs {layout.width} names, not {len(header)}")
        with open(out, "w", encoding="utf-8", newline="") as fh, closing(records()) as source:
            writer = csv.writer(fh)
            for number, cells in source:
                if number < layout.row:
                    continue
                if number == layout.row:
                    writer.writerow(header)
                    continue
                writer.writerow([cell_text(cell) for cell in cells])

    def _row(
        self,
        number: int,
        cells: Sequence[object],
        layout: HeaderLayout,
        fields: dict[int, tuple[str, str]],
    ) -> tuple[RosterRow | None, bool]:
        """The row (None when blank), and whether reading must stop after it."""
        values = dict.fromkeys((f for _, _, f in layout.columns), "")
        problems: list[RosterProblem] = []
        stray: tuple[int, str] | None = None
        undecodable = False
        filled = 0  # cells up to the last non-blank one
        for index, raw in enumerate(cells):
            header, name = fields.get(index, ("", ""))
            text = cell_text(raw, name)
            if not text:
                continue
            filled = index + 1
            if has_undecodable(text):
                undecodable = True
                text = readable(text)
                if not header and index < layout.width:
                    header = layout.cells[index]
                problems.append(
                    RosterProblem(number, header, name, self._undecodable_message(), shorten(text))
                )
            if name:
                values[name] = text
                if len(text) > MAX_CELL_CHARS:
                    problems.append(
                        RosterProblem(
                            number,
                            header,
                            name,
                            f"This cell is {len(text)} characters long; a roster cell holds "
                            f"at most {MAX_CELL_CHARS}.",
                            shorten(text),
                        )
                    )
            elif stray is None and (index >= layout.width or not layout.cells[index]):
                stray = (index, text)
        if stray is not None:
            problems.append(_stray_problem(number, stray, filled, layout.width, self.kind))
        if not problems and not any(values.values()):
            return None, False
        return RosterRow(number, values, tuple(problems)), undecodable

    def _undecodable_message(self) -> str:
        encoding = _ENCODING_NAMES.get(self.encoding or "", self.encoding or "")
        return (
            f"This cell has bytes that are not {encoding} text, so the file was probably "
            "saved in another encoding; save the roster as “CSV UTF-8” or as an Excel "
            "workbook and upload it again. " + STOPPED
        )


def _stop_row(number: int, message: str) -> RosterRow:
    if not message.endswith(STOPPED):
        message = f"{message} {STOPPED}"
    return RosterRow(number, {}, (RosterProblem(number, "", "", message),))


def _column_name(index: int) -> str:
    """Column position as a spreadsheet shows it: 1 (A), 28 (AB)."""
    letters, n = "", index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{index + 1} ({letters})"


def _stray_problem(
    number: int, stray: tuple[int, str], cells: int, width: int, kind: RosterKind | None
) -> RosterProblem:
    index, text = stray
    message = (
        f"Column {_column_name(index)} has no header, but this row has a value in it; give "
        "the column a header (start it with # to ignore it) or remove the value."
    )
    if index >= width and kind == "csv":
        message = (
            f"This row has {cells} cells but the header names only {width} columns; a "
            "comma, semicolon or tab inside a cell must be within double quotes."
        )
    return RosterProblem(number, "", "", message, shorten(text))


def _file_problem(path: Path, kind: RosterKind | None, message: str, row: int = 0) -> Roster:
    return Roster(path, kind, None, (), (RosterProblem(row, "", "", message),))


def _unsupported(path: Path) -> str:
    what = f"«{path.name}»"
    if path.suffix.lower() == ".xls":
        return (
            f"{what} is an Excel 97-2003 workbook, which is not read; open it in Excel and "
            "save it as an Excel Workbook (.xlsx)."
        )
    return (
        f"{what} is not a supported roster file; save the roster as an Excel Workbook "
        "(.xlsx) or as “CSV UTF-8” (.csv). A tab-separated “Unicode text” file can be "
        "renamed to .tsv."
    )


def open_roster(path: Path, *, encoding: str | None = None) -> Roster:
    """Open the roster at `path` (.csv, .tsv or .xlsx), reading as far as its header row.

    Problems of the file (unsupported type, damaged or encrypted workbook, empty file,
    undecodable header, unknown, duplicate or missing columns) are in `Roster.problems`.
    `encoding` overrides the detected text encoding of a CSV file. Raises DocumentError
    only when the file cannot be read at all (missing, a folder, permission denied).
    """
    path = Path(path)
    head = read_head(path, HEAD_BYTES)
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        return _file_problem(path, None, _unsupported(path))
    if not head:
        return _file_problem(path, kind, "The file is empty.")

    records: Callable[[], Records]
    if kind == "xlsx":
        problem = workbook_problem(path, head)
        if problem:
            return _file_problem(path, kind, problem)
        records = partial(_limited, xlsx_records, path)
    else:
        if head.startswith((ZIP_MAGIC, OLE_MAGIC)):
            return _file_problem(
                path,
                kind,
                "This file is an Excel workbook, not CSV text; give it the .xlsx extension, "
                "or save it from Excel as “CSV UTF-8”.",
            )
        encoding = encoding or detect_encoding(head)
        try:
            codecs.lookup(encoding)
        except LookupError:
            return _file_problem(path, kind, f"“{encoding}” is not a known text encoding.")
        if path.suffix.lower() == ".tsv":
            delimiter = "\t"
        else:
            register_handler()
            delimiter = sniff_delimiter(head.decode(encoding, errors=UNDECODABLE))
        records = partial(_limited, csv_records, path, encoding, delimiter)

    return _open(path, kind, encoding if kind == "csv" else None, records)


def _open(
    path: Path,
    kind: RosterKind,
    encoding: str | None,
    records: Callable[[], Records],
) -> Roster:
    header: tuple[int, Sequence[object]] | None = None
    number = 0
    try:
        with closing(records()) as source:
            for number, cells in source:
                if any(cell_text(cell) for cell in cells):
                    header = (number, cells)
                    break
    except ReadStopped as stop:
        row = 0 if stop.whole_file else number + 1
        return Roster(path, kind, encoding, (), (RosterProblem(row, "", "", stop.message),))
    if header is None:
        return _file_problem(path, kind, "The file is empty: it has no header row and no data.")

    number, cells = header
    if number > 1:
        # The header is row 1 by contract: a problem there is a header problem.
        return _file_problem(
            path,
            kind,
            f"Row 1 is blank, but the column headers must be in the first row; delete the "
            f"rows above row {number}.",
            row=1,
        )
    written = written_header(cells)
    bad = next((text for text in written if has_undecodable(text)), None)
    if bad is not None:
        name = _ENCODING_NAMES.get(encoding or "", encoding or "")
        problem = RosterProblem(
            number,
            readable(bad),
            "",
            f"The header row has bytes that are not {name} text, so the file was probably "
            "saved in another encoding; save the roster as “CSV UTF-8” or as an Excel "
            "workbook and upload it again.",
            readable(bad),
        )
        return Roster(path, kind, encoding, (), (problem,))

    layout = read_header(number, written)
    columns = tuple((header_text, f) for _, header_text, f in layout.columns)
    return Roster(path, kind, encoding, columns, layout.problems, layout, records)


def _limited(read: Callable[..., Records], *args: object) -> Records:
    """The records `read(*args)` yields, up to MAX_ROWS (a sheet can address a million)."""
    return limited(read(*args), MAX_ROWS)
