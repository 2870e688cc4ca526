from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import diplomas.roster
from diplomas.core.errors import DocumentError
from diplomas.roster import open_roster

from .files import PEOPLE, people_table, write_csv


def test_public_api() -> None:
    assert set(diplomas.roster.__all__) == {
        "HEADER_ALIASES",
        "IGNORED_HEADERS",
        "MAX_CELL_CHARS",
        "MAX_COLUMNS",
        "PREFERRED_HEADERS",
        "ProblemRecord",
        "ROSTER_FIELDS",
        "Roster",
        "RosterKind",
        "RosterProblem",
        "RosterRow",
        "cell_text",
        "detect_encoding",
        "field_for_header",
        "header_key",
        "open_roster",
        "safe_cell",
        "sniff_delimiter",
        "write_problems_csv",
    }


def test_reading_csv_does_not_import_openpyxl(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE))
    code = (
        "import sys; from pathlib import Path; from diplomas.roster import open_roster;"
        f"assert open_roster(Path({str(path)!r})).count() == 3;"
        "assert 'openpyxl' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_file_removed_after_opening_is_unreadable(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", people_table(PEOPLE))
    roster = open_roster(path)
    path.unlink()
    with pytest.raises(DocumentError, match="no such file"):
        list(roster.rows())
