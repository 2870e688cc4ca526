"""Reading diploma rosters: CSV, TSV and Excel files listing one recipient per row.

    open_roster(path)       -> Roster: recognised columns and file-level problems
    Roster.rows()           streams RosterRow (field -> cell text, row problems)
    write_problems_csv()    a problems report that Excel opens with Persian intact

The reader only finds structural problems (file, encoding, header, extra cells); each
row's values are validated by the core's `parse_request`. Header spellings are in
`HEADER_ALIASES`; columns in `IGNORED_HEADERS` or headed with # are skipped silently.
"""

from .cells import cell_text
from .encoding import detect_encoding, sniff_delimiter
from .headers import (
    HEADER_ALIASES,
    IGNORED_HEADERS,
    PREFERRED_HEADERS,
    ROSTER_FIELDS,
    field_for_header,
    header_key,
)
from .model import MAX_CELL_CHARS, MAX_COLUMNS, RosterKind, RosterProblem, RosterRow
from .reader import Roster, open_roster
from .report import ProblemRecord, safe_cell, write_problems_csv

__all__ = [
    "HEADER_ALIASES",
    "IGNORED_HEADERS",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "PREFERRED_HEADERS",
    "ROSTER_FIELDS",
    "ProblemRecord",
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
]
