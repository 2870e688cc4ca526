"""Solar Hijri and Gregorian dates: parsing what people type, printing both calendars."""

from __future__ import annotations

import re
from datetime import date

import jdatetime

from .text import ascii_digits, persian_digits

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*$")

# Years below this are read as Solar Hijri (1405 SH is 2026 CE), above as Gregorian.
_SOLAR_HIJRI_MAX_YEAR = 1700

PERSIAN_MONTHS = (
    "فروردین",
    "اردیبهشت",
    "خرداد",
    "تیر",
    "مرداد",
    "شهریور",
    "مهر",
    "آبان",
    "آذر",
    "دی",
    "بهمن",
    "اسفند",
)
ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

GREGORIAN_MONTHS_FA = (
    "ژانویه",
    "فوریه",
    "مارس",
    "آوریل",
    "مه",
    "ژوئن",
    "ژوئیه",
    "اوت",
    "سپتامبر",
    "اکتبر",
    "نوامبر",
    "دسامبر",
)


def parse_date(value: str) -> date:
    """Parse `1405/09/05` (Solar Hijri) or `2026-11-26` (ISO), digits in either script.

    Raises ValueError with a sentence suitable for the person who typed the value.
    """
    match = _DATE.match(ascii_digits(value))
    if not match:
        raise ValueError("expected a date like 1405/09/05 (Solar Hijri) or 2026-11-26 (Gregorian)")
    year, month, day = (int(g) for g in match.groups())
    try:
        if year < _SOLAR_HIJRI_MAX_YEAR:
            return jdatetime.date(year, month, day).togregorian()  # type: ignore[no-any-return]
        return date(year, month, day)
    except ValueError:
        calendar = "Solar Hijri" if year < _SOLAR_HIJRI_MAX_YEAR else "Gregorian"
        raise ValueError(f"{value.strip()} is not a real {calendar} date") from None


def solar_hijri(day: date) -> tuple[int, int, int]:
    j = jdatetime.date.fromgregorian(date=day)
    return j.year, j.month, j.day


def solar_hijri_year(day: date) -> int:
    return solar_hijri(day)[0]


def format_solar_hijri(day: date) -> str:
    """`۵ آذر ۱۴۰۵`: the date as a Persian reader expects it on a diploma."""
    year, month, dom = solar_hijri(day)
    return f"{persian_digits(str(dom))} {PERSIAN_MONTHS[month - 1]} {persian_digits(str(year))}"


def format_solar_hijri_numeric(day: date) -> str:
    year, month, dom = solar_hijri(day)
    return f"{year:04d}/{month:02d}/{dom:02d}"


def format_gregorian(day: date) -> str:
    """`26 November 2026`."""
    return f"{day.day} {ENGLISH_MONTHS[day.month - 1]} {day.year}"


def format_gregorian_fa(day: date) -> str:
    """`۲۶ نوامبر ۲۰۲۶`: the Gregorian date for a Persian reader, beside the Solar Hijri."""
    month = GREGORIAN_MONTHS_FA[day.month - 1]
    return f"{persian_digits(str(day.day))} {month} {persian_digits(str(day.year))}"
