"""Reading CSV and TSV rosters one row at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ._files import open_binary
from ._records import ReadStopped, Records
from .encoding import UNDECODABLE, register_handler
from .model import MAX_CELL_CHARS, MAX_COLUMNS

# A row of MAX_COLUMNS full cells, with quotes; longer lines are not a roster.
MAX_LINE_CHARS = MAX_COLUMNS * (MAX_CELL_CHARS + 3)


def csv_records(path: Path, encoding: str, delimiter: str) -> Records:
    """Every record of the file, numbered as a spreadsheet numbers rows (blank lines
    count). Undecodable bytes arrive as marks in the cells (see `encoding`)."""
    register_handler()
    with (
        open_binary(path) as raw,
        io.TextIOWrapper(raw, encoding=encoding, errors=UNDECODABLE, newline="") as text,
    ):
        reader = csv.reader(_lines(text), delimiter=delimiter)
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as error:
            if "field limit" in str(error):
                message = (
                    "A cell here is far too long (an unclosed quote mark can swallow the "
                    "rest of the file); reading stopped here."
                )
            else:
                message = f"This row is not valid CSV ({error}); reading stopped here."
            raise ReadStopped(message) from error
        except OSError as error:
            raise ReadStopped(
                f"The file could not be read further ({error.strerror}); reading stopped here."
            ) from error


def _lines(text: TextIO) -> Iterator[str]:
    while line := text.readline(MAX_LINE_CHARS):
        if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            raise ReadStopped(
                f"This row is longer than {MAX_LINE_CHARS} characters; reading stopped here."
            )
        yield line
