"""Identifiers: unguessable diploma ids and human-readable serials."""

from __future__ import annotations

import re
import secrets

ID_BYTES = 16  # 128 random bits
_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_SERIAL = re.compile(r"^[A-Z][A-Z0-9]{1,15}-\d{4}-\d{6,}$")
SERIAL_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


def new_diploma_id() -> str:
    """22 URL-safe characters carrying 128 random bits."""
    return secrets.token_urlsafe(ID_BYTES)


def is_diploma_id(value: str) -> bool:
    return bool(_ID.match(value))


def format_serial(prefix: str, solar_year: int, number: int) -> str:
    """`TBZMED-1405-000123`: prefix, Solar Hijri year of issue, running number."""
    return f"{prefix}-{solar_year:04d}-{number:06d}"


def is_serial(value: str) -> bool:
    return bool(_SERIAL.match(value))
