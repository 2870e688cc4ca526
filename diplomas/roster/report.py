"""Writing roster problems as a CSV file that Excel opens correctly and safely."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from ..atomic import atomic_writer

PROBLEM_COLUMNS = ("row", "column", "field", "value", "message")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ProblemRecord(Protocol):
    """Anything shaped like a `RosterProblem` (the batch engine has its own)."""

    @property
    def row(self) -> int: ...
    @property
    def column(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def message(self) -> str: ...


def safe_cell(value: str) -> str:
    """`value` made inert for spreadsheets: a cell starting with = + - @ TAB or CR would
    be taken as a formula (CSV injection), so it gets a leading single quote."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def write_problems_csv(path: Path, problems: Iterable[ProblemRecord]) -> int:
    """Write `problems` to `path` as UTF-8 CSV with a BOM (so Excel shows Persian text)
    and columns row, column, field, value, message. The file is replaced atomically and
    readable by its owner only (values may hold national codes). Returns the count."""
    count = 0
    with atomic_writer(path) as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        writer = csv.writer(out)
        writer.writerow([safe_cell(name) for name in PROBLEM_COLUMNS])
        for problem in problems:
            cells = (problem.row, problem.column, problem.field, problem.value, problem.message)
            writer.writerow([safe_cell(str(cell)) for cell in cells])
            count += 1
        out.flush()
        out.detach()  # the raw file is the writer's to close
    return count
