"""Cell values as text, the way a person reading the sheet would type them."""

from __future__ import annotations

from datetime import date, datetime, time


def cell_text(value: object, field: str = "") -> str:
    """Text of a cell: strings stripped of surrounding whitespace (nothing else: the
    core normalises later), None as "", whole numbers without ".0", dates as ISO 8601.

    A national code typed into Excel as a number loses its leading zeros (0012345678
    becomes 12345678); numeric national_id cells of 8 or 9 digits get them back.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        if field == "national_id" and 8 <= len(text) <= 9:
            text = text.zfill(10)
        return text
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()
