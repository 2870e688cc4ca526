"""Identifiers: unguessable diploma ids and human-readable serials."""

from __future__ import annotations

import re
import secrets

ID_BYTES = 17  # 136 random bits, of which at least 128 survive the first-character rule
ID_LENGTH = 23
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{22}$")
_SERIAL = re.compile(r"^[A-Z][A-Z0-9]{1,15}-\d{4}-\d{6,}$")
SERIAL_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


def new_diploma_id() -> str:
    """23 URL-safe characters, at least 128 random bits, starting with a letter or digit.

    The first character is never `-` or `_`, so an id is never read as a command-line
    option nor escaped as a spreadsheet formula in a CSV manifest.
    """
    while True:
        value = secrets.token_urlsafe(ID_BYTES)
        if value[0].isalnum():
            return value


def placeholder_id() -> str:
    """An id-shaped value for laying out pages before a real id exists."""
    return "0" * ID_LENGTH


def is_diploma_id(value: str) -> bool:
    return bool(_ID.match(value))


def format_serial(prefix: str, solar_year: int, number: int) -> str:
    """`TBZMED-1405-000123`: prefix, Solar Hijri year of issue, running number."""
    return f"{prefix}-{solar_year:04d}-{number:06d}"


def is_serial(value: str) -> bool:
    return bool(_SERIAL.match(value))
