"""What a roster reader reports: rows of cell text and the problems found on the way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

RosterKind = Literal["csv", "xlsx"]

# Defensive bounds. No printed field is longer than a few hundred characters, and a
# roster has about a dozen columns; anything far beyond is a broken or hostile file.
MAX_CELL_CHARS = 10_000
MAX_COLUMNS = 200
# Rows a roster may have, blank ones included (a sheet can address a million rows with
# one cell at the bottom; reading them all would take many seconds).
MAX_ROWS = 100_000


STOPPED = "Reading stopped here."


@dataclass(frozen=True)
class RosterProblem:
    """A structural problem in a roster file, located the way the person sees the file."""

    row: int
    """Spreadsheet row number (the header is row 1, the first data row 2); 0 for the file."""
    column: str
    """The column's header as written in the file; "" for a row- or file-level problem."""
    field: str
    """The canonical field name when the column is a known one, else ""."""
    message: str
    """A plain sentence saying what is wrong and how to fix it."""
    value: str = ""
    """The offending cell text (shortened when very long), or ""."""

    @property
    def fatal(self) -> bool:
        """Reading could not go on past this problem, so the rest of the file is unknown:
        no row of such a file may be issued, --skip-invalid or not."""
        return self.message.endswith(STOPPED)


@dataclass(frozen=True)
class RosterRow:
    """One non-blank data row: the text of each recognised column, keyed by field name."""

    number: int
    """Spreadsheet row number."""
    values: Mapping[str, str]
    """Field -> cell text, stripped of surrounding whitespace and otherwise as written.
    Every recognised column of the file has a key (blank cells give ""); fields whose
    column the file lacks have none."""
    problems: tuple[RosterProblem, ...] = field(default=())
    """Structural problems of this row (extra cells, an over-long cell, bad bytes)."""


def shorten(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters for a message, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
