"""Which column is which: header spellings, and reading a header row into a layout.

Headers are matched after normalisation (`header_key`): the core's `text.normalize`
(NFC, Persian letters for Arabic ones, tidy spacing), case folding, and spaces, ZWNJ,
underscores, hyphens and parentheses all made one space; so «نام‌لاتین», "Name EN" and
"name-en" all find name_en.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from ..core.model import REQUEST_FIELDS
from ..core.text import normalize
from .cells import cell_text
from .model import MAX_COLUMNS, RosterProblem

# The template is chosen for the whole batch, never per row.
ROSTER_FIELDS: tuple[str, ...] = tuple(f for f in REQUEST_FIELDS if f != "template")

# The header each field is shown with in messages and blank rosters.
PREFERRED_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "name": "نام و نام خانوادگی",
        "name_en": "نام لاتین",
        "award": "عنوان دیپلم",
        "award_en": "عنوان انگلیسی",
        "citation": "به پاس",
        "field": "رشته",
        "issued_on": "تاریخ صدور",
        "email": "ایمیل",
        "national_id": "کد ملی",
        "external_id": "شناسه",
        "co_issuers": "صادرکنندگان همکار",
    }
)

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "name": (
        "نام",
        "نام و نام خانوادگی",
        "نام کامل",
        "نام فارسی",
        "نام و نام خانوادگی فارسی",
        "full name",
        "persian name",
    ),
    "name_en": (
        "نام لاتین",
        "نام انگلیسی",
        "نام و نام خانوادگی لاتین",
        "نام و نام خانوادگی انگلیسی",
        "english name",
        "latin name",
        "name english",
        "full name en",
    ),
    "award": ("عنوان", "عنوان دیپلم", "award title", "diploma title"),
    "award_en": (
        "عنوان انگلیسی",
        "عنوان لاتین",
        "عنوان دیپلم انگلیسی",
        "english award",
        "award english",
    ),
    "citation": ("به پاس", "شرح", "دستاورد", "achievement"),
    "field": ("رشته", "حوزه", "زمینه", "رشته تحصیلی", "field of study", "major"),
    "issued_on": (
        "تاریخ",
        "تاریخ صدور",
        "تاریخ اعطا",
        "date",
        "issue date",
        "date issued",
        "award date",
    ),
    "email": ("ایمیل", "ای میل", "پست الکترونیک", "پست الکترونیکی", "رایانامه", "e-mail", "mail"),
    "national_id": ("کد ملی", "شماره ملی", "national code"),
    "external_id": (
        "شناسه",
        "کد",
        "شماره دانشجویی",
        "id",
        "code",
        "student id",
        "student number",
    ),
    "co_issuers": (
        "صادرکنندگان همکار",
        "صادرکننده همکار",
        "نهاد همکار",
        "coissuers",
    ),
}

HEADER_ALIASES: Mapping[str, str] = MappingProxyType(
    {spelling: f for f in ROSTER_FIELDS for spelling in (f, *_SPELLINGS.get(f, ()))}
)

# Columns a roster may carry for people's convenience; any header starting with # too.
IGNORED_HEADERS: frozenset[str] = frozenset(
    {"ردیف", "شماره ردیف", "row", "row no", "#", "no", "no.", "number"}
)

# Common headers that are refused with a specific explanation rather than the generic one.
_HINTS = {
    "نام خانوادگی": "a diploma prints the full name, so put first and last name together "
    "in one column headed «نام و نام خانوادگی»",
    "surname": "a diploma prints the full name, so put first and last name together "
    "in one column headed «نام و نام خانوادگی»",
    "last name": "a diploma prints the full name, so put first and last name together "
    "in one column headed «نام و نام خانوادگی»",
    "family name": "a diploma prints the full name, so put first and last name together "
    "in one column headed «نام و نام خانوادگی»",
}

_SEPARATORS = re.compile(r"[\s_\-\u200c()]+")


def header_key(header: str) -> str:
    """The form in which headers are compared: normalised, case-folded, one kind of space."""
    text = unicodedata.normalize("NFC", header.replace("\ufeff", "").strip())
    text = _SEPARATORS.sub(" ", normalize(text).casefold())
    return text.strip(" :*")


_FIELD_BY_KEY = {header_key(spelling): f for spelling, f in HEADER_ALIASES.items()}
_IGNORED_KEYS = frozenset(header_key(h) for h in IGNORED_HEADERS)
_HINT_BY_KEY = {header_key(h): hint for h, hint in _HINTS.items()}


def field_for_header(header: str) -> str | None:
    """The field a header names, or None when it names none (unknown, ignored or blank)."""
    return _FIELD_BY_KEY.get(header_key(header))


def is_ignored_header(header: str) -> bool:
    key = header_key(header)
    return key in _IGNORED_KEYS or key.startswith("#")


def _known_columns() -> str:
    return ", ".join(f"«{PREFERRED_HEADERS[f]}» ({f})" for f in ROSTER_FIELDS)


@dataclass(frozen=True)
class HeaderLayout:
    """What a header row says about the columns below it."""

    row: int
    cells: tuple[str, ...]
    """The header cells as written (surrounding whitespace removed)."""
    columns: tuple[tuple[int, str, str], ...]
    """(index, header, field) of each recognised column; the first one for each field."""
    width: int
    """Number of cells up to the last non-blank header."""
    unused: frozenset[int]
    """Indexes of columns with a header that is ignored, unknown or a duplicate."""
    problems: tuple[RosterProblem, ...]
    readable: bool
    """False when the rows below cannot be read at all (no header, far too wide)."""


def written_header(cells: Sequence[object]) -> tuple[str, ...]:
    """The header cells as written, stripped, up to the last non-blank one."""
    written = [cell_text(cell).replace("\ufeff", "").strip() for cell in cells]
    while written and not written[-1]:
        written.pop()
    return tuple(written)


def read_header(row: int, cells: Sequence[object]) -> HeaderLayout:
    """Match each cell of the header row at spreadsheet row `row` to a field."""
    written = written_header(cells)
    width = len(written)
    if width > MAX_COLUMNS:
        problem = RosterProblem(
            row,
            "",
            "",
            f"The header row has {width} columns; a roster has at most {MAX_COLUMNS}.",
        )
        return HeaderLayout(row, written, (), width, frozenset(), (problem,), readable=False)

    columns: list[tuple[int, str, str]] = []
    first_header: dict[str, str] = {}
    unused: set[int] = set()
    problems: list[tuple[int, RosterProblem]] = []
    unknown: list[tuple[int, str]] = []
    for index, header in enumerate(written):
        if not header:
            continue
        field = field_for_header(header)
        if field is None:
            unused.add(index)
            if not is_ignored_header(header):
                unknown.append((index, header))
        elif field in first_header:
            unused.add(index)
            message = (
                f"«{header}» and «{first_header[field]}» both give {field}; keep one of "
                "them, or start the other's header with # to ignore it."
            )
            problems.append((index, RosterProblem(row, header, field, message)))
        else:
            first_header[field] = header
            columns.append((index, header, field))

    if not columns and len(unknown) == len([h for h in written if h]):
        problem = RosterProblem(
            row,
            "",
            "",
            f"Row {row} should name the columns, but none of its cells is a known column "
            f"header; put the headers (for example «{PREFERRED_HEADERS['name']}», "
            f"«{PREFERRED_HEADERS['email']}», «{PREFERRED_HEADERS['national_id']}») "
            "in the first row.",
        )
        return HeaderLayout(row, written, (), width, frozenset(), (problem,), readable=False)

    for index, header in unknown:
        hint = _HINT_BY_KEY.get(header_key(header))
        if hint:
            message = f"«{header}» is not used: {hint}, or start this header with # to ignore it."
        else:
            message = (
                f"«{header}» is not a roster column. The known columns are {_known_columns()}. "
                "To keep this column in the file without using it, start its header with #."
            )
        problems.append((index, RosterProblem(row, header, "", message)))
    if "name" not in first_header:
        message = (
            f"There is no name column; add a column headed «{PREFERRED_HEADERS['name']}» "
            "with each recipient's full name in Persian."
        )
        problems.append((width, RosterProblem(row, "", "name", message)))
    problems.sort(key=lambda pair: pair[0])
    return HeaderLayout(
        row,
        written,
        tuple(columns),
        width,
        frozenset(unused),
        tuple(problem for _, problem in problems),
        readable=True,
    )
