"""What the CSV and XLSX readers hand to the roster: numbered rows of raw cells."""

from __future__ import annotations

from collections.abc import Generator, Sequence

Record = tuple[int, Sequence[object]]
"""(spreadsheet row number, cell values) for every row, blank ones included."""

Records = Generator[Record, None, None]


class ReadStopped(Exception):
    """The rest of the file cannot be read; the message says why, as a plain sentence.

    `whole_file` when nothing of it could be read (a workbook that does not open)."""

    def __init__(self, message: str, *, whole_file: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.whole_file = whole_file


def limited(records: Records, limit: int) -> Records:
    """`records`, stopping with a problem after row `limit`."""
    for number, values in records:
        if number > limit:
            records.close()
            raise ReadStopped(
                f"The roster has more than {limit:,} rows (blank ones included); split it "
                f"into smaller files. Reading stopped here."
            )
        yield number, values
